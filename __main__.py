"""echo-service: settings -> the chosen target -> exports. See README.md."""

import pulumi

from infra.program import build
from infra.settings import load_settings

for key, value in build(load_settings()).items():
    pulumi.export(key, value)
