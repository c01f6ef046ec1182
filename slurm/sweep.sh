#!/usr/bin/env bash
# slurm/sweep.sh: run (or resume) one distsweep sweep as one Slurm job.
#
#   sbatch slurm/sweep.sh SWEEP.yaml [distsweep run options, e.g. -o OUT.h5]
#   SWEEP=sweeps/addition.yaml sbatch slurm/sweep.sh
#
# One allocation, N ranks, one GPU per rank; rank 0 schedules the (scale, seed) runs and writes
# the result file (the sweep file's `output:`, relative to the directory you submit from).
# Shortly before the time limit Slurm sends USR1 to this script (--signal=B:USR1@...); the
# script forwards it to the ranks, distsweep checkpoints every pack at the next step boundary
# and exits 3, and the script requeues the job (same job id, same log). The requeued job runs
# the same command, which resumes the same result file. Exit codes of distsweep:
#   0  sweep complete                     -> the job ends successfully
#   2  usage or sweep-file error          -> the job fails, never requeued (fix the file)
#   3  interrupted, resumable             -> requeued if the warning signal (USR1) caused it;
#                                            after scancel/TERM not requeued (resubmit to resume)
#   4  storage failure (disk full,        -> the job fails, never requeued: a requeue would hit
#      read-only, I/O error)                 the same disk; nothing finished is lost, free space
#                                            and resubmit the same command to resume
#   *  anything else                      -> the job fails, not requeued; the log says why
# After copying a sweep's output between clusters (or after a disk error), check it before
# resuming: `distsweep verify OUT.h5` reads every artifact (the result file against its journal,
# the stored models, the checkpoints) and exits 1 on damage; `--repair` rebuilds what it can and
# sets the damaged copies aside (docs/result-file.md "Damaged files").
# Full documentation: docs/slurm.md.
#
# ---- Edit these defaults for your cluster (command-line sbatch options override them) ----
#SBATCH --job-name=distsweep
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
##SBATCH --partition=gpu
##SBATCH --account=my_project
# Warning signal to this batch shell 5 minutes before the time limit (Slurm may deliver it up
# to a minute early); it must leave time for one training step plus a checkpoint.
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
# One log per job id; a requeued job appends to it instead of overwriting the earlier runs.
#SBATCH --output=distsweep-%j.out
#SBATCH --open-mode=append
# -------------------------------------------------------------------------------------------
#
# Environment variables (all optional):
#   SWEEP      sweep file, when not given as the first argument
#   DISTSWEEP  the distsweep executable; default build/distsweep in the submit directory
#   DISTSWEEP_LAUNCH  how to start the ranks: auto (default: srun --mpi=pmix, else
#              srun --mpi=pmi2, else mpirun), pmix, pmi2 or mpirun
#   DISTSWEEP_MAX_RESTARTS  stop requeueing after this many restarts (default 100), so that a
#              job whose time limit is shorter than the warning time cannot loop for ever
#   (DS_LAUNCH and DS_MAX_RESTARTS, their former names, still work, with a note in the log)

set -uo pipefail

log() { printf '[distsweep-slurm %s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

# The value of variable $1 (DISTSWEEP_*), else of its former name $2 with a deprecation note
# on stderr, else $3.
env_or_old() {
    if [ -n "${!1:-}" ]; then
        printf '%s' "${!1}"
    elif [ -n "${!2:-}" ]; then
        log "note: $2 is deprecated, set $1 instead" >&2
        printf '%s' "${!2}"
    else
        printf '%s' "$3"
    fi
}

submit_dir=${SLURM_SUBMIT_DIR:-$PWD}
job_id=${SLURM_JOB_ID:-}
restarts=${SLURM_RESTART_COUNT:-0}
max_restarts=$(env_or_old DISTSWEEP_MAX_RESTARTS DS_MAX_RESTARTS 100)

# ---- arguments --------------------------------------------------------------------------------
sweep=${SWEEP:-}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    sweep=$1
    shift
fi
if [ -z "$sweep" ]; then
    log "usage: sbatch slurm/sweep.sh SWEEP.yaml [distsweep options]  (or set SWEEP=...)"
    exit 2
fi
if [ -z "$job_id" ]; then
    log "not inside a Slurm job (no SLURM_JOB_ID): submit with sbatch, or run distsweep directly"
    exit 2
fi
distsweep=${DISTSWEEP:-$submit_dir/build/distsweep}
if [ ! -x "$distsweep" ]; then
    log "distsweep executable '$distsweep' not found: build it (see README) or set DISTSWEEP"
    exit 1
fi

# ---- launcher: srun with PMIx or PMI-2, whichever this Slurm has, else mpirun ------------------
ntasks=${SLURM_NTASKS:-1}
cpus_per_task=${SLURM_CPUS_PER_TASK:-1}
launch=$(env_or_old DISTSWEEP_LAUNCH DS_LAUNCH auto)
if [ "$launch" = auto ]; then
    mpi_types=$(srun --mpi=list 2>&1 || true)
    if grep -qw pmix <<<"$mpi_types"; then
        launch=pmix
    elif grep -qw pmi2 <<<"$mpi_types"; then
        launch=pmi2
    else
        launch=mpirun
    fi
fi
# One GPU per rank when the job has GPUs; a CPU-only job (--gpus-per-node=0) asks for none.
gpus_on_node=${SLURM_GPUS_ON_NODE:-0}
case "$launch" in
    pmix | pmi2)
        # srun (since Slurm 22.05) does not inherit --cpus-per-task from sbatch: pass it on.
        # --kill-on-bad-exit=0: a rank that exits 3 first must not get the others killed in the
        # middle of writing their checkpoints (sites may set KillOnBadExit=1).
        launcher=(srun --mpi="$launch" --ntasks="$ntasks" --cpus-per-task="$cpus_per_task" --kill-on-bad-exit=0)
        if [ "$gpus_on_node" -gt 0 ] 2>/dev/null; then
            launcher+=(--gpus-per-task=1)
        fi
        ;;
    mpirun)
        # Open MPI's mpirun reads the allocation from Slurm; distsweep picks the GPU
        # local rank modulo the visible devices, which is one GPU per rank when
        # ntasks-per-node equals gpus-per-node.
        launcher=(mpirun -np "$ntasks" --bind-to none)
        ;;
    *)
        log "DISTSWEEP_LAUNCH='$launch' is not one of auto, pmix, pmi2, mpirun"
        exit 2
        ;;
esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$cpus_per_task}

cmd=("${launcher[@]}" "$distsweep" run "$sweep" "$@")
log "job $job_id (restart count $restarts) on ${SLURM_JOB_NODELIST:-?}: $ntasks ranks, ${gpus_on_node} GPUs per node, $cpus_per_task CPUs per rank"
log "submit dir $submit_dir; sweep $sweep"
log "command: ${cmd[*]}"

# ---- run, forwarding the warning signal ----------------------------------------------------------
# The ranks run in a background child and this shell waits with `wait`, so that a trapped
# signal runs its handler at once (bash defers traps until a foreground command ends).
child=""
signals=0
last_signal=""
got_usr1=0      # the warning signal (--signal=B:USR1@..., or scancel --signal=USR1 --batch)
got_term=0      # TERM/INT: scancel, the time limit itself, or preemption
requeueing=0
# shellcheck disable=SC2317  # invoked by the traps below
on_signal() {
    signals=$((signals + 1))
    last_signal=$1
    if [ "$1" = USR1 ]; then got_usr1=1; else got_term=1; fi
    if [ "$requeueing" -eq 1 ]; then
        return # the requeue we asked for is ending this run
    fi
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        # USR1 whatever arrived: distsweep treats USR1 and TERM alike, srun and mpirun both
        # forward USR1 to every rank, and mpirun would turn a TERM into killing the ranks.
        log "got SIG$1: asking distsweep to checkpoint and stop (SIGUSR1 to the ranks)"
        kill -USR1 "$child" 2>/dev/null || true
    fi
}
trap 'on_signal USR1' USR1
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

# Runs after this batch shell has exited (see the requeue below). It waits 3 s after the job is
# pending again before StartTime=now: the nodes revoked this job id's launch credential when the
# old run was killed, and a credential made in the same second (or one a node's clock sees so)
# is refused, which fails the job for good ("Job credential revoked"; seen here). A future
# StartTime would avoid that too, but then the job waits for the next periodic scheduling pass
# (30 s or more) instead of being scheduled at once.
clear_requeue_delay() {
    local state
    for _ in $(seq 1 240); do
        state=$(scontrol show job "$job_id" 2>/dev/null | grep -o 'JobState=[A-Z_]*')
        if [ "$state" = JobState=PENDING ]; then
            sleep 3
            if scontrol update JobId="$job_id" StartTime=now 2>/dev/null; then
                log "requeued job $job_id released: it starts as soon as resources allow"
            else
                log "note: could not lift the requeue hold; job $job_id starts in about two minutes"
            fi
            return 0
        fi
        sleep 0.5
    done
}

cd "$submit_dir" || exit 1
start=$SECONDS
if [ "$signals" -gt 0 ]; then
    # The warning came before the ranks were started (the job had just begun): there is
    # nothing to checkpoint, so handle it as an interruption with nothing lost.
    log "SIG$last_signal arrived before distsweep started: not starting it"
    rc=3
else
    "${cmd[@]}" &
    child=$!
    while :; do
        seen=$signals
        wait "$child"
        rc=$?
        # A signal interrupts `wait`; wait again (bash keeps the child's status once it exited).
        [ "$signals" -eq "$seen" ] && break
    done
    child=""
fi
log "distsweep exited with code $rc after $((SECONDS - start)) s${last_signal:+ (received SIG$last_signal)}"

case "$rc" in
    0)
        log "sweep complete"
        exit 0
        ;;
    2)
        log "usage or sweep-file error (exit 2): not requeued; fix the sweep file or options and resubmit"
        exit 2
        ;;
    4)
        log "the results or a checkpoint could not be written (exit 4: disk full, read-only or I/O"
        log "error; distsweep's message above names the file): not requeued. Nothing finished is"
        log "lost: free space (or fix the file system) and resubmit the same command to resume"
        exit 4
        ;;
    3 | 138)
        # 138 = killed by SIGUSR1: the forwarded signal reached a rank before distsweep had
        # installed its handler (start-up). The result file survives any kill: resuming is safe.
        # Only the warning signal requeues. TERM means the job is being ended on purpose:
        # `scancel` (Slurm would requeue even a cancelled job), the time limit reached before
        # the warning was handled, or preemption (where Slurm requeues by itself if configured).
        if [ "$got_term" -eq 1 ] || [ "$got_usr1" -eq 0 ]; then
            if [ "$got_term" -eq 1 ]; then
                log "stopped by SIG$last_signal (scancel, time limit or preemption): not requeued"
            else
                log "distsweep was interrupted (exit $rc) by a signal sent to the ranks, not to this"
                log "script (use scancel --signal=USR1 --batch to requeue): not requeued"
            fi
            log "checkpoints are kept: resubmit the same command to resume"
            exit "$rc"
        fi
        if [ "$restarts" -ge "$max_restarts" ]; then
            log "interrupted (exit 3) but already restarted $restarts times (DISTSWEEP_MAX_RESTARTS):"
            log "not requeued; is --time shorter than the --signal warning time? Resubmit to resume"
            exit 3
        fi
        log "interrupted with checkpoints written (exit 3): requeueing job $job_id"
        # From here on the requeue ends this run: its TERM is ignored, here, by scontrol and
        # by the helper below, which all inherit that.
        requeueing=1
        trap '' TERM INT USR1 HUP
        if ! out=$(scontrol requeue "$job_id" 2>&1); then
            log "scontrol requeue failed ($out): not requeued; resubmit the same command to resume"
            exit 3
        fi
        # Slurm holds a requeued job for cred_expire+1 s (about two minutes) once this run has
        # ended, and only then can the hold be lifted: a helper that outlives this shell waits
        # for the job to be pending again and sets StartTime=now. Best effort: where the job's
        # processes are tracked with cgroups the helper ends with the job, which then simply
        # starts two minutes later.
        clear_requeue_delay &
        disown
        log "requeued; the next run resumes the same result file"
        exit 0
        ;;
    *)
        if [ "$rc" -gt 128 ]; then
            why="killed by signal $((rc - 128))"
        else
            why="error (exit $rc)"
        fi
        log "distsweep ended with an $why: not requeued, since rerunning would likely fail the"
        log "same way; see the messages above, then resubmit the same command to resume"
        exit "$rc"
        ;;
esac
