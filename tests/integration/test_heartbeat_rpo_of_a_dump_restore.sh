# Heartbeat RPO of a dump restore is within one interval of (incident time −
# dump time): a heartbeat runs, a pg_dump is taken during the drill, more
# beats land after it, every account is deleted, the whole archive is
# restored. The beats taken after the dump are lost with the restore, and
# the newest surviving beat dates the dump.
. "$(dirname "$0")/lib.sh"

INTERVAL_MS=250
AFTER_DUMP_MS=2000
DRILL_DUMP="$WORK/drill.dump"
ENV=$(env_with "s|^  backups = {|  backups = {\n    drill_dump = { kind = \"pg_dump\", path = \"$DRILL_DUMP\", source = \"staging\" },\n    missing_dump = { kind = \"pg_dump\", path = \"$WORK/missing.dump\", source = \"staging\" },|")
grep -q drill_dump "$ENV" || fail "could not add drill_dump to the environment"

cat >"$WORK/heartbeat_dump.lua" <<LUA
scenario {
  id = "heartbeat-dump-rpo",
  title = "Heartbeat RPO of a whole restore of a dump taken during the drill",
  objectives = { rto = "10m", rpo = "1h" },
  limits = { tables = { "accounts" }, faults = { "delete_where" } },
}
local db = target "staging"
local dump = backup "drill_dump"
local nightly = backup "nightly_dump"
local before

step("baseline and heartbeat", { kind = "check" }, function()
  before = db:baseline()
  db:heartbeat_start { interval = "${INTERVAL_MS}ms" }
  sleep("1s")
end)

step("take a dump while the heartbeat beats", { kind = "action" }, function()
  local p = backupctl.pg_dump { target = db, to = dump }
  metric("dump.taken_at_ms", p.taken_at_ms, "ms")
  local info = dump:info()
  expect(info.exists and info.provenance, "the dump and its provenance are there")
  expect(info.size > 0 and info.age >= 0 and info.age < 60, "size and age")
  expect(info.taken_at_ms == p.taken_at_ms, "info reads back the provenance")
  expect(info.toc and info.toc.format == "CUSTOM", "pg_restore --list reads the archive")
  expect(info.toc.dbname == "inventory" and info.toc.dumped_from:match("^%d+%.%d+"),
         "the archive names its database and server version")
  expect(info.toc.data_entries >= 5 and info.toc.entries > #info.toc.tables,
         "entries are counted")
  local none, why = backup("missing_dump"):info()
  expect(none == nil and why:find("does not exist", 1, true), "a missing backup: " .. tostring(why))
  local has_heartbeat = false
  for _, t in ipairs(info.toc.tables) do
    if t == "public.lifeboat_heartbeat" then has_heartbeat = true end
  end
  expect(has_heartbeat, "the dump holds the heartbeat table")
  sleep("${AFTER_DUMP_MS}ms")
end)

step("delete every account", { kind = "fault" }, function()
  fault.delete_where(db, "accounts", "true")
end)

step("restore the whole dump", { kind = "restore" }, function()
  restore.pg_restore { target = db, from = dump, clean = true }
end)

step("measure RPO and validate", { kind = "check" }, function()
  local rpo, how = db:heartbeat_rpo { from = dump }
  expect(rpo ~= nil, "the heartbeat measured an RPO: " .. how.reason)
  expect(how.method == "heartbeat", "measured by the heartbeat, not " .. tostring(how.method))
  expect(how.beats_lost > 0, "the beats after the dump were lost")
  metric("test.rpo_ms", rpo * 1000, "ms")
  local stats = db:heartbeat_stop()
  expect(stats.beats > 8, "the writer kept beating: " .. stats.beats)
  expect(db:compare(before, { tolerance = 0 }).ok, "restored data matches the baseline")
end)

rollback("accounts hold data again", function()
  if (db:scalar("SELECT count(*) FROM accounts") or 0) == 0 then
    restore.pg_restore { target = db, from = nightly, clean = true }
  end
  return db:scalar("SELECT count(*) FROM accounts") > 0
end)
LUA

before=$(counts)
run_lb run "$WORK/heartbeat_dump.lua" --env "$ENV" --yes -o "$WORK/reports"
expect_rc 0 "heartbeat drill"
id=$(store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
expect_eq "$(store "SELECT rpo_method LIKE 'heartbeat%' FROM runs WHERE id='$id'")" 1 "RPO method"

incident=$(store "SELECT at FROM marks WHERE run_id='$id' AND name='incident'")
taken=$(store "SELECT CAST(value AS INTEGER) FROM metrics WHERE run_id='$id' AND name='dump.taken_at_ms'")
rpo=$(store "SELECT rpo_ms FROM runs WHERE id='$id'")
[ -n "$incident" ] && [ -n "$taken" ] && [ -n "$rpo" ] || fail "incident '$incident', dump '$taken', RPO '$rpo'"
# The provenance file says the same taken_at as the metric.
expect_eq "$(jq -r .taken_at_ms "$DRILL_DUMP.provenance.json")" "$taken" "provenance taken_at"
age=$((incident - taken))
diff=$((rpo - age))
echo "incident − dump = ${age} ms, heartbeat RPO = ${rpo} ms, difference ${diff} ms (interval ${INTERVAL_MS} ms)"
[ "$age" -ge "$AFTER_DUMP_MS" ] || fail "the dump is only ${age} ms older than the incident"
[ "${diff#-}" -le "$INTERVAL_MS" ] || fail "heartbeat RPO ${rpo} ms is not within ${INTERVAL_MS} ms of ${age} ms"
lost=$(store "SELECT CAST(value AS INTEGER) FROM metrics WHERE run_id='$id' AND name='heartbeat.beats_lost'")
[ "$lost" -ge $((AFTER_DUMP_MS / INTERVAL_MS - 2)) ] || fail "only $lost beats lost"
ok "heartbeat RPO ${rpo} ms is within one interval of incident − dump time (${age} ms)"

expect_eq "$(counts)" "$before" "the drill leaves the sandbox as it found it"
# The writer is gone with the run: no connection of ours is left beating.
sleep 1
n1=$(pg "SELECT count(*) FROM lifeboat_heartbeat")
sleep 1
expect_eq "$(pg "SELECT count(*) FROM lifeboat_heartbeat")" "$n1" "no beats after the run"
ok "no heartbeat outlives the run"
