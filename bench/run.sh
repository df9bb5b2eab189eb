#!/usr/bin/env bash
# The CPU benchmark suite in one command: configurations (a) mean_pool + none,
# (b) conv1d + attention_reconstruction, (c) Transformer-XL, each with training and
# evaluation tokens/s, FLOPs per token, the matmul rate of the same process and the ratio.
# Runs it as the machine detects its BLAS core, and again with OPENBLAS_CORETYPE set to the
# value given (default SkylakeX) when the CPU has AVX-512, for comparison; the variable is
# set for that command only. Extra arguments go to ctlab_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/ctlab_bench ] || bash scripts/build.sh
echo "== $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "== BLAS core as detected: build/bin/ctlab_bench --config suite --threads ${CTLAB_BENCH_THREADS:-2} $*"
build/bin/ctlab_bench --config suite --threads "${CTLAB_BENCH_THREADS:-2}" "$@"
if grep -q avx512f /proc/cpuinfo; then
  core=${CTLAB_BENCH_CORETYPE:-SkylakeX}
  echo
  echo "== OPENBLAS_CORETYPE=$core build/bin/ctlab_bench --config suite --threads ${CTLAB_BENCH_THREADS:-2} $*"
  OPENBLAS_CORETYPE=$core build/bin/ctlab_bench --config suite --threads "${CTLAB_BENCH_THREADS:-2}" "$@"
fi
