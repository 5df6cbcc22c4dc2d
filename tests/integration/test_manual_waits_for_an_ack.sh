# manual(): without a terminal a drill waits for `lifeboat ack` from another
# shell; the time people took is the step's duration, who acknowledged is
# recorded; nobody acknowledging in time is a "people" gap and the step
# times out; `ack` refuses when nothing waits.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/page.lua" <<'LUA'
scenario { id = "page-the-dba", title = "a human has to do something" }
local who
step("page the DBA", { kind = "manual" }, function()
  local r = manual("call the DBA on duty and have them confirm", { timeout = "30s" })
  who = r.by
  metric("acknowledged_after", r.seconds, "s")
end)
step("after", { kind = "check" }, function() check("someone answered", who ~= nil) end)
LUA

"$LIFEBOAT" run "$WORK/page.lua" --yes --report none >"$WORK/run.out" 2>"$WORK/run.err" </dev/null &
pid=$!
for _ in $(seq 100); do
    [ "$(store "SELECT count(*) FROM acks WHERE state = 'waiting'" 2>/dev/null || echo 0)" = 1 ] && break
    sleep 0.1
done
expect_eq "$(store "SELECT step_seq || ' ' || prompt FROM acks")" "1 call the DBA on duty and have them confirm" "the wait"
run_id=$(store "SELECT run_id FROM acks")
sleep 1.2
run_lb ack "$run_id" 2
expect_rc 2 "ack at a step that does not wait"
expect_err "step 1 'page the DBA' does"
run_lb ack "$run_id" "page the DBA"
expect_rc 0 "ack"
expect_out "acknowledged run $run_id step 1 'page the DBA': call the DBA on duty"
set +e
wait "$pid"; rc=$?
set -e
[ "$rc" -eq 0 ] || { cat "$WORK/run.out" "$WORK/run.err"; fail "drill exit $rc"; }
expect_eq "$(store "SELECT state || ' ' || acked_via FROM acks")" "acknowledged cli" "ack recorded"
expect_eq "$(store "SELECT acked_by IS NOT NULL AND acked_by <> '' FROM acks")" 1 "who acknowledged"
[ "$(store "SELECT duration_ms >= 1200 FROM steps WHERE run_id = '$run_id' AND seq = 1")" = 1 ] ||
    fail "the step's duration is not the human's time"
[ "$(store "SELECT value >= 1.2 FROM metrics WHERE run_id = '$run_id' AND name = 'manual_wait'")" = 1 ] ||
    fail "manual_wait metric"
expect_eq "$(store "SELECT count(*) FROM metrics WHERE run_id = '$run_id' AND name = 'acknowledged_after'")" 1 "manual() returned"
ok "lifeboat ack from another shell ends the manual step; its duration is the human's time"

run_lb ack "$run_id"
expect_rc 2 "ack a finished run"
expect_err "is not running"
run_lb ack no-such-run
expect_rc 2 "ack an unknown run"
ok "ack refuses when nothing waits"

sed -e 's/timeout = "30s"/timeout = "1s"/' "$WORK/page.lua" >"$WORK/late.lua"
run_lb run "$WORK/late.lua" --yes --report none
expect_rc 1 "nobody acknowledged"
late=$(store "SELECT id FROM runs WHERE scenario_id = 'page-the-dba' ORDER BY started_at DESC LIMIT 1")
expect_eq "$(store "SELECT severity || '|' || category || '|' || title FROM gaps WHERE run_id = '$late' AND category = 'people'")" \
    "major|people|nobody acknowledged the page within 1s" "people gap"
expect_eq "$(store "SELECT status FROM steps WHERE run_id = '$late' AND seq = 1")" timeout "step status"
expect_eq "$(store "SELECT state FROM acks WHERE run_id = '$late'")" timeout "wait state"
expect_err "nobody acknowledged the page within 1s"
ok "nobody acknowledging in time is a people gap and the step times out"
