#!/usr/bin/env bash
# Installs every Debian 12 package ctlab needs to build, test and run. Idempotent: when
# everything is present it only checks and exits. Works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev                       # LibTorch 1.13 (CPU)
  libboost-dev libboost-program-options-dev libboost-filesystem-dev  # Boost.DLL is header-only
  libhdf5-dev libsqlite3-dev libgtest-dev
  libopenblas0-pthread libopenblas-dev   # optimised BLAS: the reference BLAS is ~10x slower
  python3.11-doc                     # the bundled default corpus (Python docs sources)
  python3-matplotlib python3-h5py python3-numpy  # figures and HDF5 checks from Python
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "setup: missing packages (${missing[*]}) and not root; run as root or install sudo" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
