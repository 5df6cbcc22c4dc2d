# kill -9 of lifeboat mid-step leaves a readable run; the next command that
# opens the store marks it interrupted, with its rollbacks not run.
. "$(dirname "$0")/lib.sh"
cat >"$WORK/kill9.lua" <<'LUA'
scenario { id = "kill9", title = "killed mid-step" }
local db = target "staging"
step("read something", { kind = "check" }, function()
  expect(db:scalar("SELECT count(*) FROM accounts") > 0, "accounts present")
end)
step("a long wait", { kind = "check" }, function() sleep("120s") end)
rollback("nothing to undo", function() return true end)
LUA
"$LIFEBOAT" run "$WORK/kill9.lua" --yes --report none >"$WORK/out" 2>"$WORK/err" </dev/null &
pid=$!
for _ in $(seq 1 200); do
    [ -f "$LIFEBOAT_STORE" ] &&
        [ "$(store "SELECT count(*) FROM steps WHERE name='a long wait' AND status='running'" 2>/dev/null)" = 1 ] &&
        break
    sleep 0.1
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
run_lb runs --json
expect_rc 0 "runs"
expect_out '"status": "interrupted"'
expect_eq "$(store "SELECT status FROM steps WHERE name='read something'")" passed "finished step kept"
expect_eq "$(store "SELECT status FROM steps WHERE name='a long wait'")" interrupted "step in flight"
expect_eq "$(store "SELECT status FROM rollbacks")" not_run "rollback recorded as not run"
ok "kill -9: the run reads back interrupted"
