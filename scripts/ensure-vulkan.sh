#!/usr/bin/env bash
# Installs what the WebGPU tests need on a Debian bookworm machine: Mesa's llvmpipe
# Vulkan driver from bookworm-backports (the stock bookworm driver is too old for Dawn).
# The backports suite is added to the Suites: line of the system's existing deb822
# source entry, so no repository address is written anywhere.
set -euo pipefail

have_driver() {
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || return 1
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  # bookworm ships 22.x; Dawn needs a newer llvmpipe (backports carries 24+/25).
  case "$v" in 2[4-9].*|3*) return 0 ;; *) return 1 ;; esac
}

if have_driver; then
  echo "ensure-vulkan: llvmpipe Vulkan driver present ($(dpkg-query -W -f='${Version}' mesa-vulkan-drivers))"
  exit 0
fi
if [ "$(uname -s)" != "Linux" ] || [ ! -f /etc/debian_version ]; then
  echo "ensure-vulkan: not a Debian machine; install a Vulkan driver (or use a real GPU) yourself" >&2
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure-vulkan: need root (or sudo) to install mesa-vulkan-drivers" >&2; exit 1
  fi
fi

src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ] && ! grep -q 'bookworm-backports' "$src"; then
  # Add the suite to the first entry whose Suites: line names plain bookworm.
  $SUDO sed -i '0,/^Suites: bookworm\( \|$\)/s//Suites: bookworm bookworm-backports\1/' "$src"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "ensure-vulkan: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
