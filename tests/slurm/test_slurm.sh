#!/usr/bin/env bash
# Slurm tests on a real single-node cluster started for the test (tests/slurm/slurm_cluster.sh).
#
#   test_slurm.sh cluster SOURCE_DIR
#       the cluster itself: `sbatch --wrap` runs a job to completion.
#   test_slurm.sh timelimit SOURCE_DIR DISTSWEEP PYTHON
#       the time-limit warning that Slurm itself sends (#SBATCH --signal): a sweep longer than
#       the job's time limit completes through repeated requeues.
#   test_slurm.sh sweep SOURCE_DIR DISTSWEEP PYTHON
#       slurm/sweep.sh end to end, as a user submits it:
#       1. `sbatch slurm/sweep.sh tiny.yaml -o a.h5` runs the sweep to completion, no requeue;
#       2. the same sweep into b.h5 gets the warning signal (scancel --signal=USR1 --batch)
#          after its first runs are stored: distsweep checkpoints and exits 3, the script
#          requeues the job, the requeued job resumes b.h5 and completes; b.h5 must hold every
#          run exactly once (journal) with metrics, curves and statuses bit-identical to a.h5;
#       3. a sweep file with an error: the job fails with exit 2 and is not requeued;
#       4. scancel mid-sweep: the job is cancelled, not requeued; the same sbatch command
#          submitted again resumes d.h5 to results bit-identical to a.h5.
#
# DISTSWEEP_TEST_KEEP=1 keeps the temporary directory (cluster logs, job logs, result files).
# Exit 0 pass, 1 fail, 77 skip (the daemons cannot run on this machine; the reason is printed).
set -euo pipefail

mode=${1:-}
src=${2:-}
if [ -z "$mode" ] || [ ! -d "$src" ]; then
    echo "usage: $0 cluster|sweep|timelimit SOURCE_DIR [DISTSWEEP PYTHON]" >&2
    exit 2
fi
src=$(cd "$src" && pwd)
harness=$src/tests/slurm/slurm_cluster.sh

# A short path: munge's socket must fit in a sockaddr_un.
tmp=$(mktemp -d /tmp/ds-slurm.XXXXXX)
failed=1
cleanup() {
    "$harness" stop "$tmp/c" || true
    if [ "$failed" -eq 0 ] && [ -z "${DISTSWEEP_TEST_KEEP:-}" ]; then
        rm -rf "$tmp"
    else
        echo "test_slurm: files kept in $tmp" >&2
    fi
}
trap cleanup EXIT

fail() {
    echo "test_slurm: FAIL: $*" >&2
    local f
    for f in "$tmp"/w/*.out "$tmp"/c/log/slurmctld.log "$tmp"/c/log/slurmd.log; do
        [ -f "$f" ] || continue
        echo "----- $f (last 60 lines) -----" >&2
        tail -n 60 "$f" >&2
    done
    exit 1
}

rc=0
"$harness" start "$tmp/c" 4 || rc=$?
if [ "$rc" -eq 77 ]; then
    failed=0
    exit 77
fi
[ "$rc" -eq 0 ] || fail "cluster start failed with exit $rc"
eval "$("$harness" env "$tmp/c")"
mkdir -p "$tmp/w"
cd "$tmp/w"

# Field KEY of `scontrol show job ID` (e.g. JobState, ExitCode, Restarts).
job_field() {
    scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# Waits until job ID is in a final state (COMPLETED, FAILED, ...), at most $2 seconds;
# prints the state. Pending and requeued states are not final.
wait_job_done() {
    local id=$1 limit=$2 state="" t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        state=$(job_field "$id" JobState)
        case "$state" in
            COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
                echo "$state"
                return 0
                ;;
        esac
        sleep 0.5
    done
    echo "${state:-UNKNOWN}(timeout)"
}

if [ "$mode" = cluster ]; then
    # shellcheck disable=SC2016  # expanded by the job's shell
    id=$(sbatch --parsable --output=hostname-%j.out --wrap 'hostname -s; echo "restart ${SLURM_RESTART_COUNT:-0}"')
    state=$(wait_job_done "$id" 60)
    [ "$state" = COMPLETED ] || fail "job $id ended $state"
    grep -qx "$(hostname -s)" "hostname-$id.out" || fail "job output lacks the host name"
    echo "test_slurm: cluster ok: job $id COMPLETED on $(hostname -s)"
    failed=0
    exit 0
fi

case "$mode" in
    sweep | timelimit) ;;
    *) fail "unknown mode '$mode'" ;;
esac
distsweep=${3:?DISTSWEEP path}
python=${4:?PYTHON path}
[ -x "$distsweep" ] || fail "no distsweep executable at $distsweep"
export DISTSWEEP=$distsweep
cp "$src/tests/slurm/tiny.yaml" "$src/tests/slurm/bad.yaml" .

if [ "$mode" = timelimit ]; then
    # Slurm's own warning: a 1-minute limit with the warning 40 s before it, and 75 s of work
    # (6 synthetic packs of 25 s on 2 ranks, no training: distsweep's hidden test job kind,
    # which checkpoints and resumes like the engine). The sweep cannot finish inside one time
    # limit: it completes only if every warning leads to checkpoint, requeue and resume; a
    # missed warning ends the job TIMEOUT.
    t=$(sbatch --parsable --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1 --time=1 \
        --signal=B:USR1@40 "$src/slurm/sweep.sh" tiny.yaml -o t.h5 --synthetic-job-seconds 25)
    state=$(wait_job_done "$t" 270)
    [ "$state" = COMPLETED ] || fail "job $t (1-minute limit) ended $state"
    restarts=$(job_field "$t" Restarts)
    [ "$restarts" -ge 1 ] || fail "job $t completed without a restart: the test proves nothing"
    # every interruption by a warning is one requeue; the last run's warning may come as the
    # sweep completes (exit 0: nothing to requeue), so there is at most one warning more
    [ "$(grep -c 'distsweep exited with code 3' "distsweep-$t.out")" -eq "$restarts" ] ||
        fail "job $t: $restarts restarts but a different number of interruptions (exit 3)"
    warnings=$(grep -c 'got SIGUSR1' "distsweep-$t.out")
    if [ "$warnings" -lt "$restarts" ] || [ "$warnings" -gt $((restarts + 1)) ]; then
        fail "job $t: $restarts restarts but $warnings warnings"
    fi
    grep -q 'TIME LIMIT' "distsweep-$t.out" && fail "job $t hit its time limit"
    "$python" "$src/tests/slurm/compare_results.py" t.h5 || fail "t.h5 incomplete (see above)"
    echo "test_slurm: job $t: 1-minute limit, $restarts warning(s) from Slurm, each requeued; complete"
    failed=0
    exit 0
fi
# The script's #SBATCH defaults are for a GPU cluster; a user of a CPU partition overrides them
# on the command line exactly like this. --time leaves the warning signal (300 s before the
# limit) out of the way: the test sends it itself.
opts=(--parsable --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1 --time=30)
script=$src/slurm/sweep.sh

# 1. Uninterrupted.
a=$(sbatch "${opts[@]}" "$script" tiny.yaml -o a.h5)
state=$(wait_job_done "$a" 150)
[ "$state" = COMPLETED ] || fail "job $a (uninterrupted) ended $state"
[ "$(job_field "$a" Restarts)" = 0 ] || fail "job $a was restarted"
grep -q 'sweep complete' "distsweep-$a.out" || fail "job $a log lacks 'sweep complete'"
echo "test_slurm: job $a: uninterrupted sweep complete"

# 2. Warning signal mid-sweep, then requeue and resume.
b=$(sbatch "${opts[@]}" "$script" tiny.yaml -o b.h5)
# Wait until the first runs reached the journal (64-byte header, src/journal.h, + records): the signal then
# finds finished runs, runs in training and runs not started.
t0=$SECONDS
while :; do
    size=$(stat -c %s b.h5.journal 2>/dev/null || echo 0)
    [ "$size" -gt 64 ] && break
    [ $((SECONDS - t0)) -lt 120 ] || fail "job $b stored no run in 120 s (state $(job_field "$b" JobState))"
    sleep 0.2
done
scancel --signal=USR1 --batch "$b"
echo "test_slurm: job $b: sent SIGUSR1 to the batch shell after the first runs were stored"
state=$(wait_job_done "$b" 150)
[ "$state" = COMPLETED ] || fail "job $b (interrupted) ended $state"
log=distsweep-$b.out
restarts=$(job_field "$b" Restarts)
[ "$restarts" -ge 1 ] || fail "job $b was not requeued (Restarts=$restarts)"
grep -q 'distsweep exited with code 3' "$log" || fail "job $b: distsweep did not exit 3 on the signal"
grep -q 'interrupted: .* pending' "$log" || fail "job $b: distsweep did not report an interruption with runs pending"
grep -q "job $b (restart count 1)" "$log" || fail "job $b: the log does not show restart count 1"
grep -q 'sweep complete' "$log" || fail "job $b log lacks 'sweep complete'"
echo "test_slurm: job $b: interrupted, requeued ($restarts restart(s)), resumed, complete"

# Same runs, nothing lost or duplicated, bit-identical results.
"$python" "$src/tests/slurm/compare_results.py" a.h5 b.h5 || fail "b.h5 differs from a.h5 (see above)"

# 3. A sweep-file error: exit 2, not requeued.
c=$(sbatch "${opts[@]}" "$script" bad.yaml -o c.h5)
state=$(wait_job_done "$c" 60)
[ "$state" = FAILED ] || fail "job $c (bad sweep file) ended $state, expected FAILED"
[ "$(job_field "$c" ExitCode)" = "2:0" ] || fail "job $c exit code $(job_field "$c" ExitCode), expected 2:0"
[ "$(job_field "$c" Restarts)" = 0 ] || fail "job $c (bad sweep file) was requeued"
grep -q "unknown key 'learning_rate_typo'" "distsweep-$c.out" || fail "job $c log lacks the sweep-file error"
grep -q 'not requeued' "distsweep-$c.out" || fail "job $c log does not say it is not requeued"
[ ! -e c.h5 ] || fail "job $c wrote c.h5 for a bad sweep file"
echo "test_slurm: job $c: sweep-file error, exit 2, not requeued"

# 4. scancel mid-sweep: the job ends, is not requeued; resubmitting resumes it.
d=$(sbatch "${opts[@]}" "$script" tiny.yaml -o d.h5)
t0=$SECONDS
while [ "$(stat -c %s d.h5.journal 2>/dev/null || echo 0)" -le 64 ]; do
    [ $((SECONDS - t0)) -lt 120 ] || fail "job $d stored no run in 120 s (state $(job_field "$d" JobState))"
    sleep 0.2
done
scancel "$d"
state=$(wait_job_done "$d" 60)
[ "$state" = CANCELLED ] || fail "job $d (scancel) ended $state, expected CANCELLED"
sleep 3
[ "$(job_field "$d" JobState)" = CANCELLED ] || fail "job $d came back after scancel"
[ "$(job_field "$d" Restarts)" = 0 ] || fail "job $d was requeued after scancel"
grep -q 'not requeued' "distsweep-$d.out" || fail "job $d log does not say it is not requeued"
e=$(sbatch "${opts[@]}" "$script" tiny.yaml -o d.h5)
state=$(wait_job_done "$e" 150)
[ "$state" = COMPLETED ] || fail "job $e (resubmitted after scancel) ended $state"
"$python" "$src/tests/slurm/compare_results.py" a.h5 d.h5 || fail "d.h5 differs from a.h5 (see above)"
echo "test_slurm: job $d: scancel ends it without requeue; job $e resumes d.h5 to the same results"

failed=0
echo "test_slurm: all Slurm sweep checks passed"
