#!/usr/bin/env bash
# The browser tests' system parts: Debian's Chromium and the axe-core npm package. Idempotent.
# Playwright never downloads a browser here: the tests drive /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")"
AXE_VERSION=4.14.1

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian package) for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing; install Debian's chromium package to run the browser tests"
  fi
fi

# Without its translations Chromium can only speak en-US, and draws date fields month first.
if [ -x /usr/bin/chromium ] && [ ! -f /usr/lib/chromium/locales/en-GB.pak ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium-l10n (Debian package) so date fields read day first"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-l10n >/dev/null
  else
    echo "note: install Debian's chromium-l10n package so the browser tests' date fields read day first"
  fi
fi

installed=""
if [ -f node_modules/axe-core/package.json ]; then
  installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' node_modules/axe-core/package.json | head -1)"
fi
if [ "$installed" != "$AXE_VERSION" ] || [ ! -f node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "installing axe-core@$AXE_VERSION into tests/browser/node_modules"
    npm install --prefix . --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
      "axe-core@$AXE_VERSION" >/dev/null
  else
    echo "note: npm is missing; install it to run the accessibility checks"
  fi
fi
