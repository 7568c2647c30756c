#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (Playwright drives it with executable_path;
# `playwright install` is never used: it downloads its own browser build). Idempotent: does
# nothing when /usr/bin/chromium already exists. Needs root (apt-get).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install_browser.sh: $CHROMIUM is missing and this is not root; install Debian's chromium" >&2
    exit 1
  fi
else
  SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

if [[ ! -x "$CHROMIUM" ]]; then
  echo "install_browser.sh: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
