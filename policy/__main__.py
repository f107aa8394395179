"""echo-service's policy pack: the rules in rules.py, all mandatory.

Run by the CLI (`pulumi preview --policy-pack policy/ --policy-pack-config policy-config.json`);
the tests import rules.py directly and never start this server.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(
    name="echo-service",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
