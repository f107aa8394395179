"""``python -m app``: serve the endpoint with granian (see ``app.server`` for the settings)."""

import sys

from app.server import main

if __name__ == "__main__":
    sys.exit(main())
