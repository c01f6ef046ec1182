#!/usr/bin/env bash
# A throw-away single-node Slurm cluster for the tests (Debian slurm-wlm + munge).
#
#   slurm_cluster.sh start DIR [CPUS]   write munge key + slurm.conf into DIR, start munged,
#                                      slurmctld and slurmd in the background, wait for the node
#                                      to be idle. Exit 0 when the cluster is up, 77 (ctest's
#                                      skip code) when the daemons cannot run here, saying why.
#   slurm_cluster.sh stop DIR          stop the daemons started in DIR (by their recorded pids).
#   slurm_cluster.sh env DIR           print the environment a client needs (eval it).
#
# Everything lives in DIR: config, munge key and socket, state, spool, pid and log files, so
# nothing on the machine is touched and several clusters can coexist (each picks free ports).
# The daemons run as root (SlurmUser=root) with no cgroups, no accounting and
# proctrack/linuxproc, which is what works inside containers and CI machines.
# DIR should have a short path: munge's socket path must fit in a sockaddr_un (108 bytes).
set -euo pipefail

SKIP=77

die_skip() {
    echo "slurm_cluster: SKIP: $*" >&2
    exit "$SKIP"
}

# Prints the last lines of every daemon log in DIR, so that a failed start says why.
show_logs() {
    local dir=$1 f
    for f in "$dir"/log/*.log; do
        [ -f "$f" ] || continue
        echo "----- $f (last 20 lines) -----" >&2
        tail -n 20 "$f" >&2
    done
}

# A TCP port nobody listens on (a connection to it is refused), from a range away from Slurm's
# defaults (6817/6818), so that a real Slurm on the machine or another test cluster does not
# collide with this one. Plain bash (/dev/tcp): minimal CI images have no ss or netstat.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

cmd_env() {
    local dir=$1
    echo "export SLURM_CONF='$dir/etc/slurm.conf'"
    # munge's own tools (munge, unmunge) read the socket from the command line only;
    # Slurm's clients find it through AuthInfo in slurm.conf.
    echo "export DISTSWEEP_MUNGE_SOCKET='$dir/munge/munge.socket.2'"
}

# Starts a daemon in the foreground mode (-D/-F) as a background child, stdin/stdout/stderr
# detached from the caller (ctest waits for its pipes to close), and records its pid.
launch() {
    local dir=$1 name=$2
    shift 2
    DISTSWEEP_SLURM_CLUSTER=$dir setsid "$@" </dev/null >"$dir/log/$name.out" 2>&1 &
    echo $! >"$dir/run/$name.pid"
}

alive() {
    local pidfile=$1
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

cmd_start() {
    local dir=$1 cpus=${2:-4}
    local tool
    for tool in munged slurmctld slurmd sinfo sbatch scontrol squeue scancel hostname setsid; do
        command -v "$tool" >/dev/null 2>&1 || die_skip "'$tool' not found (install slurm-wlm and munge: tools/install-deps.sh)"
    done
    [ "$(id -u)" -eq 0 ] || die_skip "the test cluster runs its daemons as root (SlurmUser=root); running as $(id -un)"

    mkdir -p "$dir"/{etc,munge,state,spool,log,run}
    chmod 700 "$dir/munge"
    dir=$(cd "$dir" && pwd)
    local host
    host=$(hostname -s)
    local ctld_port slurmd_port
    ctld_port=$(free_port) || die_skip "no free TCP port found"
    slurmd_port=$(free_port) || die_skip "no free TCP port found"
    [ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((ctld_port + 1))

    # munge: a fresh key, the socket inside DIR. --force: munged refuses root-owned
    # sticky directories like /tmp on the socket's path unless forced.
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
    local sock="$dir/munge/munge.socket.2"
    launch "$dir" munged munged -F --force -S "$sock" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/run/munged.pidfile" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed"

    cat >"$dir/etc/slurm.conf" <<EOF
# Written by tests/slurm/slurm_cluster.sh: a single-node test cluster in $dir
ClusterName=dstest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pidfile
SlurmdPidFile=$dir/run/slurmd.pidfile
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=pmix
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# Trust the CPU count below rather than the machine's: ranks may outnumber cores.
SlurmdParameters=config_overrides
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=600
JobRequeue=1
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    # An empty plugin stack: the system's /etc/slurm/plugstack.conf.d belongs to the machine.
    : >"$dir/etc/plugstack.conf"
    export SLURM_CONF="$dir/etc/slurm.conf"


    for _ in $(seq 1 50); do
        [ -S "$sock" ] && break
        alive "$dir/run/munged.pid" || { show_logs "$dir"; die_skip "munged exited at start"; }
        sleep 0.1
    done
    [ -S "$sock" ] || { show_logs "$dir"; die_skip "munged did not create its socket $sock"; }

    launch "$dir" slurmctld slurmctld -D -f "$SLURM_CONF"
    launch "$dir" slurmd slurmd -D -f "$SLURM_CONF" -N "$host"

    # Wait for the node to be idle (about a second on a fresh cluster).
    local state=""
    for _ in $(seq 1 150); do
        alive "$dir/run/slurmctld.pid" || { show_logs "$dir"; die_skip "slurmctld exited at start"; }
        alive "$dir/run/slurmd.pid" || { show_logs "$dir"; die_skip "slurmd exited at start"; }
        state=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null || true)
        case "$state" in
            idle*) break ;;
        esac
        sleep 0.2
    done
    case "$state" in
        idle*) ;;
        *)
            show_logs "$dir"
            die_skip "node $host not idle after 30 s (state '${state:-unknown}')"
            ;;
    esac
    echo "slurm_cluster: up in $dir (node $host, $cpus CPUs, slurmctld port $ctld_port)"
}

# Sends TERM to the named daemons of DIR, waits for them (10 s at most), then KILLs.
stop_daemons() {
    local dir=$1 name pid pids=()
    shift
    for name in "$@"; do
        [ -f "$dir/run/$name.pid" ] || continue
        pid=$(cat "$dir/run/$name.pid")
        rm -f "$dir/run/$name.pid"
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    for _ in $(seq 1 100); do
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && break
            pid=""
        done
        [ -n "$pid" ] || return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

cmd_stop() {
    local dir=$1 pid
    dir=$(cd "$dir" 2>/dev/null && pwd) || return 0
    export SLURM_CONF="$dir/etc/slurm.conf"
    # Cancel what still runs, so that slurmd ends the jobs' processes itself.
    if alive "$dir/run/slurmctld.pid" && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
        squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
        for _ in $(seq 1 50); do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    # Slurm's daemons take about 2 s each to shut down: ask both at once (TERM), kill what
    # still runs after 10 s, then munged, which they need until they are gone.
    stop_daemons "$dir" slurmd slurmctld
    stop_daemons "$dir" munged
    # Leftovers of this cluster only: slurmstepd processes inherit the daemons' marker
    # DISTSWEEP_SLURM_CLUSTER, job processes carry this cluster's SLURM_CONF and a SLURM_JOB_ID.
    local p envs
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" != "$$" ] || continue
        envs=$(tr '\0' '\n' 2>/dev/null <"$p/environ") || continue
        if grep -qxF "DISTSWEEP_SLURM_CLUSTER=$dir" <<<"$envs" ||
            { grep -qxF "SLURM_CONF=$dir/etc/slurm.conf" <<<"$envs" && grep -q '^SLURM_JOB_ID=' <<<"$envs"; }; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

usage() {
    echo "usage: $0 start DIR [CPUS] | stop DIR | env DIR" >&2
    exit 2
}

[ $# -ge 2 ] || usage
case "$1" in
    start) cmd_start "$2" "${3:-4}" ;;
    stop) cmd_stop "$2" ;;
    env) cmd_env "$2" ;;
    *) usage ;;
esac
