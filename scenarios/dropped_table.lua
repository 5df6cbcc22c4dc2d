-- An operator drops the inventory table.
--
-- Restore it from the nightly pg_dump, with its indexes, constraints,
-- triggers, identity sequence and the foreign keys of other tables that
-- pointed at it (DROP ... CASCADE removed those), then prove every table is
-- back exactly as it was: row counts, content fingerprints and schema.
--
-- A heartbeat commits a row every second from the baseline on. Only
-- inventory is restored, so the heartbeat table is untouched by the restore
-- and heartbeat_rpo says so: the RPO is then measured from the dump's
-- provenance (its snapshot time), not assumed.
scenario {
  id = "dropped-table",
  title = "An operator drops the inventory table",
  objectives = { rto = "10m", rpo = "26h" },
  tags = { "postgres", "logical-restore", "pg_dump" },
  limits = { tables = { "inventory" }, faults = { "drop_table" } },
}

local db = target "staging"
local dump = backup "nightly_dump"
local before

step("baseline", { kind = "check" }, function()
  before = db:baseline()
  expect(before.rows > 0, "staging holds data before the fault")
  db:heartbeat_start { interval = "1s" }
end)

step("drop inventory", { kind = "fault" }, function()
  fault.drop_table(db, "inventory", { cascade = true })
end)

step("restore inventory from the nightly dump", { kind = "restore", timeout = "15m" }, function()
  restore.pg_restore { target = db, from = dump, tables = { "inventory" }, jobs = 2 }
end)

step("validate every table against the baseline", { kind = "check" }, function()
  local rpo, how = db:heartbeat_rpo { from = dump }
  log(("RPO %s (%s): %s"):format(rpo and ("%.1fs"):format(rpo) or "not measured",
                                how.method or "no method", how.reason))
  local diff = db:compare(before, { tolerance = 0 })
  expect(diff.ok, "restored data matches the baseline")
end)

-- Runs whatever happened: a drill stopped between the drop and the restore
-- must not leave staging without its inventory table.
rollback("inventory exists again", function()
  if not db:exists("inventory") then
    restore.pg_restore { target = db, from = dump, tables = { "inventory" } }
  end
  return db:exists("inventory")
end)
