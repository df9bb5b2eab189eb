#!/usr/bin/env bash
# Real launchers: starts a one-node Slurm cluster on this machine (munged, slurmctld and
# slurmd run directly, since no init system runs services here; configured for this host
# in a temporary folder) and checks
#   (a) the README's grid recipe as an `sbatch --array` job, then `ctlab merge`: every
#       cell completed;
#   (b) one run as 2 ranks under `srun -n 2` matches the same run in one process.
# Exits 77 (skipped) with a message only where Slurm cannot be started here.
# Usage: slurm_test.sh <ctlab binary> <plugin dir>
set -uo pipefail
ctlab=$(readlink -f "$1")
plugins=$(readlink -f "$2")
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; for f in "$tmp"/*.log "$tmp"/work/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }

for p in munged slurmctld slurmd sbatch srun sinfo; do
  command -v "$p" >/dev/null 2>&1 || skip "$p is not installed (Debian: slurm-wlm munge)"
done
[ "$(id -u)" -eq 0 ] || skip "starting slurmd needs root"

tmp=$(mktemp -d /tmp/ctlab-slurm.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$tmp"/state "$tmp"/spool "$tmp"/munge "$tmp"/work
chmod 700 "$tmp"/munge

# --- munge, with its own key and socket ---------------------------------------------------
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munged --force --socket="$tmp/munge/munge.sock" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munged.log" --seed-file="$tmp/munge/seed" \
  || skip "munged does not start here: $(tail -3 "$tmp/munged.log" 2>/dev/null)"
pids+=("$(cat "$tmp/munge/munged.pid")")

# --- slurm.conf for one node: this host, all its CPUs ------------------------------------
cat > "$tmp/slurm.conf" <<CONF
ClusterName=ctlabtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -D -f "$SLURM_CONF" > "$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" > "$tmp/slurmd.out" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 60); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix)'; then up=1; break; fi
  sleep 0.5
done
[ $up -eq 1 ] || skip "slurmctld/slurmd did not bring the node up: $(tail -3 "$tmp/slurmctld.log" "$tmp/slurmd.log" 2>/dev/null | tr '\n' ' ')"
echo "slurm: one node ($host, $cpus CPUs) up"

cd "$tmp/work"
export CTLAB_PLUGIN_PATH="$plugins"
model='[model]
n_layer = 1
d_model = 16
n_head = 2
d_ff = 32
seq_len = 8
mem_len = 8
dropout = 0
[data]
dataset = synthetic
synthetic_tokens = 8000
[eval]
eval_segments = 4
eval_batch_size = 4
buckets_sequences = 2'

# --- (a) the README's grid recipe as an array job, then merge ----------------------------
cat > grid.ini <<INI
experiment = slurm-grid
threads = 1
$model
[train]
batch_size = 4
max_steps = 4
log_every = 2
checkpoint_every = 2
[grid]
seed = 1, 2
cmem_len = 0, 4
cmem_rate = 2
INI
"$ctlab" grid expand grid.ini > expand.txt 2>&1 || fail "grid expand: $(cat expand.txt)"
cat > array.sh <<SH
#!/bin/bash
#SBATCH --array=0-1
#SBATCH --cpus-per-task=1
#SBATCH --output=array-%a.out
"$ctlab" grid run grid.ini
SH
sbatch --wait array.sh > sbatch.txt 2>&1 || fail "sbatch --array: $(cat sbatch.txt)"
"$ctlab" merge results/shard-*-of-2 --into results > merge.txt 2>&1 || fail "ctlab merge: $(cat merge.txt)"
completed=$(sqlite3 results/ctlab.sqlite "select count(*) from runs where status='completed'")
total=$(sqlite3 results/ctlab.sqlite "select count(*) from runs")
[ "$total" -eq 4 ] && [ "$completed" -eq 4 ] || fail "after merge: $completed of $total runs completed (expected 4 of 4)"
echo "slurm (a): array job of 2 shards, merged: 4 of 4 cells completed"

# --- (b) 2 ranks under srun -n 2 against one process -------------------------------------
cat > run.ini <<INI
experiment = slurm-ranks
threads = 1
$model
cmem_len = 4
cmem_rate = 2
compression = conv1d
compression_loss = attention_reconstruction
[train]
batch_size = 8
max_steps = 6
log_every = 1
checkpoint_every = 3
INI
"$ctlab" train run.ini --results one > one.txt 2>&1 || fail "one process: $(cat one.txt)"
srun -n 2 --cpus-per-task=1 --kill-on-bad-exit=1 "$ctlab" train run.ini --results two > two.txt 2>&1 \
  || fail "srun -n 2: $(cat two.txt)"
sqlite3 two/ctlab.sqlite "select value from params where key='dist.world_size'" | grep -qx 2 \
  || fail "the srun run did not record world size 2"
q="select key || ' ' || step || ' ' || printf('%.17g', value) from metrics where key in ('train/loss','valid/loss','train/compression_loss') order by key, step"
sqlite3 one/ctlab.sqlite "$q" > one.metrics
sqlite3 two/ctlab.sqlite "$q" > two.metrics
[ -s one.metrics ] || fail "no metrics in the one-process run"
python3 - one.metrics two.metrics <<'PY' || fail "the 2-rank run differs from the one-process run"
import sys
a = [l.split() for l in open(sys.argv[1])]
b = [l.split() for l in open(sys.argv[2])]
assert len(a) == len(b), (len(a), len(b))
worst = 0.0
for x, y in zip(a, b):
    assert x[:2] == y[:2], (x, y)
    worst = max(worst, abs(float(x[2]) - float(y[2])))
print(f"slurm (b): {len(a)} metric values, largest difference {worst:.2e}")
assert worst <= 1e-5
PY
echo "PASS"
