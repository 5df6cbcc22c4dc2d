# fault.encrypt_table and fault.corrupt_rows overwrite content in place,
# keeping keys and row counts: counts match, only fingerprints catch it,
# and the faults prove they landed. The blast radius stops a corruption
# that would change too many rows before anything changes. restore.command
# runs a team's own step and records it; a failing one fails the step.
. "$(dirname "$0")/recovery_lib.sh"

sums() {
    pg "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM users t" | tr '\n' ' '
    pg "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM inventory t"
}
before=$(counts)
sums_before=$(sums)

# --- blast radius first: nothing may change
cat >"$WORK/too_many.lua" <<'LUA'
scenario { id = "corrupt-too-many", title = "corrupt more rows than allowed",
           limits = { max_rows = 100, tables = { "inventory" } } }
local db = target "staging"
step("corrupt", { kind = "fault" }, function()
  fault.corrupt_rows(db, "inventory", { rows = 500 })
end)
LUA
run_lb run "$WORK/too_many.lua" --yes
expect_rc 4 "blast radius"
expect_err "blast radius: fault.corrupt_rows would change 500 rows"
expect_eq "$(sums)" "$sums_before" "content after the aborted fault"
ok "blast radius: corrupt_rows of 500 rows (max 100) aborted, nothing changed"

# --- the faults land; counts hold; fingerprints catch it
cat >"$WORK/damage.lua" <<'LUA'
scenario { id = "damage", title = "encrypt users, corrupt inventory" }
local db = target "staging"
local before
step("baseline", { kind = "check" }, function() before = db:baseline() end)
step("damage", { kind = "fault" }, function()
  local e = fault.encrypt_table(db, "users")
  local c = fault.corrupt_rows(db, "inventory", { rows = 7 })
  metric("test.encrypted", e.rows)
  metric("test.corrupted", c.rows)
end)
step("compare", { kind = "check" }, function()
  db:compare(before, { tolerance = 0 })
end)
LUA
# From here on the data is damaged: whatever happens, it is put back.
trap 'reset_sandbox; repair_sandbox' EXIT
run_lb run "$WORK/damage.lua" --yes
expect_rc 1 "the damage is found"
id=$(last_run)
expect_eq "$(metric_of "$id" test.encrypted | cut -d. -f1)" "$(pg "SELECT count(*) FROM users")" "users encrypted"
expect_eq "$(metric_of "$id" test.corrupted | cut -d. -f1)" 7 "inventory rows corrupted"
expect_eq "$(counts)" "$before" "row counts after the damage"
expect_eq "$(store "SELECT ok FROM checks WHERE run_id='$id' AND name LIKE 'users: rows%'")" 1 \
    "the users count check passes"
expect_eq "$(store "SELECT ok FROM checks WHERE run_id='$id' AND name LIKE 'users: content%'")" 0 \
    "the users content check fails"
expect_eq "$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND severity='critical'
                    AND title LIKE 'inventory: 7 rows changed%'")" 1 "the inventory gap"
[ "$(pg "SELECT count(*) FROM users WHERE email LIKE 'lifeboat:%'")" -gt 0 ] ||
    fail "users were not encrypted"
expect_eq "$(pg "SELECT count(*) FROM users u LEFT JOIN accounts a ON a.id = u.account_id
                 WHERE a.id IS NULL")" 0 "users still join their accounts"
ok "encrypt_table and corrupt_rows landed: counts and joins hold, fingerprints catch it"

# Put the data back as the nightly dump has it.
reset_sandbox
expect_eq "$(sums)" "$sums_before" "content after the reset"

# --- restore.command: recorded; a non-zero exit fails the step
cat >"$WORK/command.lua" <<'LUA'
scenario { id = "runbook-command", title = "a team's own runbook step" }
step("our runbook step", { kind = "restore" }, function()
  local r = restore.command { argv = { "sh", "-c", "echo flipped the DNS record; exit 0" },
                              timeout = "30s" }
  expect(r.status == 0 and r.output:find("flipped the DNS record"), "output captured")
end)
step("a failing runbook step", { kind = "restore" }, function()
  restore.command { "sh", "-c", "echo no such volume >&2; exit 3" }
end)
LUA
run_lb run "$WORK/command.lua" --yes
expect_rc 1 "a failing command"
id=$(last_run)
expect_eq "$(store "SELECT status FROM steps WHERE run_id='$id' AND seq=1")" passed "first step"
expect_eq "$(store "SELECT status FROM steps WHERE run_id='$id' AND seq=2")" failed "second step"
store "SELECT output_tail FROM steps WHERE run_id='$id' AND seq=1" | grep -q '^\$ sh -c' ||
    fail "the command line is not recorded"
expect_eq "$(store "SELECT CAST(value AS INTEGER) FROM metrics WHERE run_id='$id' AND step_seq=2
                    AND name='restore.command.exit_status'")" 3 "exit status recorded"
expect_eq "$(store "SELECT error LIKE '%no such volume%' FROM steps WHERE run_id='$id' AND seq=2")" 1 \
    "the error names the tool's last line"
ok "restore.command is recorded like any restore; a failure fails its step"
