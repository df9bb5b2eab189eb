#!/usr/bin/env bash
# ctlab next to the peers' published packages, on the same torch and the same shapes, in one
# session: training tokens/s of ctlab_bench (cpu-small-conv, cpu-small-txl) from the wheel
# build and of bench/peers.py (compressive-transformer-pytorch's Compressive Transformer as
# published and with its W_k, W_v trained, labml-nn's Compressive Transformer and
# Transformer-XL), each at 1 and 2 threads (or the THREADS given), then each at its best
# thread setting and ctlab's ratio to it.
#   bench/peers.sh [THREADS...]         (default: 1 2)
# The peers go into a bench-only virtual environment (CTLAB_PEERS_VENV, default
# ~/.cache/ctlab/peers) whose .pth file points at the wheel's torch environment, so torch
# is not downloaded again; the package versions are pinned below.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_env.sh --torch wheel  # torch_python: the wheel's (installed if missing)
bench=${CTLAB_BENCH:-build-wheel/bin/ctlab_bench}
[ -x "$bench" ] || { echo "$bench missing: scripts/build.sh --torch wheel" >&2; exit 2; }
venv=${CTLAB_PEERS_VENV:-$HOME/.cache/ctlab/peers}
if ! "$venv/bin/python" -c "import compressive_transformer_pytorch, labml_nn.transformers.compressive" 2>/dev/null; then
  echo "peers: installing compressive-transformer-pytorch and labml-nn into $venv (bench only)" >&2
  python3 -m venv "$venv"
  purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
  purelib "$torch_python" > "$(purelib "$venv/bin/python")/ctlab-torch.pth"
  torch_version=$("$torch_python" -c 'import torch; print(torch.__version__.split("+")[0])')
  pin=$(mktemp)
  echo "torch==$torch_version" > "$pin"
  # labml-nn 0.5.1 calls labml.tracker.debug, which labml 0.5 removed; its torchtext,
  # torchvision and fairscale requirements are for experiments peers.py does not import.
  "$venv/bin/pip" install -q --disable-pip-version-check -c "$pin" compressive-transformer-pytorch==0.4.0 \
    labml==0.4.168 einops
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps labml-nn==0.5.1
  rm -f "$pin"
fi
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
out=$(mktemp)
echo "== $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n), $(nproc) cores:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "== torch $("$torch_python" -c 'import torch; print(torch.__version__)'), $bench"
for t in "${threads[@]}"; do
  echo "== $bench --config cpu-small-conv,cpu-small-txl --threads $t"
  "$bench" --config cpu-small-conv,cpu-small-txl --threads "$t" |
    awk -v t="$t" 'NF >= 7 && $1 ~ /^cpu-small-(conv|txl)$/ && $2 ~ /^[0-9.]+$/ { print "ctlab-" $1, t, $2 }' | tee -a "$out"
  for impl in lucidrains-ct lucidrains-ct-kv labml-ct labml-txl; do
    # -P: bench/profile.py must not shadow Python's own profile module.
    "$venv/bin/python" -P bench/peers.py "$impl" --threads "$t" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import sys
best = {}
for line in open(sys.argv[1]):
    name, threads, tps = line.split()[:3]
    if float(tps) > best.get(name, (0, 0))[1]:
        best[name] = (int(threads), float(tps))
print("\nbest thread setting, training tokens/s, ctlab's ratio to it")
pairs = [("lucidrains-ct", "ctlab-cpu-small-conv"), ("lucidrains-ct-kv", "ctlab-cpu-small-conv"),
         ("labml-ct", "ctlab-cpu-small-conv"),
         ("labml-txl", "ctlab-cpu-small-txl")]
for name in ("ctlab-cpu-small-conv", "ctlab-cpu-small-txl"):
    print(f"{name:22s} {best[name][0]} thread(s) {best[name][1]:8.0f}")
for peer, ours in pairs:
    t, tps = best[peer]
    print(f"{peer:22s} {t} thread(s) {tps:8.0f}   {ours} / {peer} = {best[ours][1] / tps:.2f}x")
PY
rm -f "$out"
