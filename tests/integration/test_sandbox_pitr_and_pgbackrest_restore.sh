# The recovery procedures' C layer against a real two-region sandbox of its
# own: tests/unit/test_cluster.c's live tests (LB_TEST_SANDBOX) stop,
# start, fence and unfence the replica through its declared argv, restore
# pgBackRest's hot repository into a scratch server, refuse a point in time
# before the base backup (and before pgBackRest's oldest backup) with a
# clear error, and restore the primary to an instant from the base backup
# and the WAL archive. The primary is then on a new timeline, which its old
# replica cannot follow: `sandbox up` rebuilds the replica from it.
. "$(dirname "$0")/lib.sh"

SB="$WORK/pitr/sandbox"   # the server directory is named after "pitr"
ENV="$SB/environment.lua"
takedown() { "$LIFEBOAT" sandbox down --dir "$SB" >/dev/null 2>&1 || true; }
trap takedown EXIT

conninfo_of() {
    awk -v t="$1" '
        $0 ~ "^    " t " = [{]" { inside = 1; next }
        inside && /^    },/ { exit }
        inside && $1 == "conninfo" {
            v = $0; sub(/^[^"]*"/, "", v); sub(/".*$/, "", v); print v; exit
        }' "$ENV"
}
on() { psql "$(conninfo_of "$1")" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }

TEST_CLUSTER="$(dirname "$LIFEBOAT")/tests/test_cluster"
[ -x "$TEST_CLUSTER" ] || fail "no $TEST_CLUSTER (build the tests)"

run_lb sandbox up --dir "$SB" --scale 1
expect_rc 0 "sandbox up"

set +e
LB_TEST_SANDBOX="$SB" "$TEST_CLUSTER" >"$WORK/test_cluster.out" 2>&1
status=$?
set -e
[ "$status" -eq 0 ] || { cat "$WORK/test_cluster.out"; fail "live cluster tests (status $status)"; }
if grep -q "SKIPPED" "$WORK/test_cluster.out"; then
    cat "$WORK/test_cluster.out"
    fail "live cluster tests were skipped"
fi
for t in pitr_restores_the_primary_to_an_instant pitr_refuses_a_time_before_the_base_backup \
         pgbackrest_restores_the_hot_repo_to_a_scratch_server \
         fence_makes_a_start_fail_until_unfenced; do
    grep -q "OK \] test_cluster_live_$t" "$WORK/test_cluster.out" || fail "test_cluster_live_$t did not pass"
done
ok "PITR to an instant, pgBackRest restore, refusals before the backups, fences: live"

expect_eq "$(on staging "SELECT string_agg(what, ',') FROM pitr_probe")" "before" \
    "the primary holds what it held at the recovery target"
tli=$(on staging "SELECT timeline_id FROM pg_control_checkpoint()")
[ "$tli" -gt 1 ] || fail "the restored primary is on timeline $tli"

run_lb sandbox up --dir "$SB"
expect_rc 0 "up after a point-in-time recovery of the primary"
expect_err "the replica does not stream from the primary.*: building it"
for i in $(seq 1 100); do
    [ "$(on staging "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] && break
    sleep 0.2
done
expect_eq "$(on staging "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" 1 \
    "the replica streams from the restored primary"
expect_eq "$(on replica "SELECT string_agg(what, ',') FROM pitr_probe")" "before" \
    "the replica follows the restored history"
ok "sandbox up rebuilds the replica of a primary restored to a new timeline"

run_lb sandbox down --dir "$SB"
expect_rc 0 "down"
trap - EXIT
