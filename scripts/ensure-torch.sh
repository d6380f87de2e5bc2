#!/usr/bin/env bash
# Installs what the torch export tests (test/torch/) need on a Debian machine: Debian's own
# PyTorch (python3-torch, which brings torchrun and the Gloo backend) and numpy for
# /usr/bin/python3, and iproute2's `ip` for the two-node test's network namespaces. Only the
# system's configured Debian archive is used; no repository address is written anywhere.
set -euo pipefail

have_torch() { [ -x /usr/bin/torchrun ] && /usr/bin/python3 -c 'import torch, numpy, torch.distributed' >/dev/null 2>&1; }
have_ip() { command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]; }

if have_torch && have_ip; then
  echo "ensure-torch: torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null) and ip present"
  exit 0
fi
if [ "$(uname -s)" != "Linux" ] || [ ! -f /etc/debian_version ]; then
  echo "ensure-torch: not a Debian machine; install PyTorch (with torchrun) and numpy for /usr/bin/python3, and iproute2, yourself" >&2
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure-torch: need root (or sudo) to install python3-torch" >&2; exit 1
  fi
fi

packages=()
have_torch || packages+=(python3-torch python3-numpy)
have_ip || packages+=(iproute2)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "ensure-torch: installed ${packages[*]}"
