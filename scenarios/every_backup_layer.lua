-- Every backup layer, restored for real, every month: what the incident's
-- team does since the day their snapshots turned out to be empty.
--
-- Each layer the environment declares is restored into a scratch target
-- that is torn down afterwards: a pg_dump archive into a throw-away
-- database on its source's cluster, a base backup and each pgBackRest
-- repository into a throw-away server on a free port, recovered to the
-- end of the backup itself (the layer, not the WAL after it). Each one is
-- then compared with the live primary: row counts within the layer's
-- tolerance (data changed since the backup is expected), no empty table,
-- the same schema. Reported per layer: restore time and data age.
--
-- A check-only drill: nothing is broken, so there is no incident and no
-- RTO or RPO to measure; a layer that fails is a gap of its own and does
-- not stop the others.
scenario {
  id = "every-backup-layer",
  title = "Restore every declared backup layer into scratch and validate it",
  tags = { "backup", "restore-test", "monthly" },
}

local db = target "staging"
local live

step("baseline of the live primary", { kind = "check" }, function()
  live = db:baseline { fingerprint = false }
  expect(live.rows > 0, "the live primary holds data to compare with")
end)

-- One step per layer, declared from the environment (none when the
-- scenario is only checked, without one).
local names = {}
for name in pairs(env.backups or {}) do names[#names + 1] = name end
table.sort(names)

for _, name in ipairs(names) do
  local layer = backup(name)
  local spec = env.backups[name]
  step("restore " .. name .. " into scratch and validate it", { kind = "restore", timeout = "30m" },
       function()
    local r = restore.scratch {
      from = layer,
      type = spec.kind ~= "pg_dump" and "immediate" or nil,
    }
    metric("layer." .. name .. ".restore_time", r.duration, "s")
    if r.data_age then
      metric("layer." .. name .. ".data_age", r.data_age, "s")
    end
    log(("%s (%s): restored in %.1fs, data %s old (%s)"):format(name, spec.kind, r.duration,
        r.data_age and ("%.0fs"):format(r.data_age) or "of unknown age",
        r.data_age_from or "no snapshot time"))
    if spec.max_age and r.data_age then
      check(name .. ": data younger than max_age", r.data_age <= spec.max_age,
            { expected = ("<= %.0fs"):format(spec.max_age), observed = ("%.0fs"):format(r.data_age) })
    end
    local diff = r.target:compare(live, { tolerance = spec.tolerance, fingerprint = false })
    restore.drop_scratch(r.target)
    expect(diff.ok, name .. " restores with every table, rows within tolerance")
  end)
end
