#!/usr/bin/env bash
# Builds ctlab against the PyTorch/LibTorch found on a GPU machine (torch.utils.cmake_prefix_path)
# with the Debian packages from bench/fetch_gpu_deps.sh unpacked into a private prefix, runs
# the gpu and unit test suites, then the model benchmark on the GPU. HDF5 analyses are left
# out of this build (CTLAB_WITH_HDF5=OFF): a GPU box rarely has HDF5 development files.
# Usage: bench/gpu.sh [bench args...]   Logs go to $OUT (or ./gpu-out) when set.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
log() { echo "== $*" | tee -a "$out/summary.txt"; }

prefix=/tmp/ctlab-gpu-deps
mkdir -p "$prefix"
for deb in .gpu-deps/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
log "torch $(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)') at $torch_prefix"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/summary.txt"

cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr;$prefix/usr/lib/x86_64-linux-gnu/cmake" \
  -DBoost_NO_SYSTEM_PATHS=ON -DCTLAB_WITH_HDF5=OFF > "$out/configure.log" 2>&1 || { log "configure FAILED"; tail -40 "$out/configure.log"; exit 1; }
log "configured"
start=$(date +%s)
cmake --build build-gpu -j"$(nproc)" --target ctlab ctlab_bench ctlab_unit_tests ctlab_gpu_tests \
  ctlab_builtin_plugins > "$out/build.log" 2>&1 || { log "build FAILED"; grep -E 'error' "$out/build.log" | head -30; exit 1; }
log "built in $(( $(date +%s) - start )) s"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
build-gpu/bin/ctlab plugins list | tee -a "$out/summary.txt"
build-gpu/bin/ctlab_gpu_tests > "$out/gpu_tests.log" 2>&1; log "gpu tests exit $?"; tail -5 "$out/gpu_tests.log" | tee -a "$out/summary.txt"
build-gpu/bin/ctlab_unit_tests > "$out/unit_tests.log" 2>&1
rc=$?; log "unit tests exit $rc"; tail -3 "$out/unit_tests.log" | tee -a "$out/summary.txt"
if [ $rc -gt 128 ] && command -v cuda-gdb >/dev/null; then
  failing=$(grep '^\[ RUN' "$out/unit_tests.log" | tail -1 | awk '{print $NF}')
  log "backtrace of $failing"
  cuda-gdb -batch -ex run -ex bt --args build-gpu/bin/ctlab_unit_tests --gtest_filter="$failing" 2>&1 | tail -30 | tee -a "$out/summary.txt"
fi
log "bf16 training smoke run (synthetic copy task)"
build-gpu/bin/ctlab train experiments/default/run.ini --results /tmp/ctlab-gpu-results --set device=cuda \
  --set precision=bf16 --set dataset=synthetic --set max_steps=300 --set eval_every=0 --set log_every=100 2>&1 | tail -6 | tee -a "$out/summary.txt"
log "bench"
build-gpu/bin/ctlab_bench "$@" 2>&1 | tee -a "$out/summary.txt"
