# A drill that loses one account's inventory behind the foreign keys' back
# (session_replication_role = replica skips the cascade) comes out with
# gaps that say which rows are missing, which group they share, and which
# foreign key the loss broke, from the Lua API (baseline, compare,
# foreign_key_violations) through a real run and the store.
. "$(dirname "$0")/lib.sh"
trap reset_sandbox EXIT

cat >"$WORK/lose_account.lua" <<'EOF'
scenario {
  id = "it-validate-lose-account",
  title = "An account's inventory disappears without its cascade",
  objectives = { rto = "10m", rpo = "1d" },
}
local db = target "staging"
local before

step("baseline", { kind = "check" }, function()
  before = db:baseline()
  expect(before.tables["public.inventory"].detail == "rows", "inventory keeps per-row detail")
  expect(before.connections >= 1, "the baseline says how many connections read it")
end)

step("delete account 187's inventory as a replica would", { kind = "fault" }, function()
  db:exec("SET session_replication_role = replica")
  db:exec("DELETE FROM inventory WHERE account_id = $1", 187)
  db:exec("RESET session_replication_role")
end)

step("compare without foreign keys", { kind = "check" }, function()
  local diff = db:compare(before, { foreign_keys = false })
  expect(diff.foreign_keys == nil, "no foreign keys checked when told not to")
  local inv = diff.tables["public.inventory"]
  log(("inventory: %d missing, group %s"):format(inv.missing, tostring(inv.missing_group)))
end)

step("compare", { kind = "check" }, function()
  local diff = db:compare(before, { samples = 3 })
  local inv = diff.tables["public.inventory"]
  check("inventory's missing rows are named", inv.missing == 20 and inv.missing_group == "187"
        and inv.samples[1].key == "187" and #inv.samples == 3,
        { expected = "20 rows of account 187", observed = tostring(inv.missing) })
  local broken = {}
  for _, v in ipairs(diff.foreign_keys) do
    if v.count > 0 then broken[#broken + 1] = v.constraint .. "=" .. v.count end
  end
  check("compare found the broken foreign key", table.concat(broken, ",") ==
        "transactions_inventory_id_fkey=100", { expected = "transactions_inventory_id_fkey=100",
        observed = table.concat(broken, ",") })
  local v = db:foreign_key_violations { tables = { "transactions" }, samples = 2 }
  local found
  for _, x in ipairs(v) do
    if x.constraint == "transactions_inventory_id_fkey" then found = x end
  end
  check("foreign_key_violations names it too", found ~= nil and found.count == 100
        and found.references == "public.inventory" and #found.samples == 2
        and found.missing[1] == "187",
        { expected = "100 rows, parent 187", observed = found and tostring(found.count) })
end)
EOF

run_lb run "$WORK/lose_account.lua" --yes --report none --parallel 2
expect_rc 1 "a drill that lost rows has gaps"
id=$(store "SELECT id FROM runs LIMIT 1")

# The API checks of the scenario itself passed.
n=$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND ok = 0 AND name LIKE '%named%'")
expect_eq "$n" 0 "the scenario's own checks"
n=$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND ok = 0
           AND name = 'compare found the broken foreign key'")
expect_eq "$n" 0 "compare's foreign keys"

# The localised gap, as a post-mortem reads it: once per compare.
n=$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND severity='critical'
           AND title LIKE '20 rows of inventory for account_id 187 are missing (id 187, 1187, 2187%'")
[ "$n" -eq 2 ] || { store "SELECT severity, title FROM gaps"; fail "no localised inventory gap"; }
n=$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND name = 'inventory: missing rows'
           AND observed = '20: id 187, 1187, 2187, … (all account_id 187)'")
expect_eq "$n" 1 "a failed 'inventory: missing rows' check with 3 sample keys"

# One check per foreign key (4 for compare, 2 for foreign_key_violations of
# transactions), a major gap for the broken one, with its parent keys.
n=$(store "SELECT count(*) FROM checks WHERE run_id='$id' AND name LIKE '%: fk %'")
expect_eq "$n" 6 "checks of foreign keys"
n=$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND severity='major'
           AND title LIKE 'transactions: 100 rows reference inventory rows that do not exist%'
           AND title LIKE '%(transactions_inventory_id_fkey: inventory_id 187, 1187%'")
[ "$n" -eq 2 ] || { store "SELECT severity, title FROM gaps"; fail "no major foreign key gap"; }
n=$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND title LIKE '%users_account_id_fkey%'")
expect_eq "$n" 0 "an intact foreign key is no gap"
ok "compare names the missing rows and their account; the broken foreign key is found and named"
