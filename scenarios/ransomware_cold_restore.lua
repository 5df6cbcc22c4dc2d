-- Ransomware: every table of the inventory database is encrypted in place.
-- Row counts do not move (keys and joins stay, so the application even
-- keeps "working"): a backup check that counts rows sees nothing, only
-- content fingerprints catch it. The hot backups are assumed lost with the
-- hosts; the restore comes from the cold pgBackRest repository (repo 2,
-- off-site), to the instant before the encryption began.
--
-- pgBackRest restores into a new data directory beside the primary's, the
-- server replays the archived WAL to just before the incident and is
-- promoted in the old one's place; its output and timing are recorded.
-- The heartbeat measures the RPO. The rollback rebuilds the replica, which
-- replayed the encryption.
scenario {
  id = "ransomware-cold-restore",
  title = "Ransomware encrypts every table: restore from the cold pgBackRest repository",
  objectives = { rto = "15m", rpo = "5s" },
  tags = { "postgres", "pgbackrest", "ransomware", "cold-storage" },
  limits = { faults = { "encrypt_table" } },
}

local db = target "staging"
local west = target "replica"
local cold = backup "pgbackrest_cold"
local before, slot

step("baseline", { kind = "check" }, function()
  before = db:baseline()
  expect(before.rows > 0, "staging holds data before the fault")
  local info, why = cold:info()
  expect(info and info.exists, "the cold repository holds a backup: " .. tostring(why))
  log(("cold repository: newest backup %s, %.0fs old"):format(info.latest.label, info.age))
  slot = west:replication().slot
  db:heartbeat_start { interval = "250ms" }
  sleep("1s")
end)

step("encrypt every table", { kind = "fault" }, function()
  for _, t in ipairs(db:tables()) do
    local r = fault.encrypt_table(db, t)
    log(("%s: %d rows encrypted (%s)"):format(t, r.rows, table.concat(r.columns, ", ")))
  end
end)

step("row counts alone see nothing", { kind = "check" }, function()
  for t, b in pairs(before.tables) do
    local n = db:scalar("SELECT count(*) FROM " .. t)
    check(t .. ": row count unchanged after the encryption", n == b.rows,
          { expected = tostring(b.rows), observed = tostring(n) })
  end
end)

step("restore from the cold repository", { kind = "restore", timeout = "20m" }, function()
  mark("detected")   -- the recovery runbook starts: from now on the damage is known
  local r = restore.pgbackrest { target = db, from = cold, type = "time",
                                 target_time = "before_incident" }
  log(("restored in %.1fs; newest data %s"):format(r.duration, r.newest_data or "?"))
end)

step("validate content fingerprints against the baseline", { kind = "check" }, function()
  local rpo, how = db:heartbeat_rpo()
  log(("RPO %s by %s: %s"):format(rpo and ("%.3fs"):format(rpo) or "not measured",
      how.method or "no method", how.reason))
  expect(rpo ~= nil, "the heartbeat measured the RPO")
  local diff = db:compare(before, { tolerance = 0 })
  expect(diff.ok, "every table holds its content again, not just its rows")
end)

rollback("the replica follows the restored primary", function()
  if not db:identity().in_recovery and not west:replication().streaming then
    restore.rebuild_replica { target = west, from = db, slot = slot }
  end
  return west:replication().streaming
end)
