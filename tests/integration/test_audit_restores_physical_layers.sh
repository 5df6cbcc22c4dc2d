# `lifeboat audit --restore` of the physical layers on the real sandbox:
# base_backup (base backup + WAL archive), pgbackrest_hot and
# pgbackrest_cold are each restored into a scratch cluster beside staging's
# data directory, to the backup's consistent point, on a port of their own;
# the rows that come back equal staging's, and the scratch cluster is
# stopped and removed. Damaged copies of the base backup (emptied, without
# pg_control, without a table's data file) are critical gaps and leave
# nothing behind either. Staging's data, the WAL archive and the pgBackRest
# repositories are the same before and after.
. "$(dirname "$0")/lib.sh"

ENV_FILE="$LB_SANDBOX/environment.lua"
STAGING_DIR=$(awk '/^    staging = [{]/ { s = 1 } s && $1 == "data_dir" { sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit }' "$ENV_FILE")
ARCHIVE=$(sed -n 's/^.*base_backup = .*wal_archive = "\([^"]*\)".*$/\1/p' "$ENV_FILE")
PGBR_CONF=$(sed -n 's/^.*pgbackrest_hot = .*path = "\([^"]*\)".*$/\1/p' "$ENV_FILE")
BASE="$LB_SANDBOX/backups/base"
[ -n "$STAGING_DIR" ] && [ -d "$STAGING_DIR" ] || fail "no staging data_dir in $ENV_FILE"
[ -n "$ARCHIVE" ] && [ -d "$ARCHIVE" ] || fail "no WAL archive in $ENV_FILE"
[ -n "$PGBR_CONF" ] && [ -f "$PGBR_CONF" ] || fail "no pgBackRest configuration in $ENV_FILE"
PGBR_DIR=$(dirname "$PGBR_CONF")
STAGING_SYSID=$(sed -n 's/^[[:space:]]*"system_identifier":[[:space:]]*"\([0-9]*\)".*$/\1/p' \
    "$LB_SANDBOX/sandbox.json" | head -n 1)
[ -n "$STAGING_SYSID" ] || fail "no system_identifier in sandbox.json"

checksums() {
    pg "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
          SELECT 'a' || md5(string_agg(t::text, ',' ORDER BY id)) FROM accounts t UNION ALL
          SELECT 'u' || md5(string_agg(t::text, ',' ORDER BY id)) FROM users t UNION ALL
          SELECT 'i' || md5(string_agg(t::text, ',' ORDER BY id)) FROM inventory t UNION ALL
          SELECT 't' || md5(string_agg(t::text, ',' ORDER BY id)) FROM transactions t) s(x)"
}
# Every file of the WAL archive and of both repositories' archives and
# backup lists, with its checksum: a scratch timeline would show here.
archives() {
    (cd "$ARCHIVE" && find . -type f | LC_ALL=C sort | xargs -r md5sum)
    (cd "$PGBR_DIR" && find repo1/archive repo2/archive repo1/backup repo2/backup -type f |
        LC_ALL=C sort | xargs -r md5sum)
}
siblings() { ls -d "$STAGING_DIR".* 2>/dev/null || true; }
last_run() { store "SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"; }
check_of() { store "SELECT observed FROM checks WHERE run_id='$1' AND name='$2'"; }
metric_of() { store "SELECT value || ' ' || unit FROM metrics WHERE run_id='$1' AND name='$2'"; }
gaps_of() { store "SELECT severity || ' | ' || category || ' | ' || title FROM gaps WHERE run_id='$1' ORDER BY title"; }

before_counts=$(counts)
before_sums=$(checksums)
before_archives=$(archives)
before_siblings=$(siblings)
before_started=$(pg "SELECT pg_postmaster_start_time()")
before_tli=$(pg "SELECT timeline_id FROM pg_control_checkpoint()")
expect_eq "$before_counts" "1000 5000 20000 100000" "staging is seeded (accounts users inventory transactions)"

# ---- each physical layer restores and matches staging -------------------------
for layer in base_backup pgbackrest_hot pgbackrest_cold; do
    run_lb audit --restore --layer "$layer" --report none
    expect_rc 0 "$layer restores into a scratch cluster and matches staging"
    expect_out "PASSED  layers 1  gaps 0"
    id=$(last_run)
    expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND ok=0")" 0 "$layer: no failed check"
    expect_eq "$(check_of "$id" "$layer: users: rows")" 5000 "$layer: users restored"
    expect_eq "$(check_of "$id" "$layer: accounts: rows")" 1000 "$layer: accounts restored"
    expect_eq "$(check_of "$id" "$layer: inventory: rows")" 20000 "$layer: inventory restored"
    expect_eq "$(check_of "$id" "$layer: transactions: rows")" 100000 "$layer: transactions restored"
    expect_eq "$(check_of "$id" "$layer: transactions: as its provenance records")" 100000 \
        "$layer: as its provenance records"
    expect_eq "$(check_of "$id" "$layer: foreign keys validated")" "0 NOT VALID" "$layer: foreign keys"
    expect_eq "$(metric_of "$id" "$layer.restored_rows")" "126000.0 rows" "$layer: restored rows metric"
    expect_eq "$(metric_of "$id" "$layer.source_rows")" "126000.0 rows" "$layer: source rows metric"
    restore_ms=$(store "SELECT CAST(value AS INTEGER) FROM metrics WHERE run_id='$id' AND name='$layer.restore' AND unit='ms'")
    [ -n "$restore_ms" ] && [ "$restore_ms" -gt 0 ] || fail "$layer: no restore time metric"
    # The step output names the directory and port, and says both are gone.
    out=$(store "SELECT output_tail FROM steps WHERE run_id='$id' AND seq=1")
    line=$(printf '%s\n' "$out" | grep "^restoring $layer " || true)
    dir=$(printf '%s\n' "$line" | sed -n 's/^.* into scratch cluster \([^ ]*\) on 127\.0\.0\.1:\([0-9]*\),.*$/\1/p')
    port=$(printf '%s\n' "$line" | sed -n 's/^.* into scratch cluster \([^ ]*\) on 127\.0\.0\.1:\([0-9]*\),.*$/\2/p')
    [ -n "$dir" ] && [ -n "$port" ] || { printf '%s\n' "$out"; fail "$layer: no scratch directory and port in the step output"; }
    case "$dir" in "$STAGING_DIR".audit-*) ;; *) fail "$layer: $dir is not a sibling of $STAGING_DIR" ;; esac
    printf '%s\n' "$out" | grep -qxF "connected to the scratch cluster: system_identifier $STAGING_SYSID (a copy of target 'staging'), cluster_name 'sandbox-us-east-1-audit-$layer', archive_mode off" ||
        { printf '%s\n' "$out"; fail "$layer: the scratch cluster was not proven (identity, name, archiving off)"; }
    printf '%s\n' "$out" | grep -qxF "stopped the scratch cluster on 127.0.0.1:$port and removed $dir" ||
        { printf '%s\n' "$out"; fail "$layer: the step output does not say $dir was removed"; }
    [ ! -e "$dir" ] || fail "$layer: $dir is left"
    if psql "host=127.0.0.1 port=$port dbname=inventory user=lifeboat connect_timeout=2" -XAtqc 'SELECT 1' >/dev/null 2>&1; then
        fail "$layer: a server still answers on 127.0.0.1:$port"
    fi
    expect_eq "$(siblings)" "$before_siblings" "$layer: nothing left beside staging's data directory"
    echo "# $layer: restore check took ${restore_ms} ms (step $(store "SELECT duration_ms FROM steps WHERE run_id='$id' AND seq=1") ms)"
done
ok "base_backup, pgbackrest_hot and pgbackrest_cold restore into scratch clusters with staging's rows, and leave nothing behind"

# ---- damaged base backups are critical, and leave nothing behind --------------
# Copies under $WORK: emptied; without global/pg_control (the server cannot
# start); without the data file of its largest table (it starts, but that
# table cannot be read).
mkdir -p "$WORK/emptied"
cp -a "$BASE" "$WORK/no_control"
rm "$WORK/no_control/global/pg_control"
cp -a "$BASE" "$WORK/no_table"
lost=$(find "$WORK/no_table/base" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
[ -n "$lost" ] || fail "no table file in the base backup copy"
rm "$lost"
for c in emptied no_control no_table; do
    cp "$BASE.provenance.json" "$WORK/$c.provenance.json"
    printf '    %s = { kind = "basebackup", path = "%s", wal_archive = "%s", source = "staging", max_age = "8d" },\n' \
        "$c" "$WORK/$c" "$ARCHIVE" >>"$WORK/layers.lua"
done
sed -e "/^    nightly_dump = /r $WORK/layers.lua" "$ENV_FILE" >"$WORK/layers_env.lua"
grep -q "no_table = " "$WORK/layers_env.lua" || fail "layers not in the environment"

run_lb audit --env "$WORK/layers_env.lua" --restore --layer emptied --layer no_control --layer no_table --report none
expect_rc 1 "damaged base backups are gaps"
expect_out "FAILED  layers 3  gaps 3 \(critical 3, major 0, minor 0\)"
id=$(last_run)
gaps=$(gaps_of "$id")
printf '%s\n' "$gaps" | grep -qxF "critical | backup | emptied: restore failed: point-in-time recovery: $WORK/emptied: no backup_label (not a base backup?)" ||
    { printf '%s\n' "$gaps"; fail "no critical gap for the emptied base backup"; }
printf '%s\n' "$gaps" | grep -q "^critical | backup | no_control: restore failed: starting $STAGING_DIR\.audit-.*global/pg_control.*No such file or directory" ||
    { printf '%s\n' "$gaps"; fail "no critical gap for the base backup without pg_control"; }
printf '%s\n' "$gaps" | grep -q "^critical | backup | no_table: restored data cannot be read: .*could not open file \"base/.*\": No such file or directory" ||
    { printf '%s\n' "$gaps"; fail "no critical gap for the base backup without a table file"; }
expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND name IN ('emptied: restorable', 'no_control: restorable') AND ok=0")" 2 \
    "neither restores"
expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND name='no_table: restored rows readable' AND ok=0")" 1 \
    "the restore without a table file cannot be read"
# The server's own words are in the step output.
store "SELECT output_tail FROM steps WHERE run_id='$id' AND name='audit no_control'" |
    grep -q "could not find the database system" || fail "the server log is not in the step output"
expect_eq "$(store "SELECT count(*) FROM steps WHERE run_id='$id' AND
                    (output_tail LIKE '%' || char(10) || 'removed $STAGING_DIR.audit-%' OR
                     output_tail LIKE '%' || char(10) || 'stopped the scratch cluster on 127.0.0.1:% and removed $STAGING_DIR.audit-%')")" 3 \
    "every step says its scratch directory is gone"
expect_eq "$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND category='cleanup'")" 0 "no cleanup gap"
expect_eq "$(siblings)" "$before_siblings" "nothing left beside staging's data directory after the failures"
ok "emptied and damaged base backups are critical gaps, and their scratch clusters are removed"

# ---- safety ------------------------------------------------------------------
# The source must be proven first: a wrong guard token refuses, nothing made.
env=$(env_with 's/guard_token = "[^"]*"/guard_token = "not-the-token"/')
run_lb audit --env "$env" --restore --layer base_backup --report none
expect_rc 3 "guard refusal"
expect_eq "$(store "SELECT status FROM runs WHERE id='$(last_run)'")" refused "run refused"
expect_eq "$(siblings)" "$before_siblings" "nothing made after a refusal"
# No data_dir declared: refused before anything is recorded or made.
env=$(env_with '/^      data_dir = /d')
runs_before=$(store "SELECT count(*) FROM runs")
run_lb audit --env "$env" --restore --layer pgbackrest_cold --report none
expect_rc 2 "a source without data_dir"
expect_err "needs its source target to declare a data_dir"
expect_eq "$(store "SELECT count(*) FROM runs")" "$runs_before" "no run recorded"
expect_eq "$(siblings)" "$before_siblings" "nothing made without a data_dir"
ok "the scratch cluster needs a proven source with a data_dir"

# ---- staging is untouched ----------------------------------------------------
expect_eq "$(counts)" "$before_counts" "row counts unchanged"
expect_eq "$(checksums)" "$before_sums" "content unchanged"
expect_eq "$(archives)" "$before_archives" "the WAL archive and the pgBackRest repositories are unchanged"
expect_eq "$(pg "SELECT pg_postmaster_start_time()")" "$before_started" "staging never restarted"
expect_eq "$(pg "SELECT timeline_id FROM pg_control_checkpoint()")" "$before_tli" "staging's timeline"
expect_eq "$(pg "SELECT pg_is_in_recovery()")" f "staging is still the primary"
expect_eq "$(siblings)" "$before_siblings" "no scratch directory left"
ok "staging's data, its WAL archive and the pgBackRest repositories are unchanged"
