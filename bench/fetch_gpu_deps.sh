#!/usr/bin/env bash
# Run on a Debian 12 machine with network access: downloads the Debian packages that a GPU
# box with PyTorch (but no Boost, GoogleTest or nlohmann-json development files, and no
# network) needs to build ctlab, into .gpu-deps/ at the repository root. bench/gpu.sh unpacks them into a
# private prefix there (never into /).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0 \
  libboost-filesystem1.74-dev libboost-filesystem1.74.0 libboost-system1.74-dev libboost-system1.74.0 \
  libgtest-dev libsqlite3-dev libsqlite3-0 nlohmann-json3-dev
ls -la
