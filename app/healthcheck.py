"""``python -m app.healthcheck``: exit 0 if the local server answers ``/healthz``, else 1.

The image's HEALTHCHECK runs it (slim images have no curl); an ECS container health check can run
the same command. It asks the server the environment points at: ``PORT``, and ``HOST`` unless
that is a wildcard address.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    """Ask ``/healthz`` once, with a 2-second deadline, and return the exit status."""
    host = os.environ.get("HOST", "").strip()
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{os.environ.get('PORT', '').strip() or '8080'}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as e:  # URLError, HTTPError, timeouts and refused connections
        print(f"healthcheck: {url}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
