#!/usr/bin/env bash
# tests/slurm/sweep_test.sh — `lossviz sweep --slurm` on a real one-node Slurm cluster.
#
#   tests/slurm/sweep_test.sh LOSSVIZ_PROGRAM
#
# Starts munged, slurmctld and slurmd (Debian's munge and slurm-wlm) in a temporary folder,
# with their own ports, state folders, munge key and socket, and checks:
#   1. a 4-configuration sweep through Slurm gives the same table as the same sweep run here
#      (every column but seconds and source);
#   2. with one array task cancelled (scancel), the sweep names it, its log and exits 1, and
#      the sweep run again submits that one configuration only;
#   3. two tasks training the same configuration at once leave one valid cache entry and no
#      temporary files;
#   4. `--no-wait` returns with the job id, and the same sweep run while that job is queued
#      waits for it instead of submitting again.
# Prints the local and Slurm wall times and each task's wait from submission to start.
# Everything it started is stopped by process id, and the folder removed, however it ends
# (KEEP=1 keeps the folder). Needs root: slurmd runs each job as the user who submitted it.
set -euo pipefail

LOSSVIZ="$(realpath "${1:?usage: $0 LOSSVIZ_PROGRAM}")"
say() { printf '[slurm-test] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
[ "$(nproc)" -ge 2 ] || fail "needs 2 CPUs or more (two tasks must run at once)"
source "$(dirname "$0")/cluster.sh"
cluster_start

# --- the sweep ------------------------------------------------------------------------------
DATASET=mnist
"$LOSSVIZ" locate --dataset mnist >/dev/null 2>&1 || DATASET=fashion-mnist
# One thread everywhere, so the local run computes exactly what a one-CPU task computes, and
# the CPU even where a GPU is (GPU training is not bit-for-bit repeatable).
export OMP_NUM_THREADS=1 LOSSVIZ_DEVICE=cpu
# The partition can be closed, so that tasks wait in the queue until a step of the test has
# looked at them.
partition() { scontrol update PartitionName=test State="$1"; }
job_of() { sed -n 's/.*as Slurm array job \([0-9]*\).*/\1/p' "$1"; }
printed() { grep -q "$2" "$1"; }
SWEEP=(sweep --dataset "$DATASET" --limit 2000 --epochs 2 --base center --vary center.lambda=0.01,1 --vary lr=0.01,0.05)
sweep_here() { LOSSVIZ_RUNS="$ROOT/runs-local" timeout 900 "$LOSSVIZ" "${SWEEP[@]}" --out "$ROOT/out-local"; }
sweep_slurm() { LOSSVIZ_RUNS="$ROOT/runs" timeout 900 "$LOSSVIZ" "${SWEEP[@]}" --out "$ROOT/out-slurm" --slurm --cpus-per-task 1 "$@"; }
# table.md without the seconds and source columns.
comparable() { cut -d'|' -f2-8 "$1"; }

start=$SECONDS
sweep_here > "$ROOT/log/local.out" 2>&1 || { cat "$ROOT/log/local.out" >&2; fail "the local sweep failed"; }
LOCAL_S=$((SECONDS - start))
start=$SECONDS
sweep_slurm > "$ROOT/log/slurm.out" 2>&1 || { cat "$ROOT/log/slurm.out" >&2; fail "the Slurm sweep failed"; }
SLURM_S=$((SECONDS - start))
cat "$ROOT/log/slurm.out" >&2
[ "$(grep -c 'trained by task' "$ROOT/log/slurm.out")" = 4 ] || fail "expected 4 runs trained by Slurm tasks"
if ! diff <(comparable "$ROOT/out-local/table.md") <(comparable "$ROOT/out-slurm/table.md") >&2; then
  fail "the Slurm sweep's table differs from the local one (above: < local, > Slurm)"
fi
say "1. the Slurm sweep's table equals the local one; 4 configurations: here $LOCAL_S s, through Slurm $SLURM_S s"
JOB="$(job_of "$ROOT/log/slurm.out")"
# Submission to start, per task, while Slurm still remembers the job.
scontrol -o show job "$JOB" | python3 -c '
import sys, datetime
def when(text): return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
for line in sys.stdin:
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    wait = (when(f["StartTime"]) - when(f["SubmitTime"])).total_seconds()
    print("[slurm-test]    task %s: %.0f s from submission to start, %s" % (f.get("ArrayTaskId"), wait, f["JobState"]))' >&2

# --- 2. a cancelled task, and the rerun ------------------------------------------------------
rm -rf "$ROOT/runs"
partition DOWN
sweep_slurm > "$ROOT/log/cancelled.out" 2>&1 &
SWEEP_PID=$!
wait_for 30 printed "$ROOT/log/cancelled.out" "as Slurm array job" || { cat "$ROOT/log/cancelled.out" >&2; fail "the sweep printed no job id"; }
JOB="$(job_of "$ROOT/log/cancelled.out")"
scancel "${JOB}_3"
partition UP
status=0; wait "$SWEEP_PID" || status=$?
cat "$ROOT/log/cancelled.out" >&2
[ $status -eq 1 ] || fail "a sweep with a cancelled task should exit 1, exited $status"
printed "$ROOT/log/cancelled.out" "task 3 of Slurm job $JOB never started" || fail "the cancelled task is not reported as never started"
[ ! -e "$ROOT/runs/slurm/"*/"task-${JOB}_3.log" ] || fail "a task cancelled before it started has a log"
printed "$ROOT/out-slurm/table.md" '| missing |' || fail "the table does not list the missing run"
sweep_slurm > "$ROOT/log/rerun.out" 2>&1 || { cat "$ROOT/log/rerun.out" >&2; fail "the rerun failed"; }
cat "$ROOT/log/rerun.out" >&2
grep -q "submitted 1 configuration(s)" "$ROOT/log/rerun.out" || fail "the rerun did not submit exactly one configuration"
[ "$(grep -c 'trained by task' "$ROOT/log/rerun.out")" = 1 ] || fail "the rerun trained other than one configuration"
[ "$(grep -c 'loaded from the cache' "$ROOT/log/rerun.out")" = 3 ] || fail "the rerun did not load the other three"
diff <(comparable "$ROOT/out-local/table.md") <(comparable "$ROOT/out-slurm/table.md") >&2 || fail "the rerun's table differs from the local one"
say "2. task 3 cancelled while queued: reported as never started, exit 1; the rerun trained only it"

# --- 3. two tasks, one configuration, at once -------------------------------------------------
PLAN_DIR="$(sed -n 's/.*(plan and logs in \(.*\))$/\1/p' "$ROOT/log/rerun.out")"
ENTRY="$ROOT/runs/$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tasks"][0]["entry"])' "$PLAN_DIR/plan.json")"
[ -f "$ENTRY/run.json" ] || fail "no cache entry at $ENTRY"
rm -rf "$ENTRY"
A="$(sbatch --parsable --array=0 --cpus-per-task=1 --output="$PLAN_DIR/race-%A.log" "$PLAN_DIR/job.sh")"
B="$(sbatch --parsable --array=0 --cpus-per-task=1 --output="$PLAN_DIR/race-%A.log" "$PLAN_DIR/job.sh")"
wait_for 300 queue_empty || fail "jobs $A and $B did not finish in 5 minutes"
for job in "$A" "$B"; do
  grep -q ": training " "$PLAN_DIR/race-$job.log" || { cat "$PLAN_DIR/race-$job.log" >&2; fail "job $job did not train (the two did not overlap)"; }
  grep -q ": test accuracy .*stored in" "$PLAN_DIR/race-$job.log" || { cat "$PLAN_DIR/race-$job.log" >&2; fail "job $job did not store its run"; }
done
left="$(ls -A "$ENTRY" | grep -vx -e run.json -e weights.ot || true) $(ls -A "$ROOT/runs" | grep tmp || true)"
left="${left# }"
[ -z "$left" ] || fail "temporary files left in the entry or the cache: $left"
sweep_slurm > "$ROOT/log/after-race.out" 2>&1 || { cat "$ROOT/log/after-race.out" >&2; fail "the sweep after the race failed"; }
[ "$(grep -c 'loaded from the cache' "$ROOT/log/after-race.out")" = 4 ] || { cat "$ROOT/log/after-race.out" >&2; fail "the raced entry did not load"; }
diff <(comparable "$ROOT/out-local/table.md") <(comparable "$ROOT/out-slurm/table.md") >&2 || fail "the table after the race differs"
say "3. jobs $A and $B trained one configuration at once: one valid entry, no temporary files"

# --- 4. --no-wait, then the same sweep while its job is queued -------------------------------
rm -rf "$ROOT/runs"
partition DOWN
sweep_slurm --no-wait > "$ROOT/log/no-wait.out" 2>&1 || { cat "$ROOT/log/no-wait.out" >&2; fail "--no-wait failed"; }
JOB="$(job_of "$ROOT/log/no-wait.out")"
[ -n "$JOB" ] || { cat "$ROOT/log/no-wait.out" >&2; fail "--no-wait printed no job id"; }
[ -n "$(squeue -h -j "$JOB")" ] || fail "--no-wait returned, but job $JOB is not queued"
sweep_slurm > "$ROOT/log/joined.out" 2>&1 &
SWEEP_PID=$!
wait_for 30 printed "$ROOT/log/joined.out" "already queued (Slurm job $JOB)" || { partition UP; cat "$ROOT/log/joined.out" >&2; fail "it did not wait for job $JOB"; }
partition UP
status=0; wait "$SWEEP_PID" || status=$?
[ $status -eq 0 ] || { cat "$ROOT/log/joined.out" >&2; fail "the sweep run during the queued job exited $status"; }
! printed "$ROOT/log/joined.out" "submitted" || { cat "$ROOT/log/joined.out" >&2; fail "it submitted again while job $JOB was queued"; }
diff <(comparable "$ROOT/out-local/table.md") <(comparable "$ROOT/out-slurm/table.md") >&2 || fail "the joined sweep's table differs"
say "4. --no-wait returned with job $JOB queued; the same sweep then waited for it and submitted nothing"
say "passed"
