#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite except the gpu label
# (GPU tests skip themselves without CUDA; run them with `ctest -L gpu` on a GPU box).
#   scripts/test.sh [--torch debian|wheel|PYTHON|LIBTORCH_DIR]   (see scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$(date +%s)
bash scripts/build.sh "$@"
echo "test.sh: built in $(( $(date +%s) - start )) s"
source scripts/torch_env.sh "$@"
cd "$build_dir"
bin/ctlab --version
start=$(date +%s)
ctest -LE gpu --output-on-failure -j"${CTLAB_TEST_JOBS:-2}"
echo "test.sh: tests ran in $(( $(date +%s) - start )) s"
