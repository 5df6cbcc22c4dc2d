-- The incident, whole. A cleanup DELETE whose WHERE matches every account
-- empties every table through ON DELETE CASCADE; the team restores the
-- nightly dump and finds it empty: for four months the backup job had been
-- dumping a deprecated instance nothing wrote to any more, and the
-- quarterly "backup test" only checked that a restore starts.
--
-- This drill must FAIL, with the two gaps the team never saw coming:
--   "backup source is not the pinned target" (the dump's provenance names
--   another cluster than the one staging is pinned to), and
--   "restore is empty" (0 rows restored, N expected, per table).
--
-- Run it against `lifeboat sandbox up --with-deprecated`, which builds that
-- deprecated cluster and points nightly_dump at it. The rollback puts
-- staging back from a good dump (staging_dump), so the sandbox ends as it
-- began. `lifeboat audit` finds the same two problems without deleting
-- anything: run it first.
scenario {
  id = "backup-that-wasnt",
  title = "The backup that wasn't: the nightly dump comes from a deprecated, empty instance",
  objectives = { rto = "15m", rpo = "26h" },
  tags = { "postgres", "pg_dump", "provenance", "incident-2024-03-14" },
  limits = { tables = { "accounts" }, faults = { "delete_where" } },
}

local db = target "staging"
local nightly = backup "nightly_dump"
local good = backup "staging_dump"
local before

-- Row counts of the four tables, in one snapshot.
local COUNTS = [[
  SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM users) AS users,
         (SELECT count(*) FROM inventory) AS inventory,
         (SELECT count(*) FROM transactions) AS transactions]]

local function matches_baseline()
  local now = db:query(COUNTS)[1]
  for _, t in ipairs { "accounts", "users", "inventory", "transactions" } do
    if now[t] ~= before.tables["public." .. t].rows then
      return false
    end
  end
  return true
end

step("baseline", { kind = "check" }, function()
  before = db:baseline()
  expect(before.rows > 0, "staging holds data before the fault")
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

-- What the team never looked at: where the nightly dump comes from.
step("check where the nightly dump comes from", { kind = "check" }, function()
  local claimed = env.backups.nightly_dump.source
  local pinned = env.targets[claimed].system_identifier
  local info, why = nightly:info()
  if not info then
    gap { severity = "major", category = "backup",
          title = "nightly_dump has no provenance: its source cannot be proven",
          detail = why }
    return
  end
  metric("nightly_dump.rows", info.rows, "rows")
  log(("nightly_dump: taken %s from system_identifier %s, %d rows"):format(
    info.taken_at, info.system_identifier or "?", info.rows))
  if info.system_identifier ~= pinned then
    local from = {}
    if info.cluster_name then from[#from + 1] = "cluster " .. info.cluster_name end
    for name, t in pairs(env.targets) do
      if t.system_identifier == info.system_identifier then
        from[#from + 1] = ("target '%s'"):format(name)
      end
    end
    gap { severity = "critical", category = "backup",
          title = ("backup source is not the pinned target: nightly_dump comes from "
                   .. "system_identifier %s%s, %s is pinned to %s"):format(
                   info.system_identifier or "?",
                   #from > 0 and (" (" .. table.concat(from, ", ") .. ")") or "",
                   claimed, pinned),
          detail = ("the environment says nightly_dump backs up '%s'; its provenance says "
                    .. "otherwise, and records %d rows"):format(claimed, info.rows) }
  end
end)

-- The team restores anyway, as they did.
step("restore the database from the nightly dump", { kind = "restore", timeout = "20m" }, function()
  restore.pg_restore { target = db, from = nightly, clean = true, jobs = 2 }
end)

-- The check the quarterly "backup test" never made: is the data there?
step("validate every table against the baseline", { kind = "check" }, function()
  local diff = db:compare(before, { tolerance = 0 })
  local restored = 0
  for _, t in pairs(diff.tables) do
    restored = restored + math.max(t.rows_after, 0)
  end
  metric("restored.rows", restored, "rows")
  metric("expected.rows", before.rows, "rows")
  log(("restored %d rows, %d expected"):format(restored, before.rows))
  expect(diff.ok, "restored data matches the baseline")
end)

-- Always: staging gets its data back from a dump that really is staging's.
rollback("put staging back from the good dump (staging_dump)", function()
  if not before then
    return true      -- the baseline never ran: nothing was touched
  end
  if not matches_baseline() then
    restore.pg_restore { target = db, from = good, clean = true, jobs = 2 }
  end
  return matches_baseline()
end)
