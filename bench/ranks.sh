#!/usr/bin/env bash
# Data-parallel scaling on this machine: the cpu-small-conv shape (ctlab_bench's (b):
# d_model 256, 4 layers, seq/mem/cmem 128, conv1d + attention_reconstruction, batch 8)
# trained by `ctlab train` as ranks x threads, e.g. 1x1, 1x2 and 2x1 on 2 cores. Prints
# tokens/s (mean of the logged windows after the first), the speedup over 1x1 and the
# scaling efficiency (speedup / cores used) in one table.
# Usage: bench/ranks.sh [RxT ...]   (default: 1x1 1x2 2x1; CTLAB=path to ctlab, STEPS=30)
set -euo pipefail
cd "$(dirname "$0")/.."
ctlab=${CTLAB:-build/bin/ctlab}
steps=${STEPS:-30}
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(1x1 1x2 2x1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/run.ini" <<INI
experiment = bench-ranks
[model]
d_model = 256
n_layer = 4
n_head = 4
d_ff = 1024
seq_len = 128
mem_len = 128
cmem_len = 128
cmem_rate = 4
dropout = 0.1
compression = conv1d
compression_loss = attention_reconstruction
[train]
batch_size = 8
max_steps = $steps
log_every = 5
checkpoint_every = 1000
[eval]
eval_segments = 1
buckets_sequences = 0
INI
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  host: $(hostname)  cpus: $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-8s %-8s %12s %9s %11s\n' "ranks" "threads" "tokens/s" "speedup" "efficiency"
base=""
for shape in "${shapes[@]}"; do
  r=${shape%x*}
  t=${shape#*x}
  root="$tmp/r-$shape"
  args=(train "$tmp/run.ini" --results "$root" --set "threads=$t")
  [ "$r" -gt 1 ] && args+=(--nproc "$r")
  "$ctlab" "${args[@]}" > "$tmp/out-$shape.txt" 2>&1 || { cat "$tmp/out-$shape.txt"; exit 1; }
  tps=$(sqlite3 "$root/ctlab.sqlite" "select avg(value) from metrics where key='train/tokens_per_s' and step > 5")
  [ -n "$base" ] || base=$tps
  python3 - "$r" "$t" "$tps" "$base" <<'PY'
import sys
r, t, tps, base = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
speedup = tps / base
print(f"{r:<8} {t:<8} {tps:12.0f} {speedup:8.2f}x {speedup / (r * t):10.0%}")
PY
done
echo "config: cpu-small-conv shape, batch 8 (split over the ranks), $steps steps, ctlab $("$ctlab" --version 2>/dev/null | head -1)"
