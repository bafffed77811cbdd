#!/bin/sh
# Make sure the system Chromium the browser tests drive (/usr/bin/chromium) is installed.
# Installs the Debian package when it is missing and we are root; otherwise does nothing and
# exits 0 (tests/browser then skips itself). Never downloads a Playwright-managed browser.
set -eu

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure_chromium: /usr/bin/chromium is missing and we are not root; browser tests will be skipped" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: no apt-get; browser tests will be skipped" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }; then
  echo "ensure_chromium: could not install chromium; browser tests will be skipped" >&2
fi
exit 0
