# `lifeboat audit` on real files and the real sandbox: it passes the good
# nightly dump (with and without --restore), and finds a backup older than
# its max_age, one from another system_identifier, an empty one, a missing
# file and one whose restore is out of tolerance; each finding names the
# layer and carries the numbers. The restore goes to a throw-away database
# that is dropped, and staging's data is the same before and after.
. "$(dirname "$0")/lib.sh"

STAGING_SYSID=$(sed -n 's/^[[:space:]]*"system_identifier":[[:space:]]*"\([0-9]*\)".*$/\1/p' \
    "$LB_SANDBOX/sandbox.json" | head -n 1)
[ -n "$STAGING_SYSID" ] || fail "no system_identifier in sandbox.json"
PROV="$DUMP.provenance.json"

# Content checksum of every sandbox table: "unchanged" means this too.
checksums() {
    pg "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
          SELECT 'a' || md5(string_agg(t::text, ',' ORDER BY id)) FROM accounts t UNION ALL
          SELECT 'u' || md5(string_agg(t::text, ',' ORDER BY id)) FROM users t UNION ALL
          SELECT 'i' || md5(string_agg(t::text, ',' ORDER BY id)) FROM inventory t UNION ALL
          SELECT 't' || md5(string_agg(t::text, ',' ORDER BY id)) FROM transactions t) s(x)"
}
scratch_dbs() { pg "SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat\_audit\_%'"; }

# The sandbox environment with its backups replaced by $WORK/layers.lua.
env_layers() {
    sed -e "/^    nightly_dump = /{r $WORK/layers.lua" -e "d}" "$LB_SANDBOX/environment.lua" \
        >"$WORK/layers_env.lua"
    grep -q "$1" "$WORK/layers_env.lua" || fail "layers not in the environment"
    echo "$WORK/layers_env.lua"
}
layer() {   # layer NAME PATH [extra fields]
    printf '    %s = { kind = "pg_dump", path = "%s", source = "staging", max_age = "26h"%s },\n' \
        "$1" "$2" "${3:-}" >>"$WORK/layers.lua"
}
gap_count() { store "SELECT count(*) FROM gaps WHERE run_id='$1' AND severity='$2' AND title = '$3'"; }
expect_gap() {   # expect_gap RUN SEVERITY TITLE
    [ "$(gap_count "$1" "$2" "$3")" = 1 ] || {
        store "SELECT severity || ' | ' || title FROM gaps WHERE run_id='$1'"
        fail "no $2 gap '$3'"
    }
}
last_run() { store "SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"; }

before_counts=$(counts)
before_sums=$(checksums)

# ---- the good nightly dump passes --------------------------------------------
run_lb audit --report none
expect_rc 0 "every layer of the sandbox is good"
expect_out "PASSED  layers 4  gaps 0"
expect_eq "$(store "SELECT group_concat(name, ',') FROM (SELECT name FROM steps WHERE run_id='$(last_run)' ORDER BY seq)")" \
    "audit base_backup,audit nightly_dump,audit pgbackrest_cold,audit pgbackrest_hot" "every layer audited"
run_lb audit --layer nightly_dump --report none
expect_rc 0 "the sandbox's nightly dump is good"
expect_out "PASSED  layers 1  gaps 0"
id=$(last_run)
expect_eq "$(store "SELECT kind || ' ' || scenario_id || ' ' || status FROM runs WHERE id='$id'")" \
    "audit audit passed" "run header"
expect_eq "$(store "SELECT name || ' ' || kind || ' ' || status FROM steps WHERE run_id='$id'")" \
    "audit nightly_dump check passed" "one step per layer"
run_lb audit --layer nightly_dump --restore -o "$WORK/reports"
expect_rc 0 "the nightly dump restores into scratch and matches staging"
id=$(last_run)
expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND ok=0")" 0 "no failed check"
expect_eq "$(store "SELECT observed FROM checks WHERE run_id='$id'
                    AND name='nightly_dump: transactions: rows'")" 100000 "transactions restored"
expect_eq "$(store "SELECT value FROM metrics WHERE run_id='$id'
                    AND name='nightly_dump.restored_rows'")" 126000.0 "restored rows metric"
[ -s "$WORK/reports/$id.md" ] || fail "no audit report"
grep -q "Audit report: Backup audit of sandbox (with restore)" "$WORK/reports/$id.md" ||
    fail "report title"
expect_eq "$(scratch_dbs)" 0 "the scratch database was dropped"
# The step's output says which database it made and dropped, and how pg_restore ran.
out=$(store "SELECT output_tail FROM steps WHERE run_id='$id' AND seq=1")
scratch=$(printf '%s\n' "$out" | sed -n 's/^created scratch database \(lifeboat_audit_[0-9a-f]*\) on target .staging.$/\1/p')
[ -n "$scratch" ] || { printf '%s\n' "$out"; fail "no scratch database in the step output"; }
printf '%s\n' "$out" | grep -q "^dropped scratch database $scratch on target 'staging'$" ||
    fail "the step output does not say $scratch was dropped"
printf '%s\n' "$out" | grep -q "pg_restore .*dbname=$scratch" || fail "pg_restore did not target $scratch"
ok "a good backup passes, with and without --restore, and leaves no scratch database"

# ---- bad layers, each beside a good one --------------------------------------
old_ms=$(( ($(date +%s) - 3 * 86400) * 1000 ))
cp "$DUMP" "$WORK/stale.dump"
sed -E "s/(\"taken_at_ms\":[[:space:]]*)[0-9]+/\1$old_ms/" "$PROV" >"$WORK/stale.dump.provenance.json"
cp "$DUMP" "$WORK/foreign.dump"
sed -E -e 's/("source_system_identifier":[[:space:]]*")[0-9]+"/\17299000000000000001"/' \
    -e 's/("source_cluster_name":[[:space:]]*")[^"]*"/\1prod-primary-DEPRECATED"/' \
    "$PROV" >"$WORK/foreign.dump.provenance.json"
# An empty backup: staging's schema without a row, as the provenance says.
pg_dump -Fc --schema-only -d "$CONNINFO" -f "$WORK/empty.dump"
sed -E 's/("public\.[a-z_]+":[[:space:]]*)[0-9]+/\10/' "$PROV" >"$WORK/empty.dump.provenance.json"
# A dump that lost transactions' rows, while its provenance claims them.
pg_dump -Fc --exclude-table-data=transactions -d "$CONNINFO" -f "$WORK/partial.dump"
cp "$PROV" "$WORK/partial.dump.provenance.json"
: >"$WORK/layers.lua"
layer nightly_dump "$DUMP" ', tolerance = 0.05'
layer stale_dump "$WORK/stale.dump"
layer foreign_dump "$WORK/foreign.dump"
layer empty_dump "$WORK/empty.dump"
layer missing_dump "$WORK/missing.dump"
layer partial_dump "$WORK/partial.dump"
env=$(env_layers partial_dump)

run_lb audit --env "$env" --report none
expect_rc 1 "bad layers are gaps"
expect_out "FAILED  layers 9  gaps 4 \(critical 4, major 0, minor 0\)"
id=$(last_run)
expect_gap "$id" critical "stale_dump is stale: taken 3d00h ago ($(date -u -d "@$((old_ms / 1000))" +%Y-%m-%dT%H:%M:%S).000Z), max_age 1d02h"
expect_gap "$id" critical "backup source is not the pinned target: foreign_dump comes from system_identifier 7299000000000000001 (cluster prod-primary-DEPRECATED), staging is pinned to $STAGING_SYSID"
expect_gap "$id" critical "empty_dump is empty: its provenance records 0 rows in 4 tables"
expect_gap "$id" critical "missing_dump: $WORK/missing.dump does not exist"
# The good layer beside them has no gap.
expect_eq "$(store "SELECT count(*) FROM gaps g JOIN steps s ON s.run_id=g.run_id AND s.seq=g.step_seq
                    WHERE g.run_id='$id' AND s.name IN ('audit nightly_dump', 'audit partial_dump')")" 0 \
    "good layers have no gap"
expect_eq "$(store "SELECT count(*) FROM steps WHERE run_id='$id' AND status='passed'")" 9 "every layer audited"
ok "stale, foreign, empty and missing backups are critical gaps naming the layer and the numbers"

run_lb audit --env "$env" --restore --report none
expect_rc 1 "restore findings"
id=$(last_run)
expect_gap "$id" critical "restore is empty: empty_dump restored 0 rows in 4 tables, staging holds 126000 rows now"
expect_gap "$id" critical "partial_dump: transactions: 0 rows restored, 100000 live (-100.0%, tolerance 5%)"
expect_gap "$id" critical "partial_dump: transactions: 0 rows restored, 100000 recorded in its provenance: the archive does not hold what its provenance claims"
expect_eq "$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND title LIKE 'nightly\_dump%' ESCAPE '\\'")" 0 \
    "the good layer still passes"
expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND name='missing_dump: restorable' AND ok=0")" 1 \
    "a missing file is not restorable"
# The sandbox's physical layers beside them restore into scratch clusters
# (test_audit_restores_physical_layers.sh) and pass.
expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND ok=1 AND name IN
                    ('base_backup: restorable', 'pgbackrest_hot: restorable', 'pgbackrest_cold: restorable')")" 3 \
    "the physical layers restore"
expect_eq "$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND (title LIKE 'base\_backup%' ESCAPE '\\'
                    OR title LIKE 'pgbackrest%' OR title LIKE '%not implemented yet%')")" 0 \
    "the physical layers have no gap"
expect_eq "$(scratch_dbs)" 0 "every scratch database was dropped"
ok "--restore finds an empty restore and a count out of tolerance, with both numbers"

# ---- safety ------------------------------------------------------------------
# Without --restore nothing connects: a target nobody listens on is fine.
env=$(env_with 's/port=[0-9]*/port=1/')
run_lb audit --env "$env" --report none
expect_rc 0 "audit without --restore makes no connection"
# With --restore a wrong guard token refuses before anything is created.
env=$(env_with 's/guard_token = "[^"]*"/guard_token = "not-the-token"/')
run_lb audit --env "$env" --restore --report none
expect_rc 3 "guard refusal"
expect_err "refused|guard|token"
id=$(last_run)
expect_eq "$(store "SELECT status FROM runs WHERE id='$id'")" refused "run refused"
expect_eq "$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND category='safety' AND severity='critical'")" 1 \
    "a safety gap"
expect_eq "$(scratch_dbs)" 0 "nothing created after a refusal"
# --restore needs a declared scratch target; nothing is recorded without one.
env=$(env_with '/^  scratch = /d')
runs_before=$(store "SELECT count(*) FROM runs")
run_lb audit --env "$env" --restore --report none
expect_rc 2 "--restore without scratch"
expect_err "needs a scratch target"
expect_eq "$(store "SELECT count(*) FROM runs")" "$runs_before" "no run recorded"
ok "the audit's restore is guarded, and needs a declared scratch target"

expect_eq "$(counts)" "$before_counts" "row counts unchanged by the audits"
expect_eq "$(checksums)" "$before_sums" "content unchanged by the audits"
expect_eq "$(scratch_dbs)" 0 "no scratch database left"
ok "staging's data is unchanged by every audit"
