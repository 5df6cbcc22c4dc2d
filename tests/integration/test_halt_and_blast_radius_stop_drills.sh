# The halt switch blocks drills before any step; a blast-radius limit stops a
# fault before it commits. Either way the data is untouched and the exit is 4.
. "$(dirname "$0")/lib.sh"
before=$(counts)

run_lb halt --reason "change freeze"
expect_rc 0 "halt"
run_lb run "$SCENARIOS/dropped_table.lua" --yes --report none
expect_rc 4 "halted"
expect_err "halted"
expect_eq "$(counts)" "$before" "halted drill touched nothing"
run_lb halt --release
expect_rc 0 "release"
ok "halt blocks a drill before its first step"

cat >"$WORK/radius.lua" <<'LUA'
scenario { id = "radius", title = "a delete bigger than allowed",
           limits = { max_rows = 100, faults = { "delete_where" } } }
local db = target "staging"
step("delete every account", { kind = "fault" }, function()
  fault.delete_where(db, "accounts", "true")
end)
LUA
run_lb run "$WORK/radius.lua" --yes --report none
expect_rc 4 "blast radius"
expect_err "blast radius"
expect_eq "$(counts)" "$before" "blast-radius abort rolled the delete back"
ok "max_rows stops a delete that would cascade past the limit"

cat >"$WORK/kinds.lua" <<'LUA'
scenario { id = "kinds", title = "a fault kind not allowed",
           limits = { faults = { "truncate" }, tables = { "users" } } }
local db = target "staging"
step("drop inventory", { kind = "fault" }, function() fault.drop_table(db, "inventory") end)
LUA
run_lb run "$WORK/kinds.lua" --yes --report none
expect_rc 4 "fault kind"
expect_eq "$(counts)" "$before" "disallowed fault touched nothing"
ok "limits.faults stops a fault kind the scenario did not allow"
