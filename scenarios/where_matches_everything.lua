-- The incident: a cleanup script meant to delete the test accounts ran with
-- a WHERE clause left over from debugging,
--
--   WHERE email LIKE '%@test%' OR email NOT LIKE '%@test%'
--
-- which matches every account. ON DELETE CASCADE carried the delete into
-- users, inventory and transactions: every table emptied in one statement.
-- Restore the whole database from the nightly dump and prove every table is
-- back, row for row.
--
-- A heartbeat commits a row every second from the baseline on. The whole
-- archive is restored, so when the dump holds lifeboat_heartbeat its table
-- comes back as old as the dump and the RPO is the newest surviving beat's
-- age at the incident; when it does not, heartbeat_rpo falls back on the
-- dump's provenance and says so.
scenario {
  id = "where-matches-everything",
  title = "A cleanup DELETE whose WHERE matches every account, cascading into every table",
  objectives = { rto = "15m", rpo = "26h" },
  tags = { "postgres", "logical-restore", "pg_dump", "incident-2024-03-14" },
  limits = { tables = { "accounts" }, faults = { "delete_where" } },
}

local db = target "staging"
local dump = backup "nightly_dump"
local before

step("baseline", { kind = "check" }, function()
  before = db:baseline()
  expect(before.rows > 0, "staging holds data before the fault")
  local test_accounts = db:scalar("SELECT count(*) FROM accounts WHERE email LIKE $1",
                                  "%@test.internal")
  log(("%d test accounts the cleanup was meant to delete"):format(test_accounts))
  db:heartbeat_start { interval = "1s" }
end)

step("run the cleanup with the debugging WHERE clause", { kind = "fault" }, function()
  local r = fault.delete_where(db, "accounts", "email LIKE $1 OR email NOT LIKE $1", "%@test%")
  log(("deleted %d accounts and %d rows through ON DELETE CASCADE"):format(r.rows, r.cascaded))
end)

step("detect: the tables are empty", { kind = "check" }, function()
  local left = db:scalar("SELECT count(*) FROM accounts")
  check("accounts emptied by the fault", left == 0, { expected = 0, observed = left })
  mark("detected")
end)

step("restore the database from the nightly dump", { kind = "restore", timeout = "20m" }, function()
  restore.pg_restore { target = db, from = dump, clean = true, jobs = 2 }
end)

step("validate every table against the baseline", { kind = "check" }, function()
  local rpo, how = db:heartbeat_rpo { from = dump }
  log(("RPO %s (%s): %s"):format(rpo and ("%.1fs"):format(rpo) or "not measured",
                                how.method or "no method", how.reason))
  local diff = db:compare(before, { tolerance = 0 })
  expect(diff.ok, "restored data matches the baseline")
end)

rollback("accounts hold data again", function()
  if (db:scalar("SELECT count(*) FROM accounts") or 0) == 0 then
    restore.pg_restore { target = db, from = dump, clean = true }
  end
  return db:scalar("SELECT count(*) FROM accounts") > 0
end)
