# The heartbeat writer survives its server going away: while the server is
# stopped, beats fail and are counted; once it is back the writer
# reconnects by itself (proving the target again) and beats on. A restart
# loses no committed beat, and heartbeat_rpo says so: the table went
# through crash recovery with everything else, RPO is under one interval.
. "$(dirname "$0")/lib.sh"

stop_argv=$(sed -n 's/^ *stop  *= \({.*}\),$/\1/p' "$LB_SANDBOX/environment.lua" | head -n 1)
start_argv=$(sed -n 's/^ *start *= \({.*}\),$/\1/p' "$LB_SANDBOX/environment.lua" | head -n 1)
[ -n "$stop_argv" ] && [ -n "$start_argv" ] || fail "no stop/start argv in the sandbox environment"

cat >"$WORK/restart.lua" <<LUA
scenario {
  id = "heartbeat-restart",
  title = "The heartbeat writer rides through a server restart",
  objectives = { rto = "5m", rpo = "1s" },
}
local db = target "staging"

step("heartbeat", { kind = "check" }, function()
  db:heartbeat_start { interval = "200ms" }
  sleep("1s")
end)

step("stop the server", { kind = "fault" }, function()
  local r = exec(${stop_argv})
  expect(r.status == 0, "pg_ctl stop: " .. r.output)
  sleep("1s")
end)

step("start it again", { kind = "restore" }, function()
  local r = exec(${start_argv})
  expect(r.status == 0, "pg_ctl start: " .. r.output)
  db:wait_ready { timeout = "60s" }
  sleep("1500ms")
end)

step("measure", { kind = "check" }, function()
  local rpo, how = db:heartbeat_rpo()
  expect(how.verdict == "measured", "restart counts as recovery: " .. how.reason)
  expect(rpo ~= nil and rpo < 1, "no committed beat lost: " .. tostring(rpo))
  local s = db:heartbeat_stop()
  metric("test.failures", s.failures)
  metric("test.connects", s.connects)
  expect(s.failures >= 2, "beats failed while the server was down: " .. s.failures)
  expect(s.connects >= 2, "the writer reconnected: " .. s.connects)
end)

-- Whatever happened, the sandbox's server runs again (pg_ctl start fails
-- harmlessly when it already does).
rollback("the server runs", function()
  exec(${start_argv})
  db:wait_ready { timeout = "60s" }
  return true
end)
LUA

run_lb run "$WORK/restart.lua" --yes -o "$WORK/reports"
expect_rc 0 "restart drill"
id=$(store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
failures=$(store "SELECT CAST(value AS INTEGER) FROM metrics WHERE run_id='$id' AND name='test.failures'")
echo "failed beats while the server was down: $failures"
restart=$(pg "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000)::bigint")
after=$(pg "SELECT count(*) FROM lifeboat_heartbeat WHERE run_id = '$id' AND at > to_timestamp($restart / 1000.0)")
[ "$after" -ge 3 ] || fail "only $after beats after the restart"
ok "the writer beat $after times after the restart, $failures failed while down"
expect_eq "$(store "SELECT rpo_method LIKE 'heartbeat%' FROM runs WHERE id='$id'")" 1 "RPO method"
ok "a restart loses no committed beat and the heartbeat measures it"
