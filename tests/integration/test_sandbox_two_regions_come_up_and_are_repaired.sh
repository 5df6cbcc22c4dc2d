# The two-region sandbox, on a sandbox of its own: a primary (us-east-1)
# archiving WAL and a replica (us-west-2) streaming from it, every backup
# layer (pg_dump, base backup + WAL archive, pgBackRest hot and cold) with
# its provenance, all declared and pinned in environment.lua. A fence makes
# `pg_ctl start` fail until unfenced, and `sandbox up` puts the topology
# back after a drill changed it: a fenced primary, a stopped replica, a
# region lost and failed over to the replica.
. "$(dirname "$0")/lib.sh"

SB="$WORK/regions/sandbox"   # the server directory is named after "regions"
ENV="$SB/environment.lua"
takedown() { "$LIFEBOAT" sandbox down --dir "$SB" >/dev/null 2>&1 || true; }
trap takedown EXIT

# target_field TARGET KEY: the string value of KEY in TARGET's block.
target_field() {
    awk -v t="$1" -v k="$2" '
        $0 ~ "^    " t " = [{]" { inside = 1; next }
        inside && /^    },/ { exit }
        inside && $1 == k && $2 == "=" {
            v = $0; sub(/^[^"]*"/, "", v); sub(/".*$/, "", v); print v; exit
        }' "$ENV"
}
# target_argv TARGET KEY: the words of an argv list (paths hold no spaces here).
target_argv() {
    awk -v t="$1" -v k="$2" '
        $0 ~ "^    " t " = [{]" { inside = 1; next }
        inside && /^    },/ { exit }
        inside && $1 == k && $2 == "=" {
            v = $0; sub(/^[^{]*[{] */, "", v); sub(/ *[}],$/, "", v)
            gsub(/"/, "", v); gsub(/, /, " ", v); print v; exit
        }' "$ENV"
}
# on TARGET SQL: one value per line from a target's server.
on() { psql "$(target_field "$1" conninfo)" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
# wait_streaming: until the primary lists the replica as streaming (20 s).
wait_streaming() {
    local i
    for i in $(seq 1 100); do
        if [ "$(on staging "SELECT string_agg(application_name || ':' || state, ',')
                           FROM pg_stat_replication" 2>/dev/null)" = "sandbox-us-west-2:streaming" ]
        then return 0; fi
        sleep 0.2
    done
    fail "the replica does not stream from the primary: $(on staging 'TABLE pg_stat_replication' 2>&1)"
}
# as_server ARGV...: as the servers' OS user (postgres when root).
as_server() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start=$(date +%s)
run_lb sandbox up --dir "$SB" --scale 1
expect_rc 0 "sandbox up"
ok "the two-region sandbox came up in $(( $(date +%s) - start ))s"

# ---- two regions, one system ------------------------------------------------
sysid=$(target_field staging system_identifier)
token=$(target_field staging guard_token)
[ -n "$sysid" ] && [ -n "$token" ] || fail "no pinned identity in $ENV"
expect_eq "$(target_field staging region)" "us-east-1" "staging's region"
expect_eq "$(target_field replica region)" "us-west-2" "the replica's region"
expect_eq "$(target_field replica replica_of)" "staging" "replica_of"
expect_eq "$(target_field replica cluster_name)" "sandbox-us-west-2" "the replica's cluster_name"
expect_eq "$(target_field replica system_identifier)" "$sysid" "a physical replica is the same system"
expect_eq "$(target_field replica guard_token)" "$token" "the marker replicates"
[ "$(target_field replica conninfo)" != "$(target_field staging conninfo)" ] ||
    fail "the replica needs its own conninfo"
grep -q 'routes = { primary = "staging" }' "$ENV" || fail "no primary route"
for t in staging replica; do
    for k in stop start fence unfence; do
        [ -n "$(target_argv "$t" "$k")" ] || fail "$t declares no $k argv"
    done
    [ -n "$(target_field "$t" data_dir)" ] || fail "$t declares no data_dir"
done

wait_streaming
expect_eq "$(on replica 'SELECT pg_is_in_recovery()')" "t" "the replica is a standby"
expect_eq "$(on replica 'SELECT status FROM pg_stat_wal_receiver')" "streaming" "its WAL receiver"
expect_eq "$(on replica 'SELECT system_identifier FROM pg_control_system()')" "$sysid" \
    "the replica's live identifier"
expect_eq "$(on replica "SELECT current_setting('cluster_name')")" "sandbox-us-west-2" "live cluster_name"
expect_eq "$(on replica 'SELECT token FROM lifeboat_guard')" "$token" "the replicated marker"
expect_eq "$(on staging 'SELECT count(*) > 0 FROM accounts')" "t" "seeded"
ok "the primary streams to the replica: same system, own port and cluster_name"

# The guard accepts both targets as pinned.
cat >"$WORK/regions.lua" <<'LUA'
scenario { id = "two-regions", title = "Both regions answer as pinned" }
local primary = target "staging"
local replica = target "replica"
step("identities", { kind = "check" }, function()
  local p, r = primary:identity(), replica:identity()
  check("primary out of recovery", p.in_recovery == false)
  check("replica in recovery", r.in_recovery == true)
  check("one system", p.system_identifier == r.system_identifier)
  check("replica cluster_name", r.cluster_name == "sandbox-us-west-2")
end)
LUA
run_lb run "$WORK/regions.lua" --env "$ENV" --yes --report none
expect_rc 0 "a drill reading both regions"
ok "the guard passes both regions' pinned identities"

# ---- every backup layer, with provenance --------------------------------------
grep -Eq 'nightly_dump = \{ kind = "pg_dump"' "$ENV" || fail "no nightly_dump layer"
grep -Eq 'base_backup = \{ kind = "basebackup", path = "[^"]+", wal_archive = "[^"]+"' "$ENV" ||
    fail "no base_backup layer with its WAL archive"
grep -Eq 'pgbackrest_hot = \{ kind = "pgbackrest", stanza = "inventory", repo = 1, path = ' "$ENV" ||
    fail "no pgbackrest_hot layer"
grep -Eq 'pgbackrest_cold = \{ kind = "pgbackrest", stanza = "inventory", repo = 2, path = ' "$ENV" ||
    fail "no pgbackrest_cold layer"
[ "$(grep -c 'source = "staging"' "$ENV")" -eq 4 ] || fail "every layer names its source"

grep -q "\"source_system_identifier\":[[:space:]]*\"$sysid\"" "$SB/backups/nightly.dump.provenance.json" ||
    fail "dump provenance"
base_prov="$SB/backups/base.provenance.json"
for k in source_system_identifier taken_at start_lsn start_wal stop_lsn backup_label; do
    grep -q "\"$k\":" "$base_prov" || fail "base backup provenance lacks $k"
done
grep -q "\"source_system_identifier\":[[:space:]]*\"$sysid\"" "$base_prov" || fail "base backup source"
grep -q '"public.accounts":' "$base_prov" || fail "base backup per-table counts"
grep -q '^START TIME: .* UTC$' "$SB/backups/base/backup_label" || fail "base backup label"
wal_archive=$(sed -n 's/.*wal_archive = "\([^"]*\)".*/\1/p' "$ENV")
start_wal=$(sed -n 's/.*"start_wal":[[:space:]]*"\([0-9A-F]*\)".*/\1/p' "$base_prov")
[ -f "$wal_archive/$start_wal" ] || fail "the WAL archive lacks the base backup's first WAL file $start_wal"

conf=$(sed -n 's/.*pgbackrest_hot = .* path = "\([^"]*\)".*/\1/p' "$ENV")
expect_eq "$(sed -n 's/.*pgbackrest_cold = .* path = "\([^"]*\)".*/\1/p' "$ENV")" "$conf" \
    "both pgBackRest layers name the sandbox's configuration"
[ -f "$conf" ] || fail "no pgBackRest configuration at $conf"
grep -q "^repo1-path=$(dirname "$conf")/repo1\$" "$conf" || fail "repo1 of $conf"
grep -q "^repo2-path=$(dirname "$conf")/repo2\$" "$conf" || fail "repo2 of $conf"
for repo in 1 2; do
    prov="$(dirname "$conf")/repo$repo.provenance.json"
    grep -q '"kind":[[:space:]]*"pgbackrest"' "$prov" || fail "repo$repo provenance"
    grep -q "\"repo\":[[:space:]]*$repo" "$prov" || fail "repo$repo provenance names its repo"
    grep -q '"backup_label":[[:space:]]*"[0-9]*-[0-9]*F"' "$prov" || fail "repo$repo backup label"
    grep -q "\"source_system_identifier\":[[:space:]]*\"$sysid\"" "$prov" || fail "repo$repo source"
done
as_server pgbackrest --config="$conf" --stanza=inventory info >"$WORK/pgbr.info" 2>&1 ||
    { cat "$WORK/pgbr.info"; fail "pgbackrest info"; }
grep -q "status: ok" "$WORK/pgbr.info" || fail "stanza status: $(cat "$WORK/pgbr.info")"
grep -q "repo1: backup set size" "$WORK/pgbr.info" || fail "no backup in repo1 (hot)"
grep -q "repo2: backup set size" "$WORK/pgbr.info" || fail "no backup in repo2 (cold)"
ok "nightly dump, base backup + WAL archive, pgBackRest hot and cold: each with provenance"

# ---- a fence makes a restart fail until undone ------------------------------------
read -ra fence <<<"$(target_argv staging fence)"
read -ra start_argv <<<"$(target_argv staging start)"
data=$(target_field staging data_dir)
"${fence[@]}" >"$WORK/fence.out" 2>&1 || { cat "$WORK/fence.out"; fail "fence"; }
expect_eq "$(stat -c %a "$data")" "0" "a fenced data directory's mode"
[ -f "$data.FENCED" ] || fail "no fence marker beside $data"
if "${start_argv[@]}" >"$WORK/start.out" 2>&1; then fail "pg_ctl start worked on a fenced primary"; fi
if on staging "SELECT 1" >/dev/null 2>&1; then fail "the fenced primary answers"; fi
ok "a fenced primary does not start by accident"

run_lb sandbox up --dir "$SB"
expect_rc 0 "up after a fence"
expect_err "the primary is fenced: unfencing it"
expect_eq "$(stat -c %a "$data")" "700" "an unfenced data directory's mode"
[ ! -e "$data.FENCED" ] || fail "the fence marker is still there"
expect_eq "$(on staging 'SELECT pg_is_in_recovery()')" "f" "the primary runs again"
wait_streaming
ok "sandbox up unfences and starts a fenced primary; the replica streams again"

# The declared unfence undoes a fence as well.
"${fence[@]}" >/dev/null 2>&1 || fail "fence again"
read -ra unfence <<<"$(target_argv staging unfence)"
"${unfence[@]}" >/dev/null 2>&1 || fail "unfence"
"${start_argv[@]}" >"$WORK/start.out" 2>&1 || { cat "$WORK/start.out"; fail "start after unfence"; }
expect_eq "$(on staging 'SELECT 1')" "1" "the primary after unfence and start"
wait_streaming
ok "the declared unfence makes the primary startable again"

# ---- a stopped replica ------------------------------------------------------------------
read -ra stop_replica <<<"$(target_argv replica stop)"
"${stop_replica[@]}" >/dev/null 2>&1 || fail "stopping the replica"
if on replica "SELECT 1" >/dev/null 2>&1; then fail "the replica still answers"; fi
run_lb sandbox up --dir "$SB"
expect_rc 0 "up after the replica stopped"
expect_err "starting the stopped replica"
wait_streaming
ok "sandbox up starts a stopped replica"

# ---- a lost region, failed over to the replica -------------------------------------------
replica_data=$(target_field replica data_dir)
pg_ctl=$(target_argv replica start | tr ' ' '\n' | grep '/pg_ctl$')
"${fence[@]}" >/dev/null 2>&1 || fail "fencing the primary"
as_server "$pg_ctl" -D "$replica_data" -w promote >/dev/null || fail "promoting the replica"
on replica "CREATE TABLE failover_probe(x int); INSERT INTO failover_probe VALUES (42)" >/dev/null
before_env=$(grep -E 'conninfo|system_identifier|guard_token' "$ENV")
run_lb sandbox up --dir "$SB"
expect_rc 0 "up after a failover"
expect_err "the replica was promoted .*: rebuilding the primary from the replica"
expect_eq "$(on staging 'SELECT pg_is_in_recovery()')" "f" "the rebuilt primary"
expect_eq "$(on staging 'SELECT x FROM failover_probe')" "42" "the rebuilt primary holds the failed-over writes"
expect_eq "$(on staging 'SELECT system_identifier FROM pg_control_system()')" "$sysid" "same system"
wait_streaming
expect_eq "$(on replica 'SELECT pg_is_in_recovery()')" "t" "the replica is a standby again"
expect_eq "$(grep -E 'conninfo|system_identifier|guard_token' "$ENV")" "$before_env" \
    "environment.lua pins the same ports, identity and token"
ok "sandbox up fails back after a lost region: primary rebuilt from the replica, replica re-cloned"

run_lb sandbox status --dir "$SB"
expect_rc 0 "status"
expect_out "sandbox exists, running"

# ---- down removes everything -----------------------------------------------------------
server_dir=$(dirname "$data")
run_lb sandbox down --dir "$SB"
expect_rc 0 "down"
[ ! -e "$server_dir" ] || fail "$server_dir is still there"
[ ! -e "$(dirname "$replica_data")" ] || fail "the replica's server directory is still there"
[ ! -e "$SB" ] || fail "$SB is still there"
trap - EXIT
ok "sandbox down removes both servers, the archive and the repositories"
