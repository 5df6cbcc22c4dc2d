-- us-east-1 is lost: the primary's region goes dark in the middle of the
-- day, while the application writes.
--
-- Every server of the region is stopped and fenced (so nothing restarts it
-- by accident during the drill), the replica in us-west-2 is checked and
-- promoted, and the logical name `primary` is re-pointed to it: the
-- heartbeat and the write load follow the route by themselves. RTO runs
-- from the incident to the first write committed on the new primary; RPO
-- is measured by the heartbeat (the replication lag the failover lost),
-- and the write load counts the acknowledged transactions that are gone.
--
-- The rollback fails back, so the environment is left as it was found:
-- us-east-1 is rebuilt as a replica of us-west-2, promoted in a clean
-- switchover, and us-west-2 is rebuilt as its replica again.
scenario {
  id = "region-loss",
  title = "us-east-1 is lost: fail over to the replica in us-west-2 under write load",
  objectives = { rto = "5m", rpo = "30s" },
  tags = { "postgres", "failover", "region", "streaming-replication" },
  limits = { faults = { "region_loss" } },
}

local db = target "primary"     -- the route the application uses: follows the failover
local east = target "staging"   -- us-east-1
local west = target "replica"   -- us-west-2
local before, slot, promoted

step("baseline, heartbeat and write load", { kind = "check" }, function()
  before = db:baseline()
  expect(before.rows > 0, "the primary holds data before the fault")
  local r = west:replication()
  expect(r.in_recovery and r.streaming, "the replica in us-west-2 streams from the primary")
  slot = r.slot
  db:heartbeat_start { interval = "250ms" }
  db:load_start { tps = 50 }
  sleep("2s")
  local lag = west:replication()
  metric("replica.replay_lag_bytes", lag.replay_lag_bytes or 0, "bytes")
  log(("replica replays %s behind the primary"):format(
    lag.replay_lag_bytes and (lag.replay_lag_bytes .. " bytes") or "an unknown amount"))
end)

step("lose us-east-1", { kind = "fault" }, function()
  local r = fault.region_loss("us-east-1")
  log(("region us-east-1: %d server(s) stopped, %d fenced"):format(r.stopped, r.fenced))
end)

step("fail over to us-west-2", { kind = "restore", timeout = "5m" }, function()
  -- The failover runbook starts here: from now on the outage is known.
  -- (A drill that pages people marks this when someone acknowledges.)
  mark("detected")
  local r = restore.promote { replica = west }
  promoted = true
  log(("promoted '%s' in %.2fs; it had replayed everything but %.2fs before the incident")
      :format(r.promoted, r.seconds, r.lag or -1))
end)

step("validate on the new primary", { kind = "check" }, function()
  sleep("1s")                    -- the writers commit on the new primary meanwhile
  local id = db:identity()
  expect(not id.in_recovery and id.cluster_name == env.targets.replica.cluster_name,
         "the route 'primary' reaches the promoted server in us-west-2")
  local load = db:load_stop()
  log(("write load: %d committed, %d failed, %s lost"):format(load.committed, load.failed,
      tostring(load.lost)))
  expect(load.committed > (load.committed_before_incident or 0),
         "the write load commits on the new primary")
  local rpo, how = db:heartbeat_rpo()
  log(("RPO %s by %s: %s"):format(rpo and ("%.3fs"):format(rpo) or "not measured",
      how.method or "no method", how.reason))
  expect(rpo ~= nil, "the heartbeat measured the RPO")
  local diff = db:compare(before, { tolerance = 0 })
  expect(diff.ok, "every table on the new primary matches the baseline")
end)

-- Fail back, whatever happened: us-east-1 primary, us-west-2 its streaming
-- replica, the route back on us-east-1.
rollback("us-east-1 is the primary again, us-west-2 its replica", function()
  if promoted then
    restore.rebuild_replica { target = east, from = west }
    restore.promote { replica = east, switchover = true }
    restore.rebuild_replica { target = west, from = east, slot = slot }
  else
    restore.unfence { target = east }
  end
  local e, w = east:replication(), west:replication()
  return not e.in_recovery and w.in_recovery and w.streaming
end)
