#!/usr/bin/env bash
# hub/start-student at a student's first and later logins, under a `cp` that exits 1 when
# it skips an existing file (GNU coreutils 9.2 to 9.4 do that for `cp -n`):
#   1. the first login copies the template's notebooks;
#   2. a later login succeeds, keeps what the student changed, and adds notebooks the
#      template gained since.
# Needs no root and no hub: a template prefix and a home in a temporary folder.
#   tests/hub/start_student_test.sh REPO
set -euo pipefail
repo="$(cd "${1:?usage: start_student_test.sh REPO}" && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/lossviz-start-student-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
say() { echo "[start-student-test] $*"; }
fail() { say "FAILED: $*"; exit 1; }

prefix="$tmp/prefix" home="$tmp/home" bin="$tmp/bin"
mkdir -p "$prefix/src/crate" "$home" "$bin"
cp -R "$repo/notebooks" "$prefix/src/notebooks"
# A cp that behaves like coreutils 9.2-9.4 with -n: when something it would have written
# exists already, it skips it and exits 1.
real_cp="$(command -v cp)"
cat > "$bin/cp" <<SH
#!/bin/bash
noclobber=0 args=()
for a in "\$@"; do
  case "\$a" in --no-clobber) noclobber=1 ;; --*) ;; -*n*) noclobber=1 ;; -*) ;; *) args+=("\$a") ;; esac
done
dest="\${args[-1]}" first="\${args[0]}"
skipped=0
if [ \$noclobber -eq 1 ] && { [ -f "\$dest" ] || [ -e "\$dest/\$(basename "\$first")" ]; }; then skipped=1; fi
"$real_cp" "\$@" || exit \$?
exit \$skipped
SH
chmod +x "$bin/cp"
login() { env -i HOME="$home" PATH="$bin:/usr/bin:/bin" LOSSVIZ_HUB_PREFIX="$prefix" sh "$repo/hub/start-student" --prepare; }

login || fail "the first login failed"
lesson="$home/lossviz/notebooks/ja/loss_functions.ipynb"
cmp -s "$lesson" "$prefix/src/notebooks/ja/loss_functions.ipynb" || fail "the first login did not copy the lesson"
say "1. first login: the notebooks copied"

echo '{"changed by the student": true}' > "$lesson"
echo '{}' > "$prefix/src/notebooks/ja/added_later.ipynb"
login || fail "a second login failed (exit $?) under a cp that exits 1 when it skips a file"
grep -q "changed by the student" "$lesson" || fail "the second login overwrote the student's notebook"
[ -f "$home/lossviz/notebooks/ja/added_later.ipynb" ] || fail "the second login did not copy a notebook the template gained"
say "2. second login: the student's change kept, the template's new notebook added"
say "passed"
