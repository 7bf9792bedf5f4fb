#!/usr/bin/env bash
# scripts/fresh-machine.sh — the set-up and the tests as a new user meets them.
#
#   scripts/fresh-machine.sh [--reuse-heavy] [--lab-only] [--keep]
#
# Copies this checkout (its tracked and unignored files, as a clone would have them) and
# makes an empty home in a new folder, then, with HOME, CARGO_HOME, the XDG folders,
# LOSSVIZ_CACHE, pip's and npm's caches and Jupyter's folders all inside that home:
#   1. runs the README's test command, ./kernel-setup.sh test;
#   2. starts ./kernel-setup.sh lab and has a headless browser run a small notebook in it
#      that loads lossviz through the "Rust (lossviz)" kernel.
# Kept from this machine, as a new machine has them too: the Rust toolchain (RUSTUP_HOME,
# and the cargo and rustc on PATH), pyenv's Pythons, Debian's packages, and the package
# clients' settings (~/.npmrc, pip's config files, cargo's config.toml).
#
# --reuse-heavy  hard-link libtorch and the evcxr binary from this user's cache
#                (~/.cache/lossviz or LOSSVIZ_CACHE) instead of downloading and building them;
#                everything else, the cargo registry among it, still starts empty. Whatever
#                of the two this run had to make is moved into that cache for the next run.
#                CI runs this.
# --lab-only     skip step 1: `./kernel-setup.sh lab` is then the first command the new home
#                sees, so it does the whole set-up itself before JupyterLab starts.
# --keep         leave the folder behind (it is removed otherwise, also on failure).
#
# Prints the time of each phase and the total. Exit status: that of the first failing phase.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REUSE=0 KEEP=0 LAB_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --reuse-heavy) REUSE=1 ;;
    --lab-only) LAB_ONLY=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-machine: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[fresh-machine] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

REAL_HOME="$HOME"
REAL_CACHE="${LOSSVIZ_CACHE:-$HOME/.cache/lossviz}"
REAL_CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
# Must match kernel-setup.sh's names for the two heavy things.
TORCH_VERSION="$(sed -n 's/^TORCH_VERSION=//p' "$REPO/kernel-setup.sh")"
HEAVY=("libtorch-$TORCH_VERSION-cpu" evcxr)

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/lossviz-fresh-XXXXXX")"
LAB_PGID=""
cleanup() {
  local status=$?
  if [ -n "$LAB_PGID" ]; then kill -TERM -- "-$LAB_PGID" 2>/dev/null || true; sleep 1; kill -KILL -- "-$LAB_PGID" 2>/dev/null || true; fi
  if [ $KEEP -eq 1 ]; then say "kept $ROOT"; else rm -rf "$ROOT"; fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TIMES=() STARTED=$SECONDS
timed() {
  local name="$1" start=$SECONDS; shift
  say "phase: $name"
  "$@" || { say "phase '$name' failed after $((SECONDS - start)) s"; exit 1; }
  TIMES+=("$name $((SECONDS - start)) s")
}

# --- the copy and the empty home ------------------------------------------------------
CLONE="$ROOT/lossviz" NEW_HOME="$ROOT/home"

copy_checkout() {
  mkdir -p "$CLONE"
  (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
     | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
     | tar --null -T - -cf -) | tar -xf - -C "$CLONE"
}

make_home() {
  mkdir -p "$NEW_HOME/.cache" "$NEW_HOME/.config" "$NEW_HOME/.local/share" "$NEW_HOME/.local/state" "$NEW_HOME/.cargo"
  # The clients' registry settings, not their caches.
  local f
  for f in .npmrc .config/pip/pip.conf .pip/pip.conf; do
    if [ -f "$REAL_HOME/$f" ]; then mkdir -p "$(dirname "$NEW_HOME/$f")"; cp "$REAL_HOME/$f" "$NEW_HOME/$f"; fi
  done
  for f in config.toml config; do
    [ -f "$REAL_CARGO_HOME/$f" ] && cp "$REAL_CARGO_HOME/$f" "$NEW_HOME/.cargo/$f"
  done
  if [ $REUSE -eq 1 ]; then
    mkdir -p "$NEW_HOME/.cache/lossviz"
    local h
    for h in "${HEAVY[@]}"; do
      if [ -d "$REAL_CACHE/$h" ]; then
        cp -al "$REAL_CACHE/$h" "$NEW_HOME/.cache/lossviz/$h" 2>/dev/null || cp -a "$REAL_CACHE/$h" "$NEW_HOME/.cache/lossviz/$h"
        say "reusing $REAL_CACHE/$h"
      else
        say "$REAL_CACHE/$h is not there yet: this run makes it"
      fi
    done
  fi
}

# Everything a user's home decides, pointed into the new one.
enter_home() {
  local pyenv_root=""
  command -v pyenv >/dev/null && pyenv_root="$(pyenv root)"
  while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(LOSSVIZ_[A-Z_]*\|JUPYTER_[A-Z_]*\|XDG_[A-Z_]*\|PIP_CACHE_DIR\|npm_config_cache\|CARGO_TARGET_DIR\)=.*/\1/p')
  export RUSTUP_HOME="${RUSTUP_HOME:-$REAL_HOME/.rustup}"
  [ -n "$pyenv_root" ] && export PYENV_ROOT="$pyenv_root"
  export HOME="$NEW_HOME"
  export CARGO_HOME="$NEW_HOME/.cargo"
  export XDG_CACHE_HOME="$NEW_HOME/.cache" XDG_CONFIG_HOME="$NEW_HOME/.config"
  export XDG_DATA_HOME="$NEW_HOME/.local/share" XDG_STATE_HOME="$NEW_HOME/.local/state"
  export LOSSVIZ_CACHE="$NEW_HOME/.cache/lossviz"
  export PIP_CACHE_DIR="$NEW_HOME/.cache/pip" npm_config_cache="$NEW_HOME/.npm"
}

# --- the phases ---------------------------------------------------------------------------
readme_test() {
  (cd "$CLONE" && ./kernel-setup.sh test)
}

# `./kernel-setup.sh lab` as a student starts it, and a notebook of two cells run in it
# through the browser: the kernel must load lossviz and compute with libtorch.
lab_check() {
  local port token nb="$CLONE/notebooks/fresh-machine-check.ipynb"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  token="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  python3 - "$nb" <<'PY'
import json, sys
cells = [':dep lossviz = { path = "../crate" }\nuse lossviz::prelude::*;\nprintln!("lossviz loaded");',
         'let device = default_device()?;\nlet t = Tensor::ones([2, 2], (Kind::Float, device)).matmul(&Tensor::ones([2, 2], (Kind::Float, device)));\n'
         'println!("{} -> sum {}", describe(device), t.sum(Kind::Float).double_value(&[]));']
nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in cells],
      "metadata": {"kernelspec": {"name": "lossviz-rust", "display_name": "Rust (lossviz)", "language": "rust"}},
      "nbformat": 4, "nbformat_minor": 5}
json.dump(nb, open(sys.argv[1], "w"), indent=1)
PY
  local root_flag=(); [ "$(id -u)" -eq 0 ] && root_flag=(--allow-root)
  (cd "$CLONE" && exec setsid ./kernel-setup.sh lab --no-browser --ip=127.0.0.1 --port="$port" \
     --IdentityProvider.token="$token" "${root_flag[@]}") > "$ROOT/lab.log" 2>&1 &
  LAB_PGID=$!
  # The set-up runs first inside `lab` (all of it, with --lab-only), then JupyterLab starts.
  local waited=0
  until python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=5)" \
      "http://127.0.0.1:$port/api/status?token=$token" 2>/dev/null; do
    if ! kill -0 "$LAB_PGID" 2>/dev/null || [ $waited -ge 3600 ]; then
      say "JupyterLab did not start (waited $waited s); its log:"; tail -40 "$ROOT/lab.log" >&2; return 1
    fi
    sleep 5; waited=$((waited + 5))
  done
  # The browser and its driver: there already after `test`, installed here with --lab-only.
  (cd "$CLONE" && ./kernel-setup.sh test-tools) || return 1
  local ok=0
  # Two cells on a pre-built kernel: seconds. Ten minutes means something hangs.
  if LAB_URL="http://127.0.0.1:$port" LAB_TOKEN="$token" LAB_NOTEBOOK=fresh-machine-check.ipynb \
       LAB_EXPECT="sum 8" LAB_RUN_TIMEOUT_S=600 node "$CLONE/tests/browser/lab_test.mjs" "$CLONE"; then ok=1; fi
  # On failure, what the kernel and its compiler were doing, before they are stopped.
  [ $ok -eq 1 ] || { say "kernel processes:"; ps -eo pid,ppid,etimes,stat,wchan:20,args | grep -E '[e]vcxr|[c]argo|[r]ustc' | cut -c1-240 >&2 || true; }
  kill -TERM -- "-$LAB_PGID" 2>/dev/null || true
  wait "$LAB_PGID" 2>/dev/null || true
  LAB_PGID=""
  if [ $ok -eq 0 ]; then say "JupyterLab's log:"; tail -120 "$ROOT/lab.log" >&2; return 1; fi
}

# What this run had to download or build goes back to the user's cache.
# A heavy thing whose stamp (.version: the evcxr build) changed was rebuilt here, so the new one
# replaces the cache's.
hand_back_heavy() {
  local h new
  for h in "${HEAVY[@]}"; do
    new="$NEW_HOME/.cache/lossviz/$h"
    [ -d "$new" ] || continue
    if [ -d "$REAL_CACHE/$h" ]; then
      { [ -f "$new/.version" ] && ! cmp -s "$new/.version" "$REAL_CACHE/$h/.version"; } || continue
      rm -rf "$REAL_CACHE/$h.old" && mv "$REAL_CACHE/$h" "$REAL_CACHE/$h.old"
    fi
    mkdir -p "$REAL_CACHE" && mv "$new" "$REAL_CACHE/$h" && rm -rf "$REAL_CACHE/$h.old" \
      && say "kept $h ($(cat "$REAL_CACHE/$h/.version" 2>/dev/null || echo new)) in $REAL_CACHE for the next run"
  done
}

say "fresh home in $ROOT$([ $REUSE -eq 1 ] && echo ', reusing libtorch and evcxr')"
timed "copy of the checkout" copy_checkout
make_home
enter_home
[ $LAB_ONLY -eq 1 ] || timed "./kernel-setup.sh test" readme_test
timed "./kernel-setup.sh lab + browser" lab_check
[ $REUSE -eq 1 ] && hand_back_heavy
say "passed. $(IFS=,; echo "${TIMES[*]}" | sed 's/,/, /g'); total $((SECONDS - STARTED)) s"
