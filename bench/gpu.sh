#!/usr/bin/env bash
# Everything a GPU machine should prove, in one call that fits a short loan (target: under
# 8 minutes on an H100/H200 with 16 cores): builds ctlab against that machine's own PyTorch
# (torch.utils.cmake_prefix_path) with CUDA, NCCL, Gloo and HDF5 on, using the Debian
# packages that bench/fetch_gpu_deps.sh put in .gpu-deps/ (unpacked into a private prefix,
# never into /); then the gpu suite, the unit suite, the paper-scale bf16 benchmark, and a
# short CUDA grid with its report. Ends with one summary (also $OUT/summary.txt).
#   bench/gpu.sh                        on the GPU machine
#   CTLAB_GPU_PYTHON=~/.cache/ctlab/torch-2.11.0/bin/python bench/gpu.sh
#                                       a rehearsal on a CPU machine: the same steps, the
#                                       gpu tests skip, the benchmark and grid run on CPU
# Logs go to $OUT (or ./gpu-out). CTLAB_TEST_TIMEOUT (seconds, default 600) bounds each test, so
# that one hung test cannot use up a short session on a borrowed GPU machine.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
t0=$(date +%s)
: > "$out/steps.txt"
log() { echo "== [$(( $(date +%s) - t0 )) s] $*" | tee -a "$out/steps.txt"; }
py=${CTLAB_GPU_PYTHON:-python3}
build=${CTLAB_BUILD_DIR:-build-gpu}

# --- 1. private prefix of Debian packages ---------------------------------------------------
prefix=/tmp/ctlab-gpu-deps
mkdir -p "$prefix"
ls .gpu-deps/*.deb > /dev/null 2>&1 || { echo "no .gpu-deps/*.deb: run bench/fetch_gpu_deps.sh on a Debian 12 machine first" >&2; exit 2; }
for deb in .gpu-deps/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
lib="$prefix/usr/lib/x86_64-linux-gnu"
if "$py" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  device=cuda
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
else
  device=cpu
  echo "no CUDA device: a rehearsal (gpu tests skip; benchmark and grid on CPU)" > "$out/gpu.txt"
fi
log "torch $("$py" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null); $(cat "$out/gpu.txt")"

# --- 2. build (every target) ------------------------------------------------------------------
start=$(date +%s)
CTLAB_BUILD_DIR=$build CTLAB_BUILD_JOBS=$(nproc) \
  CTLAB_EXTRA_PREFIX_PATH="$prefix/usr;$lib/cmake" \
  bash scripts/build.sh --torch "$py" -DBoost_NO_SYSTEM_PATHS=ON -DBOOST_ROOT="$prefix/usr" \
  -DHDF5_ROOT="$prefix/usr" -DHDF5_C_COMPILER_EXECUTABLE=/nonexistent \
  -DHDF5_C_INCLUDE_DIR="$prefix/usr/include/hdf5/serial" \
  -DHDF5_hdf5_LIBRARY_RELEASE="$lib/hdf5/serial/libhdf5.so" \
  -DCTLAB_GLOO_INCLUDE="$prefix/usr/include" > "$out/build.log" 2>&1
rc=$?
build_s=$(( $(date +%s) - start ))
if [ $rc -ne 0 ]; then
  log "build FAILED after $build_s s"; grep -E 'error|Error' "$out/build.log" | head -30; exit 1
fi
log "built in $build_s s ($(nproc) cores)"
# HDF5's shared library and what it loads come from the prefix; only ctlab's processes see it.
export LD_LIBRARY_PATH="$lib/hdf5/serial:$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
missing=$(ldd "$build/bin/ctlab" | grep 'not found' || true)
[ -n "$missing" ] && log "missing libraries: $missing"
"$build/bin/ctlab" --version | tee "$out/version.txt"

# --- 3. tests -----------------------------------------------------------------------------------
suite() {  # label, jobs -> "N% tests passed, F failed out of T; S skipped; failed: names"
  (cd "$build" && ctest -L "$1" -j"$2" --output-on-failure --timeout "${CTLAB_TEST_TIMEOUT:-600}") > "$out/tests_$1.log" 2>&1
  local summary failed skipped
  summary=$(grep -E 'tests passed|tests failed' "$out/tests_$1.log" | tail -1)
  # ctest's closing lists: "The following tests did not run:" (skipped) and "FAILED:".
  skipped=$(grep -cE '^\s+[0-9]+ - .*\(Skipped\)$' "$out/tests_$1.log")
  failed=$(sed -n '/The following tests FAILED:/,$p' "$out/tests_$1.log" | grep -E '^\s+[0-9]+ - ' |
    awk '{print $3}' | tr '\n' ' ')
  echo "${summary:-no ctest summary (see tests_$1.log)}; $skipped skipped${failed:+; failed: $failed}"
}
log "gpu suite"
gpu_result=$(suite gpu 1)
log "gpu suite: $gpu_result"
log "unit suite"
unit_result=$(suite unit 8)
log "unit suite: $unit_result"

# --- 4. paper-scale bf16 benchmark ----------------------------------------------------------------
if [ $device = cuda ]; then
  bench_args=(--config gpu-paper --device cuda --precision bf16 --warmup 3 --steps 10)
else
  bench_args=(--config cpu-small --device cpu --steps 3 --set checks=deferred)
fi
log "bench: ctlab_bench ${bench_args[*]}"
"$build/bin/ctlab_bench" "${bench_args[@]}" > "$out/bench.log" 2>&1
log "bench exit $?"

# --- 5. a short grid on the device, and its report ------------------------------------------------
results=/tmp/ctlab-gpu-results
rm -rf "$results"
grid_args=(--results "$results")
[ $device = cuda ] && grid_args+=(--devices cuda:0) || grid_args+=(--jobs 1 --set max_steps=20 --set eval_segments=4 --set batch_size=4 --set eval_batch_size=4 --set precision=fp32)
log "grid: ctlab grid run bench/gpu-grid.ini ${grid_args[*]}"
"$build/bin/ctlab" grid run bench/gpu-grid.ini "${grid_args[@]}" > "$out/grid.log" 2>&1
log "grid exit $?"
"$build/bin/ctlab" report gpu-smoke --results "$results" > "$out/report.log" 2>&1
log "report exit $?"
h5=$(find "$results/runs" -name analysis.h5 2>/dev/null | sort)
[ -f "$results/reports/gpu-smoke/report.md" ] && cp "$results/reports/gpu-smoke/report.md" "$out/report.md"

# --- summary ----------------------------------------------------------------------------------
{
  echo "ctlab GPU check, $(date -u +%Y-%m-%dT%H:%MZ), $(cat "$out/gpu.txt")"
  sed 's/^/  /' "$out/version.txt"
  echo "build         $build_s s on $(nproc) cores"
  echo "gpu suite     $gpu_result"
  echo "unit suite    $unit_result"
  grep -E '^(matmul|train|eval|host|peak)' "$out/bench.log" | sed 's/^/bench         /'
  echo "grid          $(grep -cE 'completed' "$out/grid.log") 'completed' lines; analysis.h5:"
  for f in $h5; do echo "              $f ($(stat -c %s "$f") bytes)"; done
  echo "total         $(( $(date +%s) - t0 )) s"
} | tee "$out/summary.txt"
