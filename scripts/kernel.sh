# Sourced by kernel-setup.sh: the evcxr Jupyter kernel "Rust (lossviz)" and the notebook tests.
# Uses CACHE, REPO, LIBTORCH_DIR, say, die and apt_install from kernel-setup.sh.

VENV="$CACHE/venv"
EVCXR_ROOT="$CACHE/evcxr"
KERNEL_HOME="$CACHE/kernel"
KERNEL_NAME="lossviz-rust"

install_venv() {
  local req="$REPO/scripts/requirements-notebook.txt" stamp="$VENV/.requirements"
  if [ -x "$VENV/bin/jupyter" ] && cmp -s "$req" "$stamp"; then return 0; fi
  local py; py="$(pick_python)"
  say "installing JupyterLab and nbclient into $VENV"
  [ -x "$VENV/bin/pip" ] || "$py" -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$req" || die "pip could not install $req"
  cp "$req" "$stamp"
}

# evcxr_jupyter takes about 14 minutes to compile on two cores: built once, never again.
install_evcxr() {
  local stamp="$EVCXR_ROOT/.version"
  if [ -x "$EVCXR_ROOT/bin/evcxr_jupyter" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$EVCXR_VERSION" ]; then
    return 0
  fi
  say "building evcxr_jupyter $EVCXR_VERSION (about 15 minutes, once)"
  cargo install --locked --quiet evcxr_jupyter --version "$EVCXR_VERSION" --root "$EVCXR_ROOT" \
    || die "cargo install evcxr_jupyter failed (see above)"
  echo "$EVCXR_VERSION" > "$stamp"
}

# The kernel starts through a small launcher that gives each running kernel a build folder
# of its own (evcxr's default is a temporary folder deleted at exit, so every start would
# rebuild tch and lossviz; one shared folder would let two kernels overwrite each other).
# Slot 0 is the one the set-up pre-builds; a new slot starts from a copy of it.
write_kernel() {
  mkdir -p "$KERNEL_HOME/spec" "$KERNEL_HOME/evcxr-config" "$CACHE/evcxr-build"
  local cargo_bin; cargo_bin="$(dirname "$(command -v cargo)")"
  cat > "$KERNEL_HOME/lossviz-kernel" <<LAUNCHER
#!/usr/bin/env bash
# Written by kernel-setup.sh. Starts evcxr_jupyter for the "Rust (lossviz)" kernel.
set -u
export PATH="$cargo_bin:\$PATH"
builds="$CACHE/evcxr-build"
# bench/notebook_start.py times a cold start in a build folder of its own.
if [ -n "\${LOSSVIZ_EVCXR_TMPDIR:-}" ]; then
  export EVCXR_TMPDIR="\$LOSSVIZ_EVCXR_TMPDIR"
  exec "$EVCXR_ROOT/bin/evcxr_jupyter" "\$@"
fi
for n in 0 1 2 3 4 5 6 7; do
  exec 9>"\$builds/slot-\$n.lock"
  if flock -n 9; then
    if [ "\$n" -ne 0 ] && [ ! -d "\$builds/slot-\$n/target" ] && [ -d "\$builds/slot-0/target" ]; then
      mkdir -p "\$builds/slot-\$n" && cp -a "\$builds/slot-0/target" "\$builds/slot-\$n/" 2>/dev/null
    fi
    export EVCXR_TMPDIR="\$builds/slot-\$n"
    exec "$EVCXR_ROOT/bin/evcxr_jupyter" "\$@"
  fi
  exec 9>&-
done
echo "lossviz kernel: 8 kernels are already running; shut one down and try again" >&2
exit 1
LAUNCHER
  chmod +x "$KERNEL_HOME/lossviz-kernel"
  # offline_mode: after the set-up every crate is in cargo's cache, so the kernel never
  # needs the network. (evcxr's allow_static_linking = false, which would build the
  # dependencies as dylibs, fails on lossviz: "only metadata stub found for dylib
  # dependency core".)
  #
  # prelude: the code a cell prints to stderr (among it the error behind a failed `?`)
  # reaches evcxr on a thread of its own, which races the end of the cell: 10-20 % of such
  # lines were lost when we measured (evcxr issue #353). Stdout is read in order with the
  # cell's end, so the kernel's process sends its stderr there. Costs one small compile
  # (about 1 s) at kernel start. Lasts until that process restarts (a crash or `:clear`).
  cat > "$KERNEL_HOME/evcxr-config/evcxr.toml" <<'TOML'
[evcxr]
offline_mode = true
prelude = '''
unsafe extern "C" { fn dup2(from: i32, to: i32) -> i32; }
unsafe { dup2(1, 2); }
'''
TOML
  # evcxr's code libraries find Rust's libstd through a relative rpath that is off by one
  # folder when the build folder and the toolchain share a parent (both under $HOME), so
  # the toolchain's library folder goes on the library path as well.
  local rust_lib; rust_lib="$(rustc --print target-libdir)"
  "$VENV/bin/python" - "$KERNEL_HOME" "$LIBTORCH_DIR" "$CACHE" "$rust_lib" <<'PY'
import json, sys, os
home, libtorch, cache, rust_lib = sys.argv[1:]
spec = {
    "argv": [os.path.join(home, "lossviz-kernel"), "--control_file", "{connection_file}"],
    "display_name": "Rust (lossviz)",
    "language": "rust",
    "interrupt_mode": "message",
    "env": {
        "LIBTORCH": libtorch,
        "LD_LIBRARY_PATH": os.path.join(libtorch, "lib") + ":" + rust_lib,
        "LOSSVIZ_CACHE": cache,
        "EVCXR_CONFIG_DIR": os.path.join(home, "evcxr-config"),
        "CARGO_TERM_COLOR": "never",
    },
}
with open(os.path.join(home, "spec", "kernel.json"), "w") as f:
    json.dump(spec, f, indent=2)
PY
  "$VENV/bin/jupyter" kernelspec install --user --name "$KERNEL_NAME" "$KERNEL_HOME/spec" >/dev/null 2>&1 \
    || die "could not register the kernel with 'jupyter kernelspec install'"
}

# Runs a one-cell notebook through the kernel so slot 0 holds a built lossviz; after that a
# new kernel only links. Re-run whenever the crate changed (cargo decides what to rebuild).
prebuild_kernel() {
  local stamp="$CACHE/evcxr-build/prebuilt" want
  want="$( (echo "$REPO"; cd "$REPO" && find crate -type f \( -name '*.rs' -o -name Cargo.toml \) | sort | xargs sha256sum;
            sha256sum "$REPO/Cargo.lock" "$KERNEL_HOME/spec/kernel.json" "$KERNEL_HOME/evcxr-config/evcxr.toml") | sha256sum)"
  [ -d "$CACHE/evcxr-build/slot-0/target" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  say "pre-building lossviz inside the kernel (minutes the first time, seconds after)"
  "$VENV/bin/python" "$REPO/scripts/run_notebooks.py" --prebuild "$REPO" \
    || die "the kernel could not build lossviz (see above)"
  echo "$want" > "$stamp"
}

install_kernel() {
  command -v flock >/dev/null || die "flock (util-linux) is needed"
  # evcxr links each cell with mold when it finds it: much faster than the default linker.
  apt_install mold || say "mold not installed; notebook cells will link more slowly"
  install_venv
  install_evcxr
  write_kernel
  prebuild_kernel
}

# Only for the tests: Debian's Chromium and playwright-core (never a test tool's own
# browser download, which does not work offline).
install_browser_test() {
  apt_install chromium chromium-driver || [ -x /usr/bin/chromium ] \
    || die "Chromium is needed for the browser test (Debian packages chromium, chromium-driver)"
  command -v npm >/dev/null || die "npm (Node.js) is needed for the browser test"
  local node="$CACHE/node" want="$REPO/tests/browser/package.json"
  if cmp -s "$want" "$node/package.json" && [ -f "$node/node_modules/playwright-core/package.json" ]; then
    return 0
  fi
  say "installing playwright-core from npm into $node"
  mkdir -p "$node" && cp "$want" "$node/package.json"
  (cd "$node" && npm install --no-audit --no-fund --silent) || die "npm could not install playwright-core"
}

# The small settings both notebook tests run the lesson at: minutes on two cores.
SMALL_SETTINGS=(LOSSVIZ_DATASET=fashion-mnist LOSSVIZ_EPOCHS=1 LOSSVIZ_LIMIT=1000)

run_browser_test() {
  install_browser_test
  local nb
  for nb in ja/loss_functions.ipynb ja/exercise.ipynb; do
    env "${SMALL_SETTINGS[@]}" LOSSVIZ_CACHE="$CACHE" LAB_NOTEBOOK="$nb" node "$REPO/tests/browser/lab_test.mjs" "$REPO"
  done
}

run_notebook_tests() {
  env "${SMALL_SETTINGS[@]}" "$VENV/bin/python" "$REPO/scripts/run_notebooks.py" --test "$REPO"
}
