# A failover drill whose replica was stopped before the fault: restore.promote
# finds no healthy replica, records a critical gap "no healthy replica",
# fails the step, and promotes nothing: the replica's data directory is
# still a stopped standby. The rollback starts us-east-1 again.
. "$(dirname "$0")/recovery_lib.sh"

stop_replica=$(env_argv replica stop)
[ -n "$stop_replica" ] || fail "no stop argv for the replica"
before=$(counts)

cat >"$WORK/no_replica.lua" <<LUA
scenario {
  id = "failover-without-a-replica",
  title = "The replica was already down when us-east-1 was lost",
  objectives = { rto = "5m", rpo = "30s" },
}
local db = target "primary"
local east = target "staging"
local west = target "replica"

step("baseline", { kind = "check" }, function()
  db:heartbeat_start { interval = "250ms" }
  sleep("500ms")
end)

step("the replica goes down first", { kind = "action" }, function()
  local r = exec(${stop_replica})
  expect(r.status == 0, "the replica stopped: " .. r.output)
end)

step("lose us-east-1", { kind = "fault" }, function()
  fault.region_loss("us-east-1")
end)

step("fail over to us-west-2", { kind = "restore", critical = true }, function()
  restore.promote { replica = west }
end)

rollback("us-east-1 runs again", function()
  restore.unfence { target = east }
  return not east:identity().in_recovery
end)
LUA

run_lb run "$WORK/no_replica.lua" --yes
expect_rc 1 "a failover without a healthy replica"
id=$(last_run)
expect_eq "$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND severity='critical'
                    AND title LIKE 'no healthy replica: ''replica'' does not answer%'")" 1 \
    "the 'no healthy replica' gap"
expect_eq "$(store "SELECT status FROM steps WHERE run_id='$id' AND name='fail over to us-west-2'")" \
    failed "the promote step"
expect_eq "$(store "SELECT count(*) FROM marks WHERE run_id='$id' AND name='recovered'")" 0 \
    "no recovered mark"
ok "restore.promote failed with the gap 'no healthy replica'"

# Nothing was promoted: the replica is still a stopped standby.
[ ! -e "$REPLICA_DIR/postmaster.pid" ] || fail "the replica runs"
[ -e "$REPLICA_DIR/standby.signal" ] || fail "the replica is no standby any more"
ok "the replica was not promoted: still a stopped standby"
# The rollback brought us-east-1 back; the repair starts the replica again.
expect_eq "$(pg "SELECT pg_is_in_recovery()")" f "staging runs as the primary again"
repair_sandbox
expect_topology "after the repair"
expect_eq "$(counts)" "$before" "data after the drill"
ok "us-east-1 is back; the sandbox is canonical again"
