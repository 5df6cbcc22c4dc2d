# Shared by the integration tests: each test gets its own store and work
# directory under $LB_IT_DIR, talks to the one sandbox brought up by
# sandbox_up.sh, and leaves the sandbox's data as it found it.
set -euo pipefail
: "${LIFEBOAT:?set by ctest}" "${LB_IT_DIR:?set by ctest}" "${LB_SANDBOX:?set by ctest}"
: "${LB_SRC:?set by ctest}"

TEST=$(basename "$0" .sh)
WORK="$LB_IT_DIR/$TEST"
rm -rf "$WORK"
mkdir -p "$WORK"
export LIFEBOAT_STORE="$WORK/store.db"
export LIFEBOAT_ENV="$LB_SANDBOX/environment.lua"
export NO_COLOR=1
CONNINFO=$(cat "$LB_IT_DIR/conninfo")
DUMP="$LB_SANDBOX/backups/nightly.dump"
SCENARIOS="$LB_SRC/scenarios"
RC=0

fail() { echo "FAIL ($TEST): $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# run_lb ARGS...: run lifeboat; exit code in $RC, output in $WORK/out, $WORK/err.
run_lb() {
    set +e
    "$LIFEBOAT" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
    RC=$?
    set -e
}

expect_rc() {
    [ "$RC" -eq "$1" ] || {
        echo "--- stdout"; cat "$WORK/out"; echo "--- stderr"; cat "$WORK/err"
        fail "expected exit $1, got $RC${2:+ ($2)}"
    }
}

expect_err() {
    grep -Eq -- "$1" "$WORK/err" || { cat "$WORK/err"; fail "stderr lacks /$1/"; }
}

expect_out() {
    grep -Eq -- "$1" "$WORK/out" || { cat "$WORK/out"; fail "stdout lacks /$1/"; }
}

# SQL on the staging target; one value per line, no headers.
pg() { psql "$CONNINFO" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# SQL on this test's results store.
store() { sqlite3 "$LIFEBOAT_STORE" "$1"; }

expect_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

# Row counts of every sandbox table, one line: the fingerprint of "untouched".
counts() {
    pg "SELECT (SELECT count(*) FROM accounts) || ' ' || (SELECT count(*) FROM users) || ' ' ||
               (SELECT count(*) FROM inventory) || ' ' || (SELECT count(*) FROM transactions)"
}

# Put the sandbox database back as the nightly dump has it.
reset_sandbox() {
    pg_restore --clean --if-exists --no-owner -d "$CONNINFO" "$DUMP" >/dev/null 2>&1 || true
}

# A copy of the sandbox environment with one sed edit.
env_with() {
    sed -e "$1" "$LB_SANDBOX/environment.lua" >"$WORK/env.lua"
    echo "$WORK/env.lua"
}
