"""`python -m infra.estimate STACK`: see `infra.estimate`."""

import sys

from infra.estimate.cli import main

if __name__ == "__main__":
    sys.exit(main())
