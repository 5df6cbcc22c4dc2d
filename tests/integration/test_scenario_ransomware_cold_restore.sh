# ransomware_cold_restore.lua: every table is encrypted in place (counts
# kept: a count-only check passes), pgBackRest restores from the cold
# repository (repo 2) to just before the incident, and content fingerprints
# prove every table is back. pgBackRest's own run is recorded.
. "$(dirname "$0")/recovery_lib.sh"

expect_topology "before"
before=$(counts)
run_lb run "$SCENARIOS/ransomware_cold_restore.lua" --yes -o "$WORK/reports"
expect_rc 0 "ransomware_cold_restore"
id=$(last_run)

# Row counts did not see the encryption.
expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id'
                    AND name LIKE '%row count unchanged after the encryption' AND ok=1")" 4 \
    "count-only checks passed after the encryption"
ok "row counts alone saw nothing wrong"
# pgBackRest from repo 2, recorded with its command line and timing.
store "SELECT output_tail FROM steps WHERE run_id='$id' AND name='restore from the cold repository'" |
    grep -q -- "--repo=2" || fail "pgBackRest did not restore from repo 2"
[ -n "$(metric_of "$id" pgbackrest.restore.duration)" ] || fail "no pgBackRest timing"
[ -n "$(metric_of "$id" phase.pgbackrest-restore.duration_ms)" ] || fail "no pgbackrest phase"
ok "pgBackRest restored from the cold repository, its run recorded"

rpo=$(store "SELECT rpo_ms FROM runs WHERE id='$id'")
expect_eq "$(store "SELECT rpo_method LIKE 'heartbeat%' FROM runs WHERE id='$id'")" 1 "RPO method"
[ "$rpo" -ge 0 ] && [ "$rpo" -lt 2000 ] || fail "RPO $rpo ms"
expect_eq "$(store "SELECT count(*) FROM table_stats b JOIN table_stats r
                    ON r.run_id=b.run_id AND r.table_name=b.table_name AND r.phase='restored'
                    WHERE b.run_id='$id' AND b.phase='baseline'
                    AND r.rows=b.rows AND r.fingerprint=b.fingerprint")" 4 "tables equal"
ok "RPO ${rpo} ms; every table's fingerprint equals the baseline again"

expect_topology "after"
expect_eq "$(counts)" "$before" "data after the drill"
expect_no_siblings
ok "the replica streams from the restored primary"
