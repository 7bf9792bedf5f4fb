# tests/slurm/cluster.sh — sourced by the Slurm tests: a one-node Slurm cluster of its own.
#
# cluster_start starts munged, slurmctld and slurmd (Debian's munge and slurm-wlm) in a new
# temporary folder $ROOT, with their own ports, state folders, munge key and socket, and
# exports SLURM_CONF; an EXIT trap cancels every job (while slurmd can still end them) and
# stops the daemons by process id, however the test ends, then removes $ROOT (KEEP=1 keeps
# it). The caller defines say and fail. Needs root: slurmd runs each job as its user.

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local limit=$1 waited=0; shift
  until "$@"; do
    [ $waited -lt "$limit" ] || return 1
    sleep 1; waited=$((waited + 1))
  done
}
queue_empty() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }

cluster_stop() {
  local status=$? pid
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
    scancel --full --quiet $(squeue -h -o %A 2>/dev/null | sort -u) 2>/dev/null || true
    wait_for 30 queue_empty || say "jobs still listed after 30 s: $(squeue -h 2>&1 | head -5)"
  fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ $status -ne 0 ]; then
    say "logs of the cluster:"
    tail -n 20 "$ROOT"/log/*.log >&2 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then say "kept $ROOT"; else rm -rf "$ROOT"; fi
  exit $status
}

cluster_start() {
  [ "$(id -u)" -eq 0 ] || fail "needs root (slurmd runs jobs as their users)"
  for cmd in munged slurmctld slurmd sbatch squeue scancel sinfo scontrol; do
    command -v "$cmd" >/dev/null || fail "$cmd not found: install Debian's slurmctld, slurmd, slurm-client and munge"
  done
  ROOT="$(mktemp -d "${TMPDIR:-/tmp}/lossviz-slurm-XXXXXX")"
  chmod 755 "$ROOT"
  PIDS=()
  trap cluster_stop EXIT
  trap 'exit 130' INT TERM HUP

  # The key is root's alone; the socket's folder is open, as /run/munge is, so that jobs
  # submitted by ordinary users (a student's server through the hub) can authenticate.
  mkdir -p "$ROOT"/{munge,munge-run,state,spool,log}
  chmod 700 "$ROOT/munge"
  chmod 755 "$ROOT/munge-run"
  head -c 1024 /dev/urandom > "$ROOT/munge/munge.key"
  chmod 400 "$ROOT/munge/munge.key"
  SOCKET="$ROOT/munge-run/socket"
  munged -F --force --socket="$SOCKET" --key-file="$ROOT/munge/munge.key" --pid-file="$ROOT/munge/pid" \
    --seed-file="$ROOT/munge/seed" --log-file="$ROOT/log/munged.log" > "$ROOT/log/munged.out" 2>&1 &
  PIDS+=($!)

  read -r CTLD_PORT SLURMD_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
  HOST="$(hostname -s)"
  # The node is named as the machine is, when that name resolves: batchspawner reaches a
  # student's server at its node's name.
  NODE=lossviz-node
  getent hosts "$HOST" >/dev/null && NODE="$HOST"
  export SLURM_CONF="$ROOT/slurm.conf"
  cat > "$SLURM_CONF" <<EOF
ClusterName=lossviz-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/slurmctld.pid
SlurmdPidFile=$ROOT/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=$NODE NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  for _ in $(seq 20); do [ -S "$SOCKET" ] && break; sleep 0.5; done
  [ -S "$SOCKET" ] || fail "munged did not start (its log: $(cat "$ROOT/log/munged.out"))"
  slurmctld -D -f "$SLURM_CONF" > "$ROOT/log/slurmctld.out" 2>&1 &
  PIDS+=($!)
  slurmd -D -N "$NODE" -f "$SLURM_CONF" > "$ROOT/log/slurmd.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 60); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break; sleep 1; done
  [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] || fail "the node did not come up: sinfo says '$(sinfo -h -o %T 2>&1)'"
  say "cluster up: slurmctld on 127.0.0.1:$CTLD_PORT, slurmd on $SLURMD_PORT, $(nproc) CPUs, state in $ROOT"
}
