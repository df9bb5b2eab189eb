#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite except the gpu label
# (GPU tests skip themselves without CUDA; run them with `ctest -L gpu` on a GPU box).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest -LE gpu --output-on-failure -j"${CTLAB_TEST_JOBS:-2}"
