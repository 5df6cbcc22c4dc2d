# exec{} runs an argv (no shell), is killed at its timeout, and what it
# prints reaches the store with secrets masked.
. "$(dirname "$0")/lib.sh"
cat >"$WORK/exec.lua" <<'LUA'
scenario { id = "exec", title = "exec" }
step("talkative tool", { kind = "action" }, function()
  local r = exec { "sh", "-c", "echo connecting with password=hunter2secret; echo done; exit 3" }
  check("exit status captured", r.status == 3, { expected = 3, observed = r.status })
  check("output redacted for the scenario too", not r.output:find("hunter2secret"),
        { expected = "masked", observed = r.output })
end)
step("stuck tool", { kind = "action", critical = false }, function()
  exec { "sleep", "30", timeout = "500ms" }
end)
LUA
start=$(date +%s)
run_lb run "$WORK/exec.lua" --yes --report none
expect_rc 1 "the stuck tool's timeout is a gap"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "timeout did not kill the tool"
expect_eq "$(store "SELECT count(*) FROM checks WHERE ok=0")" 0 "checks"
expect_eq "$(store "SELECT count(*) FROM steps WHERE output_tail LIKE '%hunter2secret%'")" 0 "secret in store"
expect_eq "$(store "SELECT count(*) FROM steps WHERE output_tail LIKE '%password=****%'")" 1 "masked output stored"
expect_eq "$(store "SELECT status FROM steps WHERE name='stuck tool'")" timeout "stuck tool timed out"
expect_eq "$(store "SELECT count(*) FROM steps WHERE name='stuck tool' AND duration_ms < 10000")" 1 "killed fast"
ok "exec: status, redacted output, killed at its timeout"
