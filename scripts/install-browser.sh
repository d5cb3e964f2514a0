#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/ui/test_browser.py) when it is missing.
# Idempotent: returns at once when /usr/bin/chromium is there. Python Playwright drives it with
# executable_path, so `playwright install` (its own download) is never needed.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-browser: no apt-get here; install Chromium at /usr/bin/chromium to run the browser tests" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-browser: run as root (or with sudo): apt-get install -y chromium" >&2
    exit 1
  fi
fi
echo "install-browser: installing Debian's chromium for the browser tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version >&2
