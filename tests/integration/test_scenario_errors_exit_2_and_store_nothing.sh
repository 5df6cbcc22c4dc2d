# A scenario with a syntax error, or a plan that names an unknown target or
# backup, a bad duration or a duplicate step, exits 2 with file:line, and the
# store holds no run: nothing was touched.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/syntax.lua" <<'LUA'
scenario { id = "syntax", title = "broken" }
step("one", function()
  local x = = 1
end)
LUA
run_lb run "$WORK/syntax.lua" --yes
expect_rc 2 "syntax error"
expect_err "syntax.lua:3:"
ok "syntax error: exit 2 with file:line"

cat >"$WORK/plan.lua" <<'LUA'
scenario { id = "plan", title = "bad plan" }
local db = target "nope"
local b = backup "nowhere"
step("one", { kind = "check", timeout = "10x" }, function() end)
step("one", function() end)
step("two", { kind = "sabotage" }, function() end)
LUA
run_lb run "$WORK/plan.lua" --yes
expect_rc 2 "plan errors"
expect_err "plan.lua:2: unknown target 'nope'"
expect_err "plan.lua:3: unknown backup 'nowhere'"
expect_err "plan.lua:4: step 'one': timeout: .*10x"
expect_err "plan.lua:5: duplicate step name 'one'"
expect_err "plan.lua:6: step 'two': unknown kind 'sabotage'"
ok "plan errors: every one reported with file:line"

run_lb check "$WORK/plan.lua"
expect_rc 2 "check finds the same errors"
expect_err "plan.lua:5: duplicate step name"

cat >"$WORK/misuse.lua" <<'LUA'
scenario { id = "misuse", title = "acts while loading" }
local db = target "staging"
db:exec("DROP TABLE inventory")
step("one", function() end)
LUA
run_lb run "$WORK/misuse.lua" --yes
expect_rc 2 "acting at load time"
expect_err "misuse.lua:3: .*only be called inside a step"
expect_eq "$(pg "SELECT to_regclass('inventory') IS NOT NULL")" t "inventory untouched"
ok "a target method called while loading is refused with file:line"

if [ -f "$LIFEBOAT_STORE" ]; then
    expect_eq "$(store "SELECT count(*) FROM runs")" 0 "no run stored"
fi
ok "the store holds no run"
