# A drill whose instant passed while the machine was off is not run late:
# `lifeboat due` records it as a missed drill, a critical gap in a run of its
# own, and --verify accepts the record. A drill whose scenario is gone is a
# gap too ("could not start").
. "$(dirname "$0")/lib.sh"

cat >"$WORK/quick.lua" <<'LUA'
scenario { id = "quick-check", title = "a check that touches nothing" }
step("look", { kind = "check" }, function() check("fine", true) end)
LUA
utc() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }

run_lb schedule --from "$(utc '-5 hours')" --until "$(utc '-3 hours')" --window "00:00-24:00" \
    --count 1 --scenarios "$WORK/quick.lua" --include-past
expect_rc 0 "schedule in the past"
due_at=$(store "SELECT due_at FROM schedule_drills")

run_lb due --grace 1h
expect_rc 1 "due with a missed drill"
expect_err "missed drill: quick-check was due at"
expect_out "MISSED"
expect_eq "$(store "SELECT count(*) FROM runs")" 1 "one run records the miss"
expect_eq "$(store "SELECT status || ' ' || exit_code || ' ' || scenario_id FROM runs")" "failed 1 quick-check" "the missed run"
expect_eq "$(store "SELECT count(*) FROM steps")" 0 "nothing ran"
gap=$(store "SELECT severity || '|' || category || '|' || title FROM gaps")
case "$gap" in
    "critical|schedule|missed drill: quick-check was due at "*", the machine was off or lifeboat did not run") ;;
    *) fail "gap: $gap" ;;
esac
expect_eq "$(store "SELECT state || ' ' || (run_id = (SELECT id FROM runs)) FROM schedule_drills")" "missed 1" "drill state"
[ "$(store "SELECT finished_at - $due_at > 3600000 FROM schedule_drills")" = 1 ] || fail "finished_at"
ok "a drill past its grace is recorded as a missed drill, not run late"

run_lb due --grace 1h
expect_rc 0 "due after"
expect_eq "$(store "SELECT count(*) FROM runs")" 1 "no second record"
run_lb schedule --verify
expect_rc 0 "verify with a recorded miss"
expect_out "missed, recorded as a gap in run"
ok "verify accepts a miss that is on record"

# The scenario file disappears between planning and the drill.
cp "$WORK/quick.lua" "$WORK/gone.lua"
sed -i 's/quick-check/gone-check/' "$WORK/gone.lua"
run_lb schedule --from "$(utc '-3 min')" --until "$(utc '-1 min')" --window "00:00-24:00" \
    --count 1 --scenarios "$WORK/gone.lua" --include-past
expect_rc 0 "schedule"
rm "$WORK/gone.lua"
run_lb due
expect_rc 1 "due with a missing scenario"
expect_err "scheduled drill could not start: gone-check"
expect_eq "$(store "SELECT state FROM schedule_drills WHERE scenario_id = 'gone-check'")" failed "state"
expect_eq "$(store "SELECT count(*) FROM gaps g JOIN runs r ON r.id = g.run_id WHERE r.scenario_id = 'gone-check' AND g.severity = 'critical'")" 1 "gap"
ok "a drill that cannot start is a gap, not silence"
