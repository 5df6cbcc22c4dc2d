# primary_corrupted.lua: rows of inventory and transactions are overwritten
# with garbage (keys and counts kept), and the base backup is older than
# the damage: point-in-time recovery to just before the incident brings
# every table back with its content; the heartbeat measures an RPO under
# 2 s; the rollback rebuilds the replica, which replayed the damage.
. "$(dirname "$0")/recovery_lib.sh"

expect_topology "before"
before=$(counts)
run_lb run "$SCENARIOS/primary_corrupted.lua" --yes -o "$WORK/reports"
expect_rc 0 "primary_corrupted"
id=$(last_run)

expect_eq "$(store "SELECT CAST(value AS INTEGER) FROM metrics WHERE run_id='$id'
                    AND name='fault.rows_affected' ORDER BY rowid LIMIT 1")" 200 "rows corrupted"
expect_eq "$(store "SELECT rpo_method LIKE 'heartbeat%' FROM runs WHERE id='$id'")" 1 "RPO method"
rpo=$(store "SELECT rpo_ms FROM runs WHERE id='$id'")
[ "$rpo" -ge 0 ] && [ "$rpo" -lt 2000 ] || fail "PITR RPO $rpo ms (must be under 2 s)"
ok "PITR RPO ${rpo} ms, measured by the heartbeat"
for p in archive-wal copy stop swap replay verify; do
    [ -n "$(metric_of "$id" "phase.$p.duration_ms")" ] || fail "no phase $p"
done
ok "phases archive-wal, copy, stop, swap, replay, verify recorded"
expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND ok=0")" 0 "failed checks"
expect_eq "$(store "SELECT count(*) FROM table_stats b JOIN table_stats r
                    ON r.run_id=b.run_id AND r.table_name=b.table_name AND r.phase='restored'
                    WHERE b.run_id='$id' AND b.phase='baseline'
                    AND r.rows=b.rows AND r.fingerprint=b.fingerprint")" 4 "tables equal"
ok "every table's count and fingerprint equal the baseline"

expect_topology "after"
expect_eq "$(counts)" "$before" "data after the drill"
expect_no_siblings
ok "the replica streams from the restored primary; nothing left beside the data"
