#!/usr/bin/env bash
# `make slurm-check`: runs Experiments/sweeps/smoke.yaml on a real one-node Slurm cluster started on
# this machine, as a 2-task job array plus its dependent merge job (`kvc sweep slurm --submit`), and
# checks that the merged file holds exactly the trials of a local run.
#
# Debian's slurm-wlm and munge are installed when missing (apt-get, needs root). munged, slurmctld
# and slurmd run from a temporary directory with their own configuration (slurm.conf below), socket
# and state, never touching a system installation; the trap stops exactly the daemons started here
# (by their process ids) and removes the directory, on success and on failure alike.
#
# Environment: KVC (default .build/release/kvc), KVC_MODEL/--model as for kvc, SLURM_CHECK_KEEP=1
# keeps the directory for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
kvc=${KVC:-$root/.build/release/kvc}
spec=$root/Experiments/sweeps/smoke.yaml
[ -x "$kvc" ] || { echo "slurm-check: $kvc is missing; run 'make release' first" >&2; exit 1; }

need=()
for tool in slurmctld slurmd sbatch squeue munged mungekey; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "slurm-check: installing slurm-wlm and munge (missing: ${need[*]})" >&2
  [ "$(id -u)" = 0 ] || { echo "slurm-check: installing Slurm needs root (apt-get install slurm-wlm munge)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null
fi

work=$(mktemp -d /tmp/kvc-slurm-check.XXXXXX)
chmod 0755 "$work"
pids=()
cleanup() {
  local status=$?
  # Stop only what this script started, newest first, by process id.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$status" != 0 ]; then
    echo "slurm-check: FAILED (status $status); daemon logs:" >&2
    tail -n 20 "$work"/*.log "$work"/run/logs/*.log 2>/dev/null >&2 || true
  fi
  if [ "${SLURM_CHECK_KEEP:-0}" = 1 ]; then echo "slurm-check: kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT INT TERM

# munge: its own key, socket and state, so it never meets a system munged.
mkdir -m 0700 "$work/munge"
mungekey --create --keyfile "$work/munge/munge.key" --force
chmod 0400 "$work/munge/munge.key"
munged --foreground --force --key-file "$work/munge/munge.key" --socket "$work/munge/socket" \
  --pid-file "$work/munge/munged.pid" --log-file "$work/munged.log" --seed-file "$work/munge/seed" >> "$work/munged.log" 2>&1 &
pids+=($!)

cpus=$(nproc)
user=$(id -un)
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<CONF
# One node, this machine (https://slurm.schedmd.com/slurm.conf.html).
ClusterName=kvc-check
SlurmctldHost=localhost
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/socket
SlurmctldPort=$((20000 + RANDOM % 20000))
SlurmdPort=$((40000 + RANDOM % 20000))
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=check Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf

for _ in $(seq 50); do [ -S "$work/munge/socket" ] && break; sleep 0.1; done
slurmctld -D -f "$SLURM_CONF" -i >> "$work/slurmctld.log" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N localhost >> "$work/slurmd.log" 2>&1 &
pids+=($!)

# Wait for the node to be idle.
for i in $(seq 100); do
  state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  [ "$i" = 100 ] && { echo "slurm-check: the node never became idle (state '$state')" >&2; exit 1; }
  sleep 0.2
done
echo "slurm-check: one-node cluster up ($cpus CPUs)" >&2

# The sweep as a 2-task array and a dependent merge, one CPU per task.
"$kvc" sweep slurm --spec "$spec" --shards 2 --cpus-per-task 1 --out "$work/run" --partition check --submit > "$work/ids"
read -r array_id merge_id < "$work/ids"
echo "slurm-check: array job $array_id, merge job $merge_id" >&2
for i in $(seq 900); do
  [ -z "$(squeue -h -j "$array_id,$merge_id" 2>/dev/null)" ] && break
  [ "$i" = 900 ] && { echo "slurm-check: jobs still queued after 15 minutes" >&2; exit 1; }
  sleep 1
done
[ -f "$work/run/sweep.h5" ] || { echo "slurm-check: the merge job left no $work/run/sweep.h5" >&2; exit 1; }

# The same sweep locally, on one thread as the array tasks ran; the trials must agree.
"$kvc" sweep --spec "$spec" --out "$work/local.h5" --threads 1 > /dev/null 2> "$work/local.log"
"$kvc" sweep report "$work/run/sweep.h5" --format csv > "$work/slurm.csv"
"$kvc" sweep report "$work/local.h5" --format csv > "$work/local.csv"
if ! diff -q "$work/local.csv" "$work/slurm.csv" >/dev/null; then
  diff "$work/local.csv" "$work/slurm.csv" | head -20 >&2
  echo "slurm-check: the Slurm run and the local run differ" >&2
  exit 1
fi
echo "slurm-check: OK: the trials of the 2-task Slurm array, merged, equal the local run" >&2
