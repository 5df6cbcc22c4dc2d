# `lifeboat due`: two started at the same instant against one due drill run
# it exactly once (the claim is a lock in the store); a later `due` does not
# run it again; the halt switch blocks `due`; --verify finds it ran on time.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/slow.lua" <<'LUA'
scenario { id = "slow-check", title = "a check that takes a while and touches nothing" }
step("look around", { kind = "check" }, function()
  sleep("1500ms")
  check("the world still turns", true)
end)
LUA
utc() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }

# One drill, somewhere in the last few minutes (so it is due now).
run_lb schedule --from "$(utc '-4 min')" --until "$(utc '-1 min')" --window "00:00-24:00" \
    --count 1 --scenarios "$WORK/slow.lua" --include-past
expect_rc 0 "schedule"
plan=$(sed -n 's/^plan \([0-9a-f]*\) sealed.*/\1/p' "$WORK/out")

run_lb halt --reason "change freeze"
run_lb due
expect_rc 4 "due while halted"
expect_err "drills are halted \(change freeze\)"
expect_eq "$(store "SELECT count(*) FROM runs")" 0 "no run while halted"
expect_eq "$(store "SELECT state FROM schedule_drills")" pending "drill untouched while halted"
run_lb halt --release
ok "the halt switch blocks due"

# Two at once.
"$LIFEBOAT" due >"$WORK/due1.out" 2>"$WORK/due1.err" </dev/null & p1=$!
"$LIFEBOAT" due >"$WORK/due2.out" 2>"$WORK/due2.err" </dev/null & p2=$!
set +e
wait "$p1"; rc1=$?
wait "$p2"; rc2=$?
set -e
cat "$WORK/due1.out" "$WORK/due1.err" "$WORK/due2.out" "$WORK/due2.err"
expect_eq "$(store "SELECT count(*) FROM runs")" 1 "runs after two concurrent due"
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] || fail "due exit codes $rc1 $rc2"
run_id=$(store "SELECT id FROM runs")
expect_eq "$(store "SELECT status || ' ' || scenario_id FROM runs")" "passed slow-check" "the drill ran"
expect_eq "$(store "SELECT state || ' ' || run_id || ' ' || exit_code FROM schedule_drills")" \
    "ran $run_id 0" "the drill records its run"
expect_eq "$(cat "$WORK/due1.out" "$WORK/due2.out" | grep -c "^run $run_id: PASSED")" 1 "one due ran it"
ok "two concurrent due run the drill once"

run_lb due
expect_rc 0 "due again"
expect_eq "$(store "SELECT count(*) FROM runs")" 1 "runs after a third due"
[ ! -s "$WORK/out" ] || fail "due printed something with nothing due"
ok "a later due does not run it again and says nothing"

run_lb schedule --verify --plan "$plan"
expect_rc 0 "verify"
expect_out "drill 1 .* slow-check: ran on time, run $run_id \(passed, exit 0\)"
ok "verify finds the drill ran within its grace"
