#!/usr/bin/env bash
# Installs Debian's dataset-fashion-mnist (the Fashion-MNIST IDX files under
# /usr/share/datasets/fashion-mnist) when it is missing: npm run bench:fashion trains on it.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; then
  echo "ensure-fashion-mnist: $dir present"
  exit 0
fi
if [ "$(uname -s)" != "Linux" ] || [ ! -f /etc/debian_version ]; then
  echo "ensure-fashion-mnist: not a Debian machine; put the four Fashion-MNIST .gz files in $dir yourself" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure-fashion-mnist: need root (or sudo) to install dataset-fashion-mnist" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
echo "ensure-fashion-mnist: installed dataset-fashion-mnist $(dpkg-query -W -f='${Version}' dataset-fashion-mnist)"
