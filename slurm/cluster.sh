#!/usr/bin/env bash
# A real one-node SLURM (munge + MariaDB + slurmdbd + slurmctld + slurmd) for the `slurm` tests
# and for trying `repro submit` on one machine. Debian 12, root, no systemd needed.
#
#   slurm/cluster.sh up     [STATE_DIR]   install packages if missing, configure, start, wait ready
#   slurm/cluster.sh status [STATE_DIR]   daemons, node state, partitions
#   slurm/cluster.sh down   [STATE_DIR]   cancel jobs, stop daemons by recorded PID, remove STATE_DIR
#
# Everything lives under STATE_DIR (default ${TMPDIR:-/tmp}/repro-slurm); clients need
# `source STATE_DIR/env.sh` (exports SLURM_CONF). Measured facts behind every setting:
# slurm/README.md and the notes it cites. Daemons are only ever stopped by the PIDs recorded
# in STATE_DIR/run/, never by name, so other SLURMs/MariaDBs on the machine are safe.
set -euo pipefail

CMD=${1:-}
D=${2:-${TMPDIR:-/tmp}/repro-slurm}
# Ports: ctld, slurmd, dbd, MariaDB = BASE..BASE+3 (override to run beside another cluster).
BASE=${REPRO_SLURM_PORT_BASE:-6817}
CTLD_PORT=$BASE; SLURMD_PORT=$((BASE + 1)); DBD_PORT=$((BASE + 2)); DB_PORT=$((BASE + 3))
CLUSTER=repro
# Start order; `down` stops in the reverse order.
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
NEEDED_BINS=(munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sbatch sacctmgr)

die() { echo "cluster.sh: error: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# A PID is alive unless it is gone or a zombie (PID 1 in a container may not reap orphans).
alive() {
  local pid=$1 st
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo X)
  [[ $st != Z && $st != X ]]
}

# wait_for SECONDS WHAT CMD...: poll CMD until it succeeds; fail naming WHAT and its log.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local end=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) >= end )); then
      die "$what not ready after ${timeout}s; see $D/log/"
    fi
    sleep 0.2
  done
}

# start NAME CMD...: run a daemon in the foreground mode in its own session (so a Ctrl-C in
# the caller's terminal does not reach it), stdio to its log (so a caller capturing our
# output does not wait on the daemon's pipe), and record its PID.
start() {
  local name=$1; shift
  setsid "$@" </dev/null >>"$D/log/$name.out" 2>&1 &
  local pid=$!
  echo "$pid" >"$D/run/$name.pid"
  sleep 0.1
  alive "$pid" || die "$name exited at once; see $D/log/$name.out"
}

stop_pid() {
  local name=$1 pidf="$D/run/$1.pid" pid i
  [[ -f $pidf ]] || return 0
  pid=$(cat "$pidf")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then log "$name ($pid) ignored TERM for 15 s; KILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidf"
}

healthy() {
  local n
  [[ -f $D/env.sh ]] || return 1
  for n in "${DAEMONS[@]}"; do alive "$(cat "$D/run/$n.pid" 2>/dev/null)" || return 1; done
  SLURM_CONF=$D/etc/slurm.conf scontrol ping 2>/dev/null | grep -q UP
}

install_packages() {
  local missing=() b
  for b in "${NEEDED_BINS[@]}"; do command -v "$b" >/dev/null || missing+=("$b"); done
  (( ${#missing[@]} == 0 )) && return 0
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]} and not root, so cannot apt-get install ${PACKAGES[*]}"
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get (needs Debian/Ubuntu packages ${PACKAGES[*]})"
  log "installing ${PACKAGES[*]} (missing: ${missing[*]})"
  local t=$(now)
  # policy-rc.d in containers stops postinst from starting the services; we start them ourselves.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >"${TMPDIR:-/tmp}/repro-slurm-apt.log" 2>&1 \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" \
       >>"${TMPDIR:-/tmp}/repro-slurm-apt.log" 2>&1 \
    || die "apt-get install failed; see ${TMPDIR:-/tmp}/repro-slurm-apt.log"
  log "installed in $(since "$t") s"
}

write_configs() {
  local host mem cpus
  host=$(hostname -s)
  # the CPUs this machine offers, not an OMP_NUM_THREADS in the caller's environment (nproc honours it)
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
  # RealMemory above what slurmd detects drains the node ("Low RealMemory"): keep a margin.
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mem=$(( mem > 1024 ? mem - 512 : mem ))
  cat >"$D/etc/slurm.conf" <<EOF
# Written by slurm/cluster.sh; see slurm/README.md for why each key is set.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
# cred_expire=5: a requeued job may restart after 5 s instead of 120 s.
AuthInfo=socket=$D/munge/munge.socket.2,cred_expire=5
StateSaveLocation=$D/state/ctld
SlurmdSpoolDir=$D/state/spool
SlurmctldPidFile=$D/run/slurmctld.ctl.pid
SlurmdPidFile=$D/run/slurmd.ctl.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
# Job ids from the clock: a re-created cluster must not reuse ids that an old submitit folder knows.
FirstJobId=$(( $(date +%s) % 40000000 + 1000 ))
# Containers have no delegated cgroup tree.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
# submitit reads job states only through sacct.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$D/munge/munge.socket.2
JobCompType=jobcomp/none
# Preemption by partition priority; the job's --signal is sent at once (GraceTime on debug).
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
ReturnToService=2
# submitit ignores SIGTERM: cancel/requeue wait KillWait before SIGKILL.
KillWait=5
# A torch process on a loaded container took over a minute to exit after SIGKILL (seen once at
# load 10 on 2 cores); the default 60 s then drains the node ("Kill task failed").
UnkillableStepTimeout=300
SchedulerParameters=sched_interval=2,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobRequeue=1
MpiDefault=none
MailProg=/bin/true
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES PriorityTier=1 GraceTime=30 MaxTime=INFINITE State=UP
PartitionName=high Nodes=$host PriorityTier=10 MaxTime=INFINITE State=UP
EOF
  # slurmdbd has no -f: it reads slurmdbd.conf next to $SLURM_CONF; it refuses a readable one.
  umask 077
  cat >"$D/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=$D/munge/munge.socket.2
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$D/log/slurmdbd.log
PidFile=$D/run/slurmdbd.ctl.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=repro-local
StorageLoc=slurm_acct_db
EOF
  umask 022
  chmod 600 "$D/etc/slurmdbd.conf"
  cat >"$D/env.sh" <<EOF
# source me: clients (sbatch, squeue, sacct, submitit) find the cluster through SLURM_CONF.
export SLURM_CONF=$D/etc/slurm.conf
EOF
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_up() {
  local t0 t
  t0=$(now)
  if healthy; then log "already up ($D)"; echo "$D/env.sh"; return 0; fi
  if [[ -d $D/run ]]; then log "stale state in $D: stopping what is left and starting afresh"; cmd_down_quiet
  elif [[ -d $D && -n $(ls -A "$D") ]]; then die "$D exists, is not empty and is not a cluster state dir"; fi
  install_packages
  local p
  for p in $CTLD_PORT $SLURMD_PORT $DBD_PORT $DB_PORT; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use (another cluster?); set REPRO_SLURM_PORT_BASE"
  done
  t=$(now)
  mkdir -p "$D"/{etc,munge,mysql,state/ctld,state/spool,log,run}
  # Non-root clients must reach the munge socket through STATE_DIR (mkdtemp makes it 0700).
  chmod 755 "$D"
  write_configs
  export SLURM_CONF=$D/etc/slurm.conf
  local sock=$D/munge/munge.socket.2

  # 1. munge: private key; the socket dir opens up once munged is running.
  chmod 700 "$D/munge"
  head -c 1024 /dev/urandom >"$D/munge/munge.key"; chmod 600 "$D/munge/munge.key"
  start munged munged -F --force --key-file="$D/munge/munge.key" --socket="$sock" \
    --pid-file="$D/run/munged.ctl.pid" --seed-file="$D/munge/munge.seed"
  wait_for 20 munged bash -c "munge -S '$sock' -n | unmunge -S '$sock'"
  chmod 755 "$D/munge"

  # 2. MariaDB as root (so a datadir under a 0700 temp dir works), TCP on 127.0.0.1 only.
  mariadb-install-db --no-defaults --user=root --datadir="$D/mysql/data" \
    --auth-root-authentication-method=socket --skip-test-db >"$D/log/mariadb-install.out" 2>&1 \
    || die "mariadb-install-db failed; see $D/log/mariadb-install.out"
  start mariadbd mariadbd --no-defaults --user=root --datadir="$D/mysql/data" --socket="$D/mysql/mysql.sock" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$D/run/mariadbd.ctl.pid" \
    --innodb-buffer-pool-size=64M
  wait_for 60 mariadbd mariadb-admin --no-defaults --socket="$D/mysql/mysql.sock" ping
  mariadb --no-defaults --socket="$D/mysql/mysql.sock" -u root -e "
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'repro-local';
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'repro-local';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "could not create the slurm DB user"

  # 3. slurmdbd, then the cluster/account/user it will be asked about.
  start slurmdbd slurmdbd -D
  wait_for 60 slurmdbd sacctmgr -n list cluster
  sacctmgr -i add cluster "$CLUSTER" >/dev/null
  sacctmgr -i add account lab Description=repro Organization=repro >/dev/null
  sacctmgr -i add user "$(id -un)" account=lab >/dev/null

  # 4-5. controller, then the node daemon.
  start slurmctld slurmctld -D -i
  wait_for 60 slurmctld bash -c "scontrol ping | grep -q UP"
  start slurmd slurmd -D
  wait_for 60 "node (slurmd)" bash -c "sinfo -h -N -o %T | grep -qx idle"
  wait_for 60 "controller registration with slurmdbd" \
    bash -c "[[ -n \$(sacctmgr -n -P list cluster $CLUSTER format=ControlHost) ]]"
  log "up in $(since "$t0") s (daemons $(since "$t") s): source $D/env.sh"
  echo "$D/env.sh"
}

cmd_down_quiet() {
  local i
  if [[ -f $D/etc/slurm.conf ]] && alive "$(cat "$D/run/slurmctld.pid" 2>/dev/null)"; then
    SLURM_CONF=$D/etc/slurm.conf scancel --full --user="$(id -un)" 2>/dev/null || true
  fi
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do stop_pid "${DAEMONS[i]}"; done
  # Jobs' processes, if any survived slurmd, were started under our state dir only.
  rm -rf "$D"
}

cmd_down() {
  local t0
  t0=$(now)
  [[ -d $D ]] || { log "nothing at $D"; return 0; }
  [[ -d $D/run ]] || die "$D does not look like a cluster state dir (no run/); not removing it"
  cmd_down_quiet
  log "down in $(since "$t0") s"
}

cmd_status() {
  local n pid
  [[ -d $D/run ]] || { echo "no cluster at $D"; return 1; }
  for n in "${DAEMONS[@]}"; do
    pid=$(cat "$D/run/$n.pid" 2>/dev/null || true)
    if alive "$pid"; then echo "$n: running (pid $pid)"; else echo "$n: stopped"; fi
  done
  export SLURM_CONF=$D/etc/slurm.conf
  scontrol ping 2>&1 | head -1 || true
  sinfo 2>&1 || true
  healthy
}

case $CMD in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status [STATE_DIR]" >&2; exit 2 ;;
esac
