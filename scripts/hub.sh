# Sourced by kernel-setup.sh for `./kernel-setup.sh hub`: the lesson served to a class from one
# server with JupyterHub. Uses REPO, CACHE, TORCH_VERSION, say, die and apt_install.
#
# Shared once, read-only, under the prefix (default /opt/lossviz, root-owned, world-readable):
#   src/    this repository's files (the crate the notebooks' `:dep` names, the notebooks that
#           are every student's template, the hub's own files) and the built `lossviz` program
#   rust/   the Rust toolchain the kernel calls (a hard-linked copy of root's: rustup keeps it
#           in /root, which students cannot enter)
#   cache/  the set-up's cache: libtorch, evcxr, the data, the kernel's registry and its
#           pre-built build folder, JupyterLab and JupyterHub (cache/venv), the proxy (cache/chp)
#   hub/    the hub's state: its database and secrets (root only, mode 700)
#   class-runs/  the class's run cache (--prefill): read by every student's kernel after
#           their own ~/.cache/lossviz/runs, written by root alone
# Private to each student, in their home, made at their first login or kernel start:
#   ~/lossviz/notebooks, ~/.local/share/lossviz (kernel build folders, cargo home),
#   ~/.cache/lossviz/runs (their run cache).

CHP_VERSION=5.3.0
HUB_PREFIX=/opt/lossviz HUB_IP=127.0.0.1 HUB_PORT=8000 HUB_GROUP=lossviz-students
HUB_KERNELS=2 HUB_THREADS=1 HUB_PRECISION=fp32 HUB_START=1 HUB_ADMINS="" HUB_SLURM="" HUB_PARTITION="" HUB_TIME=08:00:00 HUB_CONNECT_IP=""
HUB_SSL_KEY="" HUB_SSL_CERT="" HUB_CONFIG="" HUB_PREFILL="" HUB_PREFILL_ONLY=0

hub_usage() {
  cat >&2 <<'EOF'
usage: ./kernel-setup.sh hub [options]   (as root)
  --prefix DIR              where the shared, read-only install goes (default /opt/lossviz)
  --ip ADDR                 where browsers reach the hub (default 127.0.0.1: this machine only)
  --ssl-key FILE --ssl-cert FILE
                            serve HTTPS (without them, passwords cross the network in clear
                            text: use them, or a TLS proxy in front, whenever --ip is not loopback)
  --port N                  (default 8000)
  --group NAME              the Unix group whose members may log in (default lossviz-students)
  --admins a,b              users who may manage the hub in its admin page
  --kernels-per-student N   running kernels one student may have (default 2)
  --threads-per-kernel N    libtorch threads per kernel (default 1)
  --precision fp32|bf16     the students' training precision (default fp32; README, "Mixed precision")
  --install-only            install (or update) the shared set-up, do not start the hub
  --prefill quick|full|both train every configuration of the lesson and the exercise once,
                            at the quick or the original settings (or both), into the class's
                            cache PREFIX/class-runs, which every student's kernel reads after
                            their own: their trainings then load in seconds. The notebooks say
                            how long each training takes before it starts.
  --prefill-only MODE       only that, into the installed set-up (also while the hub runs)
  --config FILE             a JupyterHub configuration file of your own, read after the
                            lesson's hub/jupyterhub_config.py (it can change any setting)
  --slurm                   start each student's JupyterLab as a Slurm job (batchspawner), with:
    --partition P           the partition (default: the cluster's default)
    --time T                the job's time limit (default 08:00:00)
    --hub-connect-ip ADDR   the hub's address as the compute nodes reach it (default 127.0.0.1,
                            for a one-machine cluster); PREFIX and /home must be shared with them
EOF
}

hub_parse() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) HUB_PREFIX="${2:?--prefix needs a folder}"; shift ;;
      --ip) HUB_IP="${2:?--ip needs an address}"; shift ;;
      --ssl-key) HUB_SSL_KEY="$(realpath "${2:?--ssl-key needs a file}")"; shift ;;
      --ssl-cert) HUB_SSL_CERT="$(realpath "${2:?--ssl-cert needs a file}")"; shift ;;
      --port) HUB_PORT="${2:?--port needs a number}"; shift ;;
      --group) HUB_GROUP="${2:?--group needs a name}"; shift ;;
      --admins) HUB_ADMINS="${2:?--admins needs names}"; shift ;;
      --kernels-per-student) HUB_KERNELS="${2:?}"; shift ;;
      --threads-per-kernel) HUB_THREADS="${2:?}"; shift ;;
      --precision) HUB_PRECISION="${2:?--precision needs fp32 or bf16}"; shift ;;
      --install-only) HUB_START=0 ;;
      --prefill) HUB_PREFILL="${2:?--prefill needs quick, full or both}"; shift ;;
      --prefill-only) HUB_PREFILL="${2:?--prefill-only needs quick, full or both}"; HUB_PREFILL_ONLY=1 HUB_START=0; shift ;;
      --config) HUB_CONFIG="$(realpath "${2:?--config needs a file}")"; shift ;;
      --slurm) HUB_SLURM=1 ;;
      --partition) HUB_PARTITION="${2:?--partition needs a name}"; shift ;;
      --time) HUB_TIME="${2:?--time needs a limit}"; shift ;;
      --hub-connect-ip) HUB_CONNECT_IP="${2:?--hub-connect-ip needs an address}"; shift ;;
      -h|--help) hub_usage; exit 0 ;;
      *) hub_usage; die "unknown hub option '$1'" ;;
    esac
    shift
  done
  case "$HUB_KERNELS$HUB_THREADS$HUB_PORT" in *[!0-9]*) die "--kernels-per-student, --threads-per-kernel and --port take whole numbers" ;; esac
  [ "$HUB_KERNELS" -ge 1 ] && [ "$HUB_THREADS" -ge 1 ] || die "--kernels-per-student and --threads-per-kernel must be at least 1"
  case "$HUB_PRECISION" in fp32|bf16) ;; *) die "--precision takes fp32 or bf16, not '$HUB_PRECISION'" ;; esac
  case "$HUB_PREFILL" in ''|quick|full|both) ;; *) die "--prefill takes quick, full or both, not '$HUB_PREFILL'" ;; esac
  HUB_PREFIX="$(realpath -m "$HUB_PREFIX")"
}

# A copy that costs no disk where it can (hard links, for files nothing rewrites in place).
# Only root's own files are linked: the shared copy is made root's below, and a link to
# another user's file would either hand that user the shared file or take theirs away.
link_copy() {
  if [ "$(stat -c %u "$1")" = 0 ] && cp -al "$1" "$2" 2>/dev/null && [ -z "$(find "$2" ! -user root -print -quit)" ]; then
    return 0
  fi
  rm -rf "$2"; cp -a "$1" "$2"
}

install_shared() {
  local p="$HUB_PREFIX"
  [ "$(id -u)" -eq 0 ] || die "the hub runs each student's server as that student, so it must be set up and run as root"
  mkdir -p "$p" && chmod 755 "$p"
  # The repository's files, as a clone has them.
  if [ "$REPO" != "$p/src" ]; then
    say "copying the lesson into $p/src"
    mkdir -p "$p/src"
    if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
         | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
         | tar --null -T - -cf -) | tar --no-same-owner -xf - -C "$p/src"
    else
      # Not a git checkout (a copy, an unpacked archive): everything but what builds make.
      (cd "$REPO" && tar --exclude=./target --exclude=./.cargo --exclude=./out --exclude=./test-artifacts \
         --exclude=__pycache__ --exclude=.ipynb_checkpoints -cf - .) | tar --no-same-owner -xf - -C "$p/src"
    fi
    # The release build and the kernel's pre-built folder, copied (cargo rewrites files in
    # them), so only lossviz itself is compiled again for its new path.
    [ -d "$p/src/target/release" ] || [ ! -d "$REPO/target/release" ] \
      || { mkdir -p "$p/src/target" && cp -R --preserve=mode,timestamps,links --reflink=auto "$REPO/target/release" "$p/src/target/"; }
  fi
  # The toolchain, from wherever rustup keeps it.
  local sysroot; sysroot="$(rustc --print sysroot)" || die "rustc not found"
  if [ "$sysroot" != "$p/rust" ] && ! cmp -s "$sysroot/lib/rustlib/multirust-channel-manifest.toml" "$p/rust/lib/rustlib/multirust-channel-manifest.toml"; then
    say "copying the Rust toolchain ($sysroot) to $p/rust"
    rm -rf "$p/rust.tmp" && link_copy "$sysroot" "$p/rust.tmp" && rm -rf "$p/rust" && mv "$p/rust.tmp" "$p/rust"
  fi
  # What this user's set-up already holds and nothing rewrites: linked, not fetched again.
  mkdir -p "$p/cache/kernel"
  local d
  for d in "libtorch-$TORCH_VERSION-cpu" evcxr data wheels kernel/cargo; do
    [ "$CACHE" != "$p/cache" ] && [ -d "$CACHE/$d" ] && [ ! -e "$p/cache/$d" ] && link_copy "$CACHE/$d" "$p/cache/$d"
  done
  [ -d "$p/cache/evcxr-build/slot-0" ] || [ ! -d "$CACHE/evcxr-build/slot-0/target" ] \
    || { mkdir -p "$p/cache/evcxr-build/slot-0" && cp -R --preserve=mode,timestamps,links --reflink=auto "$CACHE/evcxr-build/slot-0/target" "$p/cache/evcxr-build/slot-0/"; }
  # JupyterLab's virtualenv runs as every student, so its Python must be one they can run:
  # the Debian one, not a pyenv build inside root's home.
  local python=""
  for candidate in /usr/bin/python3 /usr/local/bin/python3; do
    if [ -x "$candidate" ] && runuser -u nobody -- "$candidate" -c 'import venv, ensurepip' 2>/dev/null; then python="$candidate"; break; fi
  done
  [ -n "$python" ] || { apt_install python3 python3-venv && python=/usr/bin/python3; } \
    || die "no Python that every user can run (install Debian's python3 and python3-venv)"
  # The whole set-up, run from the shared copy: the kernel spec it writes then names the
  # shared paths and the shared toolchain. Its own kernel registration goes under the prefix
  # (not into root's ~/.local), and is replaced below by the students' one.
  say "installing the shared set-up under $p (the same steps as ./kernel-setup.sh install)"
  (cd "$p/src" && env PATH="$p/rust/bin:$PATH" LOSSVIZ_CACHE="$p/cache" JUPYTER_DATA_DIR="$p/cache/jupyter" \
     LOSSVIZ_PYTHON="$python" ./kernel-setup.sh install) || die "the shared set-up failed (see above)"
  local venv="$p/cache/venv"
  "$venv/bin/pip" install -q -r "$p/src/hub/requirements-hub.txt" || die "pip could not install JupyterHub"
  command -v npm >/dev/null || apt_install npm || die "npm (Node.js) is needed for JupyterHub's proxy"
  if [ "$(cat "$p/cache/chp/.version" 2>/dev/null)" != "$CHP_VERSION" ]; then
    say "installing configurable-http-proxy $CHP_VERSION from npm into $p/cache/chp"
    mkdir -p "$p/cache/chp"
    (cd "$p/cache/chp" && npm install --no-audit --no-fund --silent --prefix . "configurable-http-proxy@$CHP_VERSION") \
      || die "npm could not install configurable-http-proxy@$CHP_VERSION"
    echo "$CHP_VERSION" > "$p/cache/chp/.version"
  fi
  # The students' kernel: the same spec, plus where the shared pre-built folders are, which
  # makes scripts/lossviz-kernel give each student their own (see there).
  # It names the class's cache too (empty until --prefill fills it).
  mkdir -p "$p/class-runs"
  "$venv/bin/python" - "$p/cache/kernel/spec/kernel.json" "$venv/share/jupyter/kernels/lossviz-rust" "$p/cache/evcxr-build" \
      "$p/src/target/release/lossviz" "$p/class-runs" <<'PY'
import json, os, sys
spec_path, dest, builds, program, class_runs = sys.argv[1:]
spec = json.load(open(spec_path))
spec["env"]["LOSSVIZ_SHARED_BUILDS"] = builds
spec["env"]["LOSSVIZ_BIN"] = program
spec["env"]["LOSSVIZ_CLASS_RUNS"] = class_runs
os.makedirs(dest, exist_ok=True)
with open(os.path.join(dest, "kernel.json"), "w") as f:
    json.dump(spec, f, indent=2)
PY
  # Owned by root, readable by everyone, writable by root alone: the hub (root) runs files
  # from here, and every student runs others.
  chown -R root:root "$p/src" "$p/rust" "$p/cache" "$p/class-runs"
  chmod -R a+rX,go-w "$p/src" "$p/rust" "$p/cache" "$p/class-runs"
  say "shared set-up ready in $p ($(du -sh "$p" 2>/dev/null | cut -f1) on disk, hard links counted once)"
}

hub_secrets() {
  local state="$HUB_PREFIX/hub"
  mkdir -p "$state" && chmod 700 "$state"
  local f
  for f in jupyterhub_cookie_secret proxy_auth_token; do
    [ -s "$state/$f" ] || (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' > "$state/$f")
    chmod 600 "$state/$f"
  done
}

# The shared files are what every running kernel reads (the crate, the toolchain, the
# pre-built folders): replaced under a running hub, its students' next cell would compile
# against half-old, half-new files.
refuse_if_hub_runs() {
  local pid
  pid="$(cat "$HUB_PREFIX/hub/jupyterhub.pid" 2>/dev/null)" || return 0
  case "$pid" in ''|*[!0-9]*) return 0 ;; esac
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q jupyterhub; then
    die "a hub is running from $HUB_PREFIX (process $pid), and this would replace the files its students' kernels use. Stop it first (kill $pid: the students' servers and kernels stop with it), then run this again."
  fi
}

# The class's cache: trained by root through the students' own kernel spec, so the entries'
# keys are the ones the students' cells compute; readable by all, writable by root alone.
hub_prefill() {
  local p="$HUB_PREFIX" into="$HUB_PREFIX/class-runs"
  [ -x "$p/cache/venv/bin/python" ] || die "no shared set-up under $p: run ./kernel-setup.sh hub --install-only first"
  say "training the lesson's and the exercise's configurations ($HUB_PREFILL settings) into the class's cache $into"
  mkdir -p "$into"
  (cd "$p/src" && LOSSVIZ_RUNS="$into" "$p/cache/venv/bin/python" "$p/src/scripts/run_notebooks.py" --prefill "$p/src" "$HUB_PREFILL") \
    || die "the class's cache could not be filled (see above)"
  chown -R root:root "$into" && chmod -R a+rX,go-w "$into"
  say "class's cache ready: $(find "$into" -name run.json | wc -l) runs in $into"
}

run_hub() {
  hub_parse "$@"
  if [ "$HUB_PREFILL_ONLY" -eq 1 ]; then hub_prefill; return 0; fi
  refuse_if_hub_runs
  install_shared
  [ -z "$HUB_PREFILL" ] || hub_prefill
  hub_secrets
  [ "$HUB_START" -eq 1 ] || { say "installed; start the hub with ./kernel-setup.sh hub (without --install-only)"; return 0; }
  getent group "$HUB_GROUP" >/dev/null || say "no group $HUB_GROUP yet: create it (groupadd $HUB_GROUP) and add students to it (usermod -aG $HUB_GROUP NAME)"
  if [ -n "$HUB_SSL_KEY$HUB_SSL_CERT" ]; then
    [ -f "$HUB_SSL_KEY" ] && [ -f "$HUB_SSL_CERT" ] || die "--ssl-key and --ssl-cert must both name files"
  elif [ "$HUB_IP" != 127.0.0.1 ] && [ "$HUB_IP" != localhost ]; then
    say "WARNING: the hub listens on $HUB_IP without HTTPS: students' passwords cross the network in clear text."
    say "         Give --ssl-key and --ssl-cert, or put a TLS proxy in front of it."
  fi
  local where="on this machine"
  if [ -n "$HUB_SLURM" ]; then
    command -v sbatch >/dev/null || die "--slurm needs Slurm's commands (sbatch, squeue, scancel) on this machine"
    where="as Slurm jobs${HUB_PARTITION:+ in partition $HUB_PARTITION}"
  fi
  say "JupyterHub on http://$HUB_IP:$HUB_PORT for the members of $HUB_GROUP, servers $where ($HUB_KERNELS kernels per student, $HUB_THREADS threads per kernel)"
  cd "$HUB_PREFIX/hub"
  exec env LOSSVIZ_HUB_PREFIX="$HUB_PREFIX" LOSSVIZ_HUB_STATE="$HUB_PREFIX/hub" LOSSVIZ_HUB_IP="$HUB_IP" \
    LOSSVIZ_HUB_PORT="$HUB_PORT" LOSSVIZ_HUB_GROUP="$HUB_GROUP" LOSSVIZ_HUB_ADMINS="$HUB_ADMINS" \
    LOSSVIZ_HUB_KERNELS="$HUB_KERNELS" LOSSVIZ_HUB_THREADS="$HUB_THREADS" LOSSVIZ_HUB_SLURM="$HUB_SLURM" \
    LOSSVIZ_HUB_PRECISION="$HUB_PRECISION" \
    LOSSVIZ_HUB_PARTITION="$HUB_PARTITION" LOSSVIZ_HUB_TIME="$HUB_TIME" LOSSVIZ_HUB_CONNECT_IP="$HUB_CONNECT_IP" \
    LOSSVIZ_HUB_SSL_KEY="$HUB_SSL_KEY" LOSSVIZ_HUB_SSL_CERT="$HUB_SSL_CERT" LOSSVIZ_HUB_EXTRA_CONFIG="$HUB_CONFIG" \
    "$HUB_PREFIX/cache/venv/bin/jupyterhub" -f "$HUB_PREFIX/src/hub/jupyterhub_config.py"
}

# The three-student test (tests/hub/hub_test.py) on a shared set-up in a temporary prefix.
run_hub_test() {
  "$REPO/tests/hub/start_student_test.sh" "$REPO" || die "a student's login script failed its test"
  if [ "$(id -u)" -ne 0 ]; then
    say "skipping the hub test: it makes Unix users and runs the hub as root (CI runs it as root)"
    return 0
  fi
  local prefix
  prefix="$(mktemp -d "${TMPDIR:-/tmp}/lossviz-hub-XXXXXX")"
  TEMPORARY+=("$prefix")
  chmod 755 "$prefix"
  "$REPO/kernel-setup.sh" hub --prefix "$prefix" --install-only || die "the hub's shared set-up failed"
  "$prefix/cache/venv/bin/python" "$REPO/tests/hub/hub_test.py" "$REPO" "$prefix" || die "the hub test failed"
  # The same hub with each student's server as a Slurm job (the Slurm test installed Slurm).
  "$REPO/tests/hub/slurm_spawner_test.sh" "$REPO" "$prefix" || die "the hub's Slurm spawner test failed"
}
