#!/usr/bin/env bash
# The workflow through a real Slurm: a one-node cluster on this machine (munged,
# slurmctld, slurmd; a fake GPU gres), driven by `snakemake --profile
# config/profiles/slurm` on a tiny simulated dataset. Checks the contract outputs and
# that every job went through sbatch, then stops the daemons it started, by PID.
#
#   tests/slurm/run.sh              # from the repository root, venv active, as root
#   KEEP=1 tests/slurm/run.sh       # keep the work directory (printed) afterwards
#   SWEEP=1 tests/slurm/run.sh      # also run a 4-point parameter sweep through Slurm
#   REPORT_CHECK=1 tests/slurm/run.sh   # install chromium if needed to check the report
#   DEMO=1 tests/slurm/run.sh       # the full built-in demo (every branch) instead of the
#                                   # tiny dataset: ~20 min on an idle 2-core machine
#
# Needs root (apt-get, daemons) and Debian/Ubuntu; installs slurm-wlm and munge when
# missing. Takes about 10 minutes on 2 cores (20 with SWEEP=1), more on a busy machine.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python}
WORK=${WORK:-$(mktemp -d /tmp/scinterp-slurm.XXXXXX)}
CTLD_PORT=${CTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
HOST=$(hostname -s)
PIDS=()

log() { printf '[slurm-test %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

cleanup() {
    local rc=$?
    # Cancel what is left, then stop our daemons, newest first, by PID only.
    if [ -f "$WORK/slurmctld.pid.started" ]; then
        scancel -u "$(id -un)" >/dev/null 2>&1 || true
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[$i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    done
    # Put back the site's Slurm config, or remove ours.
    if [ -n "${ETC:-}" ]; then
        for f in slurm.conf gres.conf; do
            if [ -e "$WORK/etc-backup/$f" ]; then
                cp -p "$WORK/etc-backup/$f" "$ETC/$f"
            elif grep -qs "^# scinterp slurm test" "$ETC/$f"; then
                rm -f "$ETC/$f"
            fi
        done
    fi
    if [ "$rc" -ne 0 ]; then
        log "FAILED (rc=$rc); logs in $WORK: slurmctld.log slurmd.log snakemake.log"
        tail -n 30 "$WORK/slurmctld.log" 2>/dev/null || true
    elif [ -z "${KEEP:-}" ]; then
        rm -rf "$WORK"
    fi
    [ -n "${KEEP:-}" ] && log "work directory kept: $WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # run the cleanup when stopped too

# --- install ---------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurm-wlm and munge"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge
fi
log "$(slurmctld -V), work directory $WORK"

# --- munge -------------------------------------------------------------------------------
mkdir -p "$WORK/munge" "$WORK/state" "$WORK/spool"
chmod 700 "$WORK/munge"
KEY=/etc/munge/munge.key
if [ ! -s "$KEY" ]; then
    KEY=$WORK/munge/munge.key
    dd if=/dev/urandom of="$KEY" bs=1 count=1024 status=none
    chmod 400 "$KEY"
fi
# --force: munged refuses root and shared /tmp parents otherwise; this is a test cluster.
munged --foreground --force --key-file="$KEY" --socket="$WORK/munge/munge.socket" \
    --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/munged.seed" \
    --log-file="$WORK/munge/munged.log" >"$WORK/munge/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$WORK/munge/munge.socket" ] && break; sleep 0.2; done
[ -S "$WORK/munge/munge.socket" ] || { log "munged did not start"; exit 1; }

# --- slurm.conf: one node, 2 partitions (cpu, gpu), a fake GPU --------------------------
NCPU=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
# The plugin's job step strips SLURM_* variables (SLURM_CONF too) before its inner
# `srun`, so the config must sit where Slurm looks by default, /etc/slurm/. Files that
# were there are set aside and put back on exit.
ETC=/etc/slurm
mkdir -p "$ETC" "$WORK/etc-backup"
for f in slurm.conf gres.conf; do
    if [ -e "$ETC/$f" ] && ! grep -q "^# scinterp slurm test" "$ETC/$f"; then
        cp -p "$ETC/$f" "$WORK/etc-backup/$f"
    fi
done
cat >"$ETC/slurm.conf" <<CONF
# scinterp slurm test (tests/slurm/run.sh), work directory $WORK
ClusterName=scinterp-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# Finished jobs stay visible to squeue for an hour: the plugin's status checks use
# squeue here (there is no accounting database for sacct).
MinJobAge=3600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
CONF
cat >"$ETC/gres.conf" <<CONF
# scinterp slurm test (tests/slurm/run.sh)
NodeName=$HOST Name=gpu File=/dev/null
CONF
export SLURM_CONF=$ETC/slurm.conf

slurmctld -D -i -f "$SLURM_CONF" >"$WORK/slurmctld.out" 2>&1 &
PIDS+=($!)
touch "$WORK/slurmctld.pid.started"
slurmd -D -f "$SLURM_CONF" >"$WORK/slurmd.out" 2>&1 &
PIDS+=($!)
state=""
for _ in $(seq 60); do
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || { log "a daemon died:"; tail -n 5 "$WORK"/slurm*.log; exit 1; }
    done
    state=$(timeout 5 sinfo -h -n "$HOST" -o %T 2>/dev/null | head -n1 || true)
    [ "$state" = idle ] && break
    sleep 1
done
sinfo -N -o "%N %P %T %c %m %G"
[ "$state" = idle ] || { log "node not idle (state: ${state:-none})"; cat "$WORK/slurmd.out"; exit 1; }

# --- the workflow through the profile ---------------------------------------------------
if [ -n "${DEMO:-}" ]; then
    # the demo as users run it: its data are simulated by the workflow's first job
    log "the built-in demo (config/config.yaml)"
    mkdir -p "$WORK/run"
    cp "$REPO/config/config.yaml" "$WORK/run/config.yaml"
else
    log "writing the tiny dataset and its config"
    "$PYTHON" "$REPO/tests/slurm/make_config.py" "$WORK/run" ${SWEEP:+--sweep}
fi
cd "$WORK/run"
log "snakemake --profile config/profiles/slurm"
# The profile as users get it; only what this cluster lacks is given on the command
# line: no accounting database (status by squeue, no account lookup), quick checks.
"$PYTHON" -m snakemake -s "$REPO/Snakefile" -d "$WORK/run" \
    --profile "$REPO/config/profiles/slurm" \
    --configfile "$WORK/run/config.yaml" \
    --slurm-status-command squeue \
    --slurm-init-seconds-before-status-checks 5 \
    --slurm-no-account \
    --slurm-keep-successful-logs \
    --jobs 4 --latency-wait 10 \
    >"$WORK/snakemake.log" 2>&1 || {
    tail -n 80 "$WORK/snakemake.log"
    exit 1
}
tail -n 5 "$WORK/snakemake.log"

# --- what went through Slurm ------------------------------------------------------------
squeue --states=all -h \
    -O "JobID:|,Name:|,Partition:|,State:|,tres-per-job:|,tres-per-node:|,Comment:|,MinMemory:|,TimeLimit:" \
    >"$WORK/squeue.txt"
log "jobs seen by squeue (id|name|partition|state|tres per job|tres per node|comment|memory|time limit):"
cat "$WORK/squeue.txt"
"$PYTHON" "$REPO/tests/slurm/check.py" "$WORK/run" "$WORK/squeue.txt" "$WORK/slurmctld.log" \
    ${SWEEP:+--sweep} ${DEMO:+--demo}

# --- the report: every branch's figures and tables, the run record ----------------------
log "snakemake --report"
"$PYTHON" -m snakemake -s "$REPO/Snakefile" -d "$WORK/run" --configfile "$WORK/run/config.yaml" \
    --report "$WORK/report.html" >"$WORK/report.log" 2>&1 || { tail -n 30 "$WORK/report.log"; exit 1; }
if [ -n "${REPORT_CHECK:-}" ] && ! command -v chromium >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi
if command -v chromium >/dev/null; then
    "$PYTHON" "$REPO/tests/tools/check_report.py" "$WORK/report.html" \
        --expect "Run record" "Quality control" "Cell-identity genes" ${SWEEP:+"Parameter sweep"} \
        ${DEMO:+"Gene regulatory network"}
else
    log "chromium not installed: report check skipped (REPORT_CHECK=1 installs it)"
fi
log "OK"
