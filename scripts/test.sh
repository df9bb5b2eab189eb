#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite except the gpu label
# (GPU tests skip themselves without CUDA; run them with `ctest -L gpu` on a GPU box).
#   scripts/test.sh [--torch auto|debian|wheel|PYTHON|LIBTORCH_DIR]   (see scripts/build.sh;
#   by default the build that trains fastest on this machine)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$(date +%s)
bash scripts/build.sh "$@"
echo "test.sh: built in $(( $(date +%s) - start )) s"
source scripts/torch_env.sh "$@"
# The TensorBoard tests read event files back with the real `tensorboard` package, from a
# test-only virtual environment (about 180 MB from PyPI); where it cannot be installed,
# those tests skip and say why.
tb_venv=${CTLAB_TENSORBOARD_VENV:-$HOME/.cache/ctlab/tensorboard}
if ! "$tb_venv/bin/python" -c "import tensorboard" 2>/dev/null; then
  echo "test.sh: installing tensorboard from PyPI into $tb_venv (test only)"
  if ! python3 -m venv "$tb_venv" >/dev/null 2>&1; then
    ${SUDO:-} apt-get install -y -q --no-install-recommends python3-venv >/dev/null 2>&1 || true
    python3 -m venv "$tb_venv" >/dev/null 2>&1 || true
  fi
  "$tb_venv/bin/pip" install -q --disable-pip-version-check tensorboard >&2 ||
    echo "test.sh: could not install tensorboard into $tb_venv; the TensorBoard tests will skip" >&2
fi
export CTLAB_TEST_TENSORBOARD_PYTHON=$tb_venv/bin/python
cd "$build_dir"
bin/ctlab --version
start=$(date +%s)
ctest -LE gpu --output-on-failure -j"${CTLAB_TEST_JOBS:-2}"
echo "test.sh: tests ran in $(( $(date +%s) - start )) s"
