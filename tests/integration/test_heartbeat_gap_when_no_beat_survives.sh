# When no heartbeat from before the incident survives (here the fault drops
# the heartbeat table and nothing brings it back), heartbeat_rpo measures
# nothing and records the major gap "no heartbeat survived the restore".
# The writer keeps trying without ever re-creating the table (which would
# race a restore re-creating it).
. "$(dirname "$0")/lib.sh"

cat >"$WORK/gone.lua" <<'LUA'
scenario {
  id = "heartbeat-gone",
  title = "The heartbeat table does not survive",
  objectives = { rto = "5m", rpo = "1h" },
  limits = { tables = { "lifeboat_heartbeat" }, faults = { "drop_table" } },
}
local db = target "staging"

step("heartbeat", { kind = "check" }, function()
  db:heartbeat_start { interval = "200ms" }
  sleep("600ms")
end)

step("drop the heartbeat table", { kind = "fault" }, function()
  fault.drop_table(db, "lifeboat_heartbeat")
end)

step("a restore that does not bring it back", { kind = "restore" }, function()
  sleep("1s")
end)

step("measure", { kind = "check" }, function()
  local rpo, how = db:heartbeat_rpo()
  expect(rpo == nil, "nothing to measure")
  expect(how.verdict == "none survived", "verdict: " .. how.verdict)
  expect(not db:exists("lifeboat_heartbeat"), "the writer did not re-create the table")
  local s = db:heartbeat_stop()
  expect(s.failures >= 3, "beats failed once the table was gone: " .. s.failures)
  expect(s.last_error and s.last_error:find("lifeboat_heartbeat", 1, true),
         "the last failure names the table: " .. tostring(s.last_error))
end)
LUA

run_lb run "$WORK/gone.lua" --yes -o "$WORK/reports"
expect_rc 1 "a drill with a major gap"
id=$(store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
expect_eq "$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND ok=0")" 0 "failed checks"
expect_eq "$(store "SELECT severity || '|' || category FROM gaps WHERE run_id='$id'
                    AND title='no heartbeat survived the restore'")" "major|rpo" "the gap"
expect_eq "$(pg "SELECT to_regclass('lifeboat_heartbeat') IS NULL")" t "table still gone"
ok "no surviving heartbeat is a major gap, and the writer never re-creates the table"
