"""``python -m app.healthcheck``: exit 0 if the local server is ready (``/readyz``), else 1.

The image's HEALTHCHECK runs it (slim images have no curl), and so do the local stack's and the
ECS task's container health checks: a container whose model failed to load, or is still
loading, is not healthy. It asks the server the environment points at: ``PORT``, and ``HOST``
unless that is a wildcard address. ``python -m app.healthcheck /healthz`` asks liveness instead.
"""

from __future__ import annotations

import os
import sys
import urllib.request

READINESS_PATH = "/readyz"


def main(argv: list[str] | None = None) -> int:
    """Ask the path (``/readyz`` by default) once, with a 2-second deadline; return the status."""
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else READINESS_PATH
    if not path.startswith("/"):
        print(f"healthcheck: {path!r} is not a path (say /readyz or /healthz)", file=sys.stderr)
        return 2
    host = os.environ.get("HOST", "").strip()
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{os.environ.get('PORT', '').strip() or '8080'}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as e:  # URLError, HTTPError, timeouts and refused connections
        print(f"healthcheck: {url}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
