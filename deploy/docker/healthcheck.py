#!/usr/bin/env python3
"""The image's HEALTHCHECK: GET the running service's `/healthz` on loopback; exit 0 on a 2xx.

The URL is, in order: `$KIRO_HEALTH_URL`, the one the entrypoint wrote to `$KIRO_HEALTH_FILE`
(default `/tmp/kiro2api.health`) when it started the service, or the gateway's
`http://127.0.0.1:$PORT/healthz`. Standard library only (the slim image has no curl).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def health_url() -> str:
    url = os.environ.get("KIRO_HEALTH_URL", "").strip()
    if url:
        return url
    try:
        with open(os.environ.get("KIRO_HEALTH_FILE", "/tmp/kiro2api.health"), encoding="utf-8") as f:
            url = f.read().strip()
    except OSError:
        url = ""
    return url or f"http://127.0.0.1:{os.environ.get('PORT', '8080')}/healthz"


def main() -> int:
    url = health_url()
    try:
        with urllib.request.urlopen(url, timeout=2.5) as resp:  # noqa: S310 - loopback only
            ok = 200 <= resp.status < 300
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"healthcheck: {url}: {exc}\n")
        return 1
    if not ok:
        sys.stderr.write(f"healthcheck: {url}: status {resp.status}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
