#!/usr/bin/env bash
# The benchmark of BENCHMARKS.md in one command: the PyTorch reference and lossviz on the
# same data, settings and thread count, interleaved; prints the ratios.
#
#   ./bench/run.sh [--limit N] [--repeats 3] [--threads N] [--loss xent|center] [--out FILE.md]
#
# Needs ./kernel-setup.sh install first (libtorch, the data). The PyTorch side runs in
# ~/.cache/lossviz/bench-venv, created here from PyPI on first use: torch==2.13.0 with its
# CUDA dependencies, several GB (PyPI has no CPU-only build), so this is opt-in, not in CI.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LOSSVIZ_CACHE:-$HOME/.cache/lossviz}"
VENV="$CACHE/bench-venv"
say() { echo "bench: $*" >&2; }

[ -f "$REPO/.cargo/config.toml" ] || { say "run ./kernel-setup.sh install first (it provides libtorch)"; exit 1; }
if ! "$VENV/bin/python" -c 'import torch, numpy' 2>/dev/null; then
  say "creating $VENV with torch==2.13.0 from PyPI (several GB, once)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --find-links "$CACHE/wheels" torch==2.13.0 numpy
fi
(cd "$REPO" && cargo build --release -q -p lossviz-bench -p lossviz --features lossviz/cli)
DATA="$("$REPO/target/release/lossviz" locate --dataset fashion-mnist)"
exec "$VENV/bin/python" "$REPO/bench/compare.py" --python "$VENV/bin/python" \
  --ours "$REPO/target/release/lossviz-bench" --data "$DATA" "$@"
