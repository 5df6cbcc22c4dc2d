# Both shipped drills pass on the sandbox, with every table's count and
# fingerprint after the restore equal to the baseline.
. "$(dirname "$0")/lib.sh"

for s in dropped_table where_matches_everything; do
    before=$(counts)
    run_lb run "$SCENARIOS/$s.lua" --yes -o "$WORK/reports"
    expect_rc 0 "$s"
    expect_out "PASSED"
    id=$(store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
    expect_eq "$(store "SELECT status FROM runs WHERE id='$id'")" passed "$s status"
    expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND ok=0")" 0 "$s failed checks"
    # every baseline table has a restored twin with the same count and fingerprint
    expect_eq "$(store "SELECT count(*) FROM table_stats b JOIN table_stats r
                        ON r.run_id=b.run_id AND r.table_name=b.table_name AND r.phase='restored'
                        WHERE b.run_id='$id' AND b.phase='baseline'
                        AND r.rows=b.rows AND r.fingerprint=b.fingerprint")" 4 "$s tables equal"
    expect_eq "$(store "SELECT rto_ms >= 0 AND rpo_ms >= 0 FROM runs WHERE id='$id'")" 1 "$s RTO/RPO measured"
    # RPO is measured by the heartbeat when the heartbeat table came back with
    # the restore: the whole-archive restore of a dump that holds it. Only
    # inventory comes back in dropped_table, so there the dump's provenance
    # measures it (heartbeat_rpo falls back on it and says so).
    method='backup snapshot time%'
    if [ "$s" = where_matches_everything ] &&
       pg_restore --list "$DUMP" | grep -q ' TABLE public lifeboat_heartbeat '; then
        method='heartbeat%'
    fi
    expect_eq "$(store "SELECT rpo_method LIKE '$method' FROM runs WHERE id='$id'")" 1 "$s RPO method"
    [ -s "$WORK/reports/$id.md" ] || fail "$s: no Markdown report"
    [ -s "$WORK/reports/$id.json" ] || fail "$s: no JSON report"
    expect_eq "$(counts)" "$before" "$s leaves the sandbox as it found it"
    ok "$s passes with every table equal to its baseline"
done
# The foreign key the cascade dropped is back.
expect_eq "$(pg "SELECT count(*) FROM pg_constraint WHERE conname='transactions_inventory_id_fkey'")" 1 "FK restored"
ok "the foreign key dropped by CASCADE came back"
