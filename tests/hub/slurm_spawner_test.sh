#!/usr/bin/env bash
# tests/hub/slurm_spawner_test.sh — a student's JupyterLab as a Slurm job.
#
#   tests/hub/slurm_spawner_test.sh REPO PREFIX
#
# Starts a one-node Slurm cluster of its own (tests/slurm/cluster.sh), then runs
# tests/hub/hub_test.py --slurm against the shared set-up in PREFIX: `./kernel-setup.sh hub
# --slurm` starts one student's server through batchspawner's SlurmSpawner, the lesson's first
# cells run on it, and stopping the server ends the job. Needs root.
set -euo pipefail
REPO="$(realpath "${1:?usage: $0 REPO PREFIX}")" PREFIX="$(realpath "${2:?usage: $0 REPO PREFIX}")"
say() { printf '[slurm-spawner-test] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
getent hosts "$(hostname -s)" >/dev/null || fail "this machine's name $(hostname -s) does not resolve (/etc/hosts): the hub reaches a Slurm job's server by its node's name"
source "$REPO/tests/slurm/cluster.sh"
cluster_start
"$PREFIX/cache/venv/bin/python" "$REPO/tests/hub/hub_test.py" "$REPO" "$PREFIX" --slurm || fail "see above"
say passed
