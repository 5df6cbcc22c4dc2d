# Shared by the recovery and scenario tests (test_recovery_*.sh,
# test_scenario_*.sh): the sandbox's two regions, their servers, and the
# repair that puts the canonical topology back whatever a test did.
. "$(dirname "$0")/lib.sh"

ENV_FILE="$LB_SANDBOX/environment.lua"

# env_field TARGET KEY: a string field of a target block of environment.lua.
env_field() {
    awk -v t="$1" -v k="$2" '
        $0 ~ "^    " t " = [{]" { inside = 1; next }
        inside && /^    [}]/ { exit }
        inside && $1 == k && $2 == "=" {
            sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit
        }' "$ENV_FILE"
}

# env_argv TARGET KEY: an argv field (stop, start, fence) as a Lua table literal.
env_argv() {
    awk -v t="$1" -v k="$2" '
        $0 ~ "^    " t " = [{]" { inside = 1; next }
        inside && /^    [}]/ { exit }
        inside && $1 == k && $2 == "=" { sub(/^[^{]*/, ""); sub(/,[ ]*$/, ""); print; exit }
        ' "$ENV_FILE"
}

STAGING_DIR=$(env_field staging data_dir)
REPLICA_DIR=$(env_field replica data_dir)
REPLICA_CONNINFO=$(env_field replica conninfo)
[ -n "$STAGING_DIR" ] && [ -n "$REPLICA_DIR" ] && [ -n "$REPLICA_CONNINFO" ] ||
    fail "the sandbox environment declares no replica (data_dir, conninfo)"

# SQL on the replica.
pgr() { psql "$REPLICA_CONNINFO" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# The id of the newest run in this test's store, and one of its metrics.
last_run() { store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1"; }
metric_of() {
    store "SELECT value FROM metrics WHERE run_id='$1' AND name='$2' ORDER BY rowid DESC LIMIT 1"
}

# When the server started: unchanged means it was never stopped.
started_at() { pg "SELECT pg_postmaster_start_time()"; }

# Canonical topology: staging a primary, the replica streaming from it.
expect_topology() {
    expect_eq "$(pg "SELECT pg_is_in_recovery()")" f "staging is the primary${1:+ ($1)}"
    expect_eq "$(pgr "SELECT pg_is_in_recovery()")" t "the replica is a standby${1:+ ($1)}"
    local i=0
    while [ "$(pgr "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")" != 1 ]; do
        i=$((i + 1))
        [ $i -lt 50 ] || fail "the replica does not stream from staging${1:+ ($1)}"
        sleep 0.2
    done
}

# Whatever a test did, the next one finds the sandbox canonical: up repairs
# (unfences, restarts, rebuilds) and is quick when nothing needs it.
repair_sandbox() {
    "$LIFEBOAT" sandbox up --dir "$LB_SANDBOX" >"$WORK/repair.out" 2>&1 ||
        { cat "$WORK/repair.out" >&2; echo "sandbox repair failed" >&2; }
}
trap repair_sandbox EXIT

# Nothing a restore leaves beside a data directory: no new, scratch or old
# copies, no fence marker.
expect_no_siblings() {
    local left
    left=$(ls -d "$STAGING_DIR".* "$REPLICA_DIR".* 2>/dev/null || true)
    [ -z "$left" ] || fail "left beside the data directories: $left"
}
