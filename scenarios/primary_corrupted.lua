-- The primary's data is damaged: a bad deploy overwrites rows of inventory
-- and transactions with garbage. Keys, row counts and joins still hold, so
-- only content fingerprints can tell; the replica has already replayed the
-- damage, and the last base backup is older than it.
--
-- Point-in-time recovery: the base backup is restored into a new data
-- directory beside the primary's, the WAL archive is replayed up to the
-- instant just before the incident, the new directory takes the old one's
-- place and is promoted. The heartbeat measures what was lost: the writes
-- between the last beat and the incident, well under a second.
--
-- The rollback rebuilds the replica from the restored primary (it replayed
-- the damage and cannot follow the new timeline).
scenario {
  id = "primary-corrupted",
  title = "Rows on the primary are overwritten with garbage: PITR to just before",
  objectives = { rto = "10m", rpo = "5s" },
  tags = { "postgres", "pitr", "wal-archive", "basebackup" },
  limits = { tables = { "inventory", "transactions" }, faults = { "corrupt_rows" },
             max_rows = 1000 },
}

local db = target "staging"
local west = target "replica"
local base = backup "base_backup"
local before, slot

step("baseline", { kind = "check" }, function()
  before = db:baseline()
  expect(before.rows > 0, "staging holds data before the fault")
  local info = base:info()
  expect(info and info.exists, "the base backup exists")
  log(("base backup taken %s (%s old), WAL archive %s"):format(info.taken_at or "?",
      info.age and ("%.0fs"):format(info.age) or "?", env.backups.base_backup.path))
  slot = west:replication().slot
  db:heartbeat_start { interval = "250ms" }
  sleep("1s")
end)

step("overwrite rows with garbage", { kind = "fault" }, function()
  local inv = fault.corrupt_rows(db, "inventory", { rows = 200 })
  local tx = fault.corrupt_rows(db, "transactions", { rows = 500 })
  log(("garbage in %d inventory and %d transactions rows"):format(inv.rows, tx.rows))
end)

step("point-in-time recovery to just before the incident", { kind = "restore", timeout = "15m" },
     function()
  mark("detected")   -- the recovery runbook starts: from now on the damage is known
  local r = restore.pitr { target = db, from = base, target_time = "before_incident" }
  log(("restored in %.1fs; newest data %s"):format(r.duration, r.newest_data or "?"))
end)

step("validate every table against the baseline", { kind = "check" }, function()
  local rpo, how = db:heartbeat_rpo()
  log(("RPO %s by %s: %s"):format(rpo and ("%.3fs"):format(rpo) or "not measured",
      how.method or "no method", how.reason))
  expect(rpo ~= nil and rpo < 2, "PITR lost under 2 s of committed writes")
  local diff = db:compare(before, { tolerance = 0 })
  expect(diff.ok, "restored data matches the baseline")
end)

rollback("the replica follows the restored primary", function()
  if not db:identity().in_recovery and not west:replication().streaming then
    restore.rebuild_replica { target = west, from = db, slot = slot }
  end
  return west:replication().streaming
end)
