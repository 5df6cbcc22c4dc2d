# The incident, on a sandbox of its own built with --with-deprecated: a
# second cluster (own system_identifier, same schema, no rows) that the
# nightly dump is taken from. `lifeboat audit` catches it without touching
# anything; scenarios/backup_that_wasnt.lua fails with exactly the expected
# gaps ("backup source is not the pinned target", "restore is empty" with
# the numbers), and its rollback leaves staging's data as it was.
. "$(dirname "$0")/lib.sh"

SBX="$LB_IT_DIR/sandbox-deprecated"
ENV="$SBX/environment.lua"
export LIFEBOAT_ENV="$ENV"
trap '"$LIFEBOAT" sandbox down --dir "$SBX" >/dev/null 2>&1 || true' EXIT

"$LIFEBOAT" sandbox down --dir "$SBX" >/dev/null 2>&1 || true
run_lb sandbox up --dir "$SBX" --with-deprecated --scale 1
expect_rc 0 "sandbox up --with-deprecated"

# sandbox.json: staging's facts first, then the "deprecated" object's.
json_all() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$SBX/sandbox.json"; }
STAGING_SYSID=$(json_all system_identifier | sed -n 1p)
DEP_SYSID=$(json_all system_identifier | sed -n 2p)
# lib.sh's pg() and counts() talk to $CONNINFO: this sandbox's staging.
CONNINFO=$(json_all conninfo | sed -n 1p)
export CONNINFO
DEP_CONNINFO=$(json_all conninfo | sed -n 2p)
DEP_SERVER_DIR=$(json_all server_dir | sed -n 2p)
if [ -z "$STAGING_SYSID" ] || [ -z "$DEP_SYSID" ] || [ -z "$DEP_CONNINFO" ]; then
    cat "$SBX/sandbox.json"
    fail "sandbox.json lacks the deprecated cluster"
fi
[ "$STAGING_SYSID" != "$DEP_SYSID" ] || fail "the deprecated cluster shares staging's identifier"
dep() { psql "$DEP_CONNINFO" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# The deprecated cluster: live, its own identity, staging's schema, no rows.
expect_eq "$(dep "SELECT system_identifier::text FROM pg_control_system()")" "$DEP_SYSID" "deprecated identity"
expect_eq "$(dep "SELECT current_setting('cluster_name')")" sandbox-deprecated "deprecated cluster_name"
expect_eq "$(psql "$DEP_CONNINFO" -XAtq -c "SELECT (SELECT count(*) FROM accounts) || ' ' ||
    (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM inventory) || ' ' ||
    (SELECT count(*) FROM transactions)")" "0 0 0 0" "deprecated tables are empty"
expect_eq "$(counts)" "1000 5000 20000 100000" "staging is seeded"
grep -q 'deprecated = {' "$ENV" || fail "no deprecated target in the environment"
grep -q 'staging_dump = {' "$ENV" || fail "no staging_dump layer in the environment"
grep -q "\"source_system_identifier\":[[:space:]]*\"$DEP_SYSID\"" "$SBX/backups/nightly.dump.provenance.json" ||
    fail "nightly.dump is not taken from the deprecated cluster"
# Idempotent: a second up changes nothing.
run_lb sandbox up --dir "$SBX" --with-deprecated
expect_rc 0 "second up"
expect_err "deprecated cluster already running"
expect_eq "$(json_all system_identifier | sed -n 2p)" "$DEP_SYSID" "same deprecated cluster"
ok "sandbox up --with-deprecated builds the deprecated cluster the nightly dump points at"

checksums() {
    pg "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
          SELECT 'a' || md5(string_agg(t::text, ',' ORDER BY id)) FROM accounts t UNION ALL
          SELECT 'u' || md5(string_agg(t::text, ',' ORDER BY id)) FROM users t UNION ALL
          SELECT 'i' || md5(string_agg(t::text, ',' ORDER BY id)) FROM inventory t UNION ALL
          SELECT 't' || md5(string_agg(t::text, ',' ORDER BY id)) FROM transactions t) s(x)"
}
before_counts=$(counts)
before_sums=$(checksums)
before_guard=$(pg "SELECT environment || ' ' || token FROM lifeboat_guard")
gaps_of() { store "SELECT severity || ' | ' || title FROM gaps WHERE run_id='$1' ORDER BY severity, title"; }
last_run() { store "SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"; }
SOURCE_GAP="backup source is not the pinned target: nightly_dump comes from system_identifier $DEP_SYSID (cluster sandbox-deprecated, target 'deprecated'), staging is pinned to $STAGING_SYSID"

# ---- the audit catches it, without and with a restore -------------------------
run_lb audit --report none
expect_rc 1 "audit finds the deprecated source"
id=$(last_run)
expect_eq "$(gaps_of "$id")" "critical | $SOURCE_GAP
critical | nightly_dump is empty: its provenance records 0 rows in 4 tables" "audit gaps"
run_lb audit --layer nightly_dump --layer staging_dump --restore -o "$WORK/reports"
expect_rc 1 "audit --restore"
id=$(last_run)
expect_eq "$(gaps_of "$id")" "critical | $SOURCE_GAP
critical | nightly_dump is empty: its provenance records 0 rows in 4 tables
critical | restore is empty: nightly_dump restored 0 rows in 4 tables, staging holds 126000 rows now" \
    "audit --restore gaps"
expect_eq "$(store "SELECT status FROM steps WHERE run_id='$id' AND name='audit staging_dump'")" passed \
    "the good dump passes"
grep -q "restore is empty: nightly_dump restored 0 rows in 4 tables, staging holds 126000 rows now" \
    "$WORK/reports/$id.md" || fail "the audit report lacks the numbers"
expect_eq "$(pg "SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat\_audit\_%'")" 0 "scratch dropped"
expect_eq "$(counts)" "$before_counts" "audit leaves the counts"
expect_eq "$(checksums)" "$before_sums" "audit leaves the content"
ok "audit finds the backup that wasn't, and leaves the sandbox's data unchanged"

# ---- the drill fails with exactly its gaps -----------------------------------
run_lb run "$SCENARIOS/backup_that_wasnt.lua" --yes -o "$WORK/reports"
expect_rc 1 "the drill must fail"
expect_out "FAILED"
id=$(last_run)
expect_eq "$(store "SELECT status FROM runs WHERE id='$id'")" failed "run status"
expect_eq "$(gaps_of "$id")" "critical | accounts: restore is empty (0 rows, 1000 expected)
critical | $SOURCE_GAP
critical | inventory: restore is empty (0 rows, 20000 expected)
critical | not recovered: step 'validate every table against the baseline' did not pass, so no RTO was measured
critical | transactions: restore is empty (0 rows, 100000 expected)
critical | users: restore is empty (0 rows, 5000 expected)
major | RPO not measured: no heartbeat or backup provenance told how much data was lost
major | step 'validate every table against the baseline' failed" "the drill's gaps"
expect_eq "$(store "SELECT status FROM rollbacks WHERE run_id='$id'")" passed "rollback from the good dump"
for n in "0 rows, 100000 expected" "$DEP_SYSID" "$STAGING_SYSID"; do
    grep -q -- "$n" "$WORK/reports/$id.md" || fail "the report lacks '$n'"
done
expect_eq "$(store "SELECT value FROM metrics WHERE run_id='$id' AND name='restored.rows'")" 0.0 \
    "restored rows measured"
expect_eq "$(counts)" "$before_counts" "the drill leaves the counts as they were"
expect_eq "$(checksums)" "$before_sums" "the drill leaves the content as it was"
expect_eq "$(pg "SELECT environment || ' ' || token FROM lifeboat_guard")" "$before_guard" "guard marker"
ok "backup_that_wasnt fails with exactly its gaps, and the rollback puts staging back"

# ---- down removes both clusters ----------------------------------------------
run_lb sandbox down --dir "$SBX"
expect_rc 0 "sandbox down"
[ ! -e "$DEP_SERVER_DIR" ] || fail "the deprecated server directory is left: $DEP_SERVER_DIR"
[ ! -e "$SBX" ] || fail "the sandbox directory is left"
if psql "$DEP_CONNINFO" -XAtq -c "SELECT 1" >/dev/null 2>&1; then
    fail "the deprecated server still answers"
fi
ok "sandbox down stops and removes the deprecated cluster too"
