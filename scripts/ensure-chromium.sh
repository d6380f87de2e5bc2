#!/usr/bin/env bash
# Installs what the browser test (test/browser/) needs on a Debian machine: Debian's own
# chromium package at /usr/bin/chromium. Playwright drives it through playwright-core;
# no browser build is ever downloaded. WebGPU in it runs on the llvmpipe Vulkan driver
# that scripts/ensure-vulkan.sh installs, so run that first.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "ensure-chromium: chromium present ($(dpkg-query -W -f='${Version}' chromium 2>/dev/null || echo unknown version))"
  exit 0
fi
if [ "$(uname -s)" != "Linux" ] || [ ! -f /etc/debian_version ]; then
  echo "ensure-chromium: not a Debian machine; install chromium at /usr/bin/chromium yourself (the browser test skips without it, and fails under CI=true)" >&2
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure-chromium: need root (or sudo) to install chromium" >&2; exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
echo "ensure-chromium: installed chromium $(dpkg-query -W -f='${Version}' chromium)"
