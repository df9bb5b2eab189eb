#!/usr/bin/env bash
# CPU speed of the two LibTorch builds, measured alternately in one session so that the
# shared machine's drift hits both alike: ctlab_bench --config suite from build/ (Debian's
# LibTorch 1.13 with OpenBLAS) and build-wheel/ (the PyPI wheel's LibTorch 2.11 with its
# own CPU BLAS, MKL or oneDNN), ROUNDS times each (default 2), then the training and
# evaluation tokens/s of each configuration as the ratio 2.11 / 1.13.
#   bench/torch_versions.sh [ROUNDS] [ctlab_bench options]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
shift || true
for b in build build-wheel; do
  [ -x "$b/bin/ctlab_bench" ] || { echo "$b/bin/ctlab_bench missing: scripts/build.sh${b#build}" >&2; exit 2; }
done
out=$(mktemp -d)
echo "== $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n), $(nproc) cores:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for r in $(seq 1 "$rounds"); do
  for b in build build-wheel; do
    echo "== round $r: $b/bin/ctlab_bench --config suite --threads ${CTLAB_BENCH_THREADS:-2} $*"
    "$b/bin/ctlab_bench" --config suite --threads "${CTLAB_BENCH_THREADS:-2}" "$@" | tee "$out/$b.$r"
  done
done
# The summary table's rows: config, train tok/s, of matmul, eval tok/s, ...
python3 - "$out" "$rounds" <<'PY'
import os, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def rows(path):
    r = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 7 and f[0].startswith("cpu-") and f[1].replace(".", "").isdigit():
            r[f[0]] = (float(f[1]), float(f[3]))
    return r
runs = {b: [rows(os.path.join(out, f"{b}.{i}")) for i in range(1, rounds + 1)] for b in ("build", "build-wheel")}
print("\nconfig            train tok/s 1.13   2.11   ratio    eval tok/s 1.13   2.11   ratio")
for name in runs["build"][0]:
    mean = lambda b, k: sum(r[name][k] for r in runs[b]) / rounds
    t0, t1, e0, e1 = mean("build", 0), mean("build-wheel", 0), mean("build", 1), mean("build-wheel", 1)
    print(f"{name:16s} {t0:12.0f} {t1:8.0f} {t1 / t0:7.2f}x {e0:15.0f} {e1:8.0f} {e1 / e0:7.2f}x")
PY
