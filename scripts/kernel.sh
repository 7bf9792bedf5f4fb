# Sourced by kernel-setup.sh: the evcxr Jupyter kernel "Rust (lossviz)" and the notebook tests.
# Uses CACHE, REPO, LIBTORCH_DIR, say, die and apt_install from kernel-setup.sh.

VENV="$CACHE/venv"
EVCXR_ROOT="$CACHE/evcxr"
KERNEL_HOME="$CACHE/kernel"
KERNEL_NAME="lossviz-rust"
KERNEL_BUILDS="$CACHE/evcxr-build"
KERNEL_CARGO="$KERNEL_HOME/cargo"

install_venv() {
  local req="$REPO/scripts/requirements-notebook.txt" stamp="$VENV/.requirements"
  if [ -x "$VENV/bin/jupyter" ] && cmp -s "$req" "$stamp"; then return 0; fi
  local py; py="$(pick_python)"
  say "installing JupyterLab and nbclient into $VENV"
  [ -x "$VENV/bin/pip" ] || "$py" -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$req" || die "pip could not install $req"
  cp "$req" "$stamp"
}

# evcxr_jupyter is compiled once, from its published source but against zeromq 0.7 instead
# of the 0.6 it names: with 0.6 about one kernel start in twenty never answered, its shell
# thread parked for good in zeromq's peer_disconnected while jupyter_server closed its
# short-lived kernel_info connection (issue 23, BENCHMARKS.md "Kernel starts"); 0.7 builds
# with no change to evcxr's code. scripts/evcxr/Cargo.lock pins every crate of that build,
# and the source's checksum is checked, so the build is the one measured here.
EVCXR_ZEROMQ=0.7.0
EVCXR_CRATE_SHA256=3ce0d7b3058f68a9673df4f1266b641942fea0ec131881d095306e509a382764
install_evcxr() {
  local stamp="$EVCXR_ROOT/.version" build="$EVCXR_VERSION+zeromq-$EVCXR_ZEROMQ"
  if [ -x "$EVCXR_ROOT/bin/evcxr_jupyter" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$build" ]; then
    return 0
  fi
  say "building evcxr_jupyter $EVCXR_VERSION with zeromq $EVCXR_ZEROMQ (once; the longest step of the set-up: minutes)"
  # `cargo info` downloads the crate into cargo's own cache, from the registry cargo is set up for.
  cargo info --quiet "evcxr_jupyter@$EVCXR_VERSION" >/dev/null \
    || die "cargo could not download evcxr_jupyter $EVCXR_VERSION (see above; the set-up needs the crates registry once)"
  local crate src="$CACHE/evcxr-src"
  crate="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"evcxr_jupyter-$EVCXR_VERSION.crate" 2>/dev/null | head -n 1)" || true
  [ -f "$crate" ] || die "cargo info left no evcxr_jupyter-$EVCXR_VERSION.crate under ${CARGO_HOME:-$HOME/.cargo}/registry/cache"
  echo "$EVCXR_CRATE_SHA256  $crate" | sha256sum --check --quiet \
    || die "$crate is not the evcxr_jupyter $EVCXR_VERSION this set-up was tested with (sha256 differs): delete it and run again"
  rm -rf "$src" && mkdir -p "$src" && tar -xzf "$crate" -C "$src" --strip-components=1 \
    || die "could not unpack $crate into $src"
  awk -v want="$EVCXR_ZEROMQ" '
    previous == "[dependencies.zeromq]" && /^version = "0\.6\.0"$/ { $0 = "version = \"" want "\""; changed++ }
    { print; previous = $0 }
    END { exit changed != 1 }' "$src/Cargo.toml" > "$src/Cargo.toml.zeromq" \
    || die "$src/Cargo.toml does not name zeromq 0.6.0 where this set-up expects it"
  mv "$src/Cargo.toml.zeromq" "$src/Cargo.toml"
  cp "$REPO/scripts/evcxr/Cargo.lock" "$src/Cargo.lock"
  # A new root, not one written over: its files may be hard links to another cache's
  # (scripts/fresh-machine.sh --reuse-heavy).
  rm -rf "$EVCXR_ROOT"
  cargo install --locked --path "$src" --root "$EVCXR_ROOT" \
    || die "cargo install of evcxr_jupyter (from $src) failed (see above)"
  echo "$build" > "$stamp"
  rm -rf "$src"
}

# The kernel's own cargo registry holds exactly the crates the repository's Cargo.lock pins.
# evcxr resolves the crate it generates for a notebook afresh, and a lock file in its build
# folder would not survive: the start-up prelude compiles with no dependencies (cargo drops
# every locked crate), and each `:dep` is checked in a throw-away manifest naming only that
# one. A registry with nothing else in it holds the versions: offline, cargo can only pick
# crates it has. A notebook therefore compiles the
# lossviz the tests tested, and a `:dep` of a student's own works when its crate is among
# the locked ones.
install_kernel_registry() {
  local lock="$KERNEL_HOME/Cargo.lock"
  if cmp -s "$REPO/Cargo.lock" "$lock" && [ -f "$KERNEL_CARGO/.complete" ]; then return 0; fi
  say "fetching the locked crates into the kernel's registry $KERNEL_CARGO"
  rm -f "$KERNEL_CARGO/.complete"
  mkdir -p "$KERNEL_CARGO" "$KERNEL_HOME"
  # The user's cargo settings (a registry mirror, say) apply to this registry too.
  local user_cargo="${CARGO_HOME:-$HOME/.cargo}"
  [ -f "$user_cargo/config.toml" ] && cp "$user_cargo/config.toml" "$KERNEL_CARGO/config.toml"
  # Every target's crates, not only this machine's: evcxr checks each `:dep` with
  # `cargo metadata`, which reads the manifest of every package in the graph.
  (cd "$REPO" && CARGO_HOME="$KERNEL_CARGO" cargo fetch --locked --quiet) \
    || die "cargo could not fetch the crates Cargo.lock pins into $KERNEL_CARGO (is crates.io reachable?)"
  cp "$REPO/Cargo.lock" "$lock"  # what the registry was filled from: refetched when it differs
  touch "$KERNEL_CARGO/.complete"
}

# The kernel spec runs scripts/lossviz-kernel (copied beside it) with every path in "env".
#
# evcxr config, offline_mode: after the set-up every crate is in the kernel's registry, so
# the kernel never needs the network. (evcxr's allow_static_linking = false, which would
# build the dependencies as dylibs, fails on lossviz: "only metadata stub found for dylib
# dependency core".)
#
# prelude: the code a cell prints to stderr (among it the error behind a failed `?`) reaches
# evcxr on a thread of its own, which races the end of the cell: 10-20 % of such lines were
# lost when we measured (evcxr issue #353). Stdout is read in order with the cell's end, so
# the kernel's process sends its stderr there. Costs one small compile (about 1 s) at kernel
# start. Lasts until that process restarts (a crash or `:clear`).
write_kernel() {
  mkdir -p "$KERNEL_HOME/spec" "$KERNEL_HOME/evcxr-config" "$KERNEL_BUILDS"
  cp "$REPO/scripts/lossviz-kernel" "$KERNEL_HOME/lossviz-kernel"
  chmod +x "$KERNEL_HOME/lossviz-kernel"
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
  local rust_lib cargo_bin
  rust_lib="$(rustc --print target-libdir)"
  cargo_bin="$(dirname "$(command -v cargo)")"
  "$VENV/bin/python" - "$KERNEL_HOME" "$LIBTORCH_DIR" "$CACHE" "$rust_lib" "$cargo_bin" \
      "$EVCXR_ROOT/bin/evcxr_jupyter" "$KERNEL_BUILDS" "$KERNEL_CARGO" "$REPO/target/release/lossviz" <<'PY'
import json, sys, os
home, libtorch, cache, rust_lib, cargo_bin, evcxr, builds, cargo_home, lossviz_bin = sys.argv[1:]
spec = {
    "argv": [os.path.join(home, "lossviz-kernel"), "--control_file", "{connection_file}"],
    "display_name": "Rust (lossviz)",
    "language": "rust",
    "interrupt_mode": "message",
    "env": {
        "LIBTORCH": libtorch,
        "LD_LIBRARY_PATH": os.path.join(libtorch, "lib") + ":" + rust_lib,
        "LOSSVIZ_CACHE": cache,
        # The program a Slurm sweep's tasks run (Sweep::on_slurm).
        "LOSSVIZ_BIN": lossviz_bin,
        "LOSSVIZ_EVCXR": evcxr,
        "LOSSVIZ_CARGO_BIN": cargo_bin,
        "LOSSVIZ_KERNEL_BUILDS": builds,
        "CARGO_HOME": cargo_home,
        "EVCXR_CONFIG_DIR": os.path.join(home, "evcxr-config"),
        "CARGO_TERM_COLOR": "never",
    },
}
with open(os.path.join(home, "spec", "kernel.json"), "w") as f:
    json.dump(spec, f, indent=2)
PY
  local said
  said="$("$VENV/bin/jupyter" kernelspec install --user --name "$KERNEL_NAME" "$KERNEL_HOME/spec" 2>&1)" \
    || die "could not register the kernel with 'jupyter kernelspec install': $said"
}

# Runs a one-cell notebook through the kernel so slot 0 holds a built lossviz; after that a
# new kernel only links. Re-run whenever the crate changed (cargo decides what to rebuild).
prebuild_kernel() {
  local stamp="$KERNEL_BUILDS/prebuilt" want
  want="$( (echo "$REPO"; cd "$REPO" && find crate -type f \( -name '*.rs' -o -name Cargo.toml \) | sort | xargs sha256sum;
            sha256sum "$REPO/Cargo.lock" "$KERNEL_HOME/spec/kernel.json" "$KERNEL_HOME/evcxr-config/evcxr.toml" \
              "$KERNEL_HOME/lossviz-kernel") | sha256sum)"
  [ -d "$KERNEL_BUILDS/slot-0/target" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  say "pre-building lossviz inside the kernel (minutes the first time, seconds after)"
  "$VENV/bin/python" "$REPO/scripts/run_notebooks.py" --prebuild "$REPO" \
    || die "the kernel could not build lossviz (see above)"
  echo "$want" > "$stamp"
}

install_kernel() {
  command -v flock >/dev/null || die "flock (util-linux) is needed"
  # evcxr links each cell with mold when it finds it (whether that is faster here is not
  # settled: BENCHMARKS.md, "The lesson's first cells").
  apt_install mold || say "mold not installed; notebook cells will link more slowly"
  phase JupyterLab
  install_venv
  phase "evcxr build"
  install_evcxr
  phase "kernel registry"
  install_kernel_registry
  write_kernel
  phase "kernel pre-build"
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
SMALL_SETTINGS=(LOSSVIZ_DATASET=mnist LOSSVIZ_EPOCHS=1 LOSSVIZ_LIMIT=1000)

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

# ./kernel-setup.sh prefill [quick|full|both] [--into DIR]: every training of the lesson and
# the exercise at those settings, once, into DIR (default: this user's run cache). A lecturer
# without a hub hands DIR out; students copy its entries into ~/.cache/lossviz/runs, where
# each is checked (checksums, settings, data) before it is used.
run_prefill() {
  local mode=quick into="$CACHE/runs"
  while [ $# -gt 0 ]; do
    case "$1" in
      quick|full|both) mode="$1" ;;
      --into) into="$(realpath -m "${2:?--into needs a folder}")"; shift ;;
      *) die "prefill takes quick, full or both, and --into DIR; not '$1'" ;;
    esac
    shift
  done
  install_all
  mkdir -p "$into"
  say "training the lesson's and the exercise's configurations ($mode settings) into $into"
  LOSSVIZ_RUNS="$into" "$VENV/bin/python" "$REPO/scripts/run_notebooks.py" --prefill "$REPO" "$mode" \
    || die "the prefill failed (see above)"
  say "$(find "$into" -name run.json | wc -l) runs in $into"
}
