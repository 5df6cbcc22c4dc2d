# --dry-run prints and stores the plan and runs the guards; nothing changes.
. "$(dirname "$0")/lib.sh"
before=$(counts)
run_lb run "$SCENARIOS/where_matches_everything.lua" --dry-run --report none
expect_rc 0 "dry run"
expect_out "run the cleanup with the debugging WHERE clause"
expect_out "Resolved targets:"
expect_out "guard ok"
expect_eq "$(counts)" "$before" "row counts"
id=$(store "SELECT id FROM runs LIMIT 1")
expect_eq "$(store "SELECT status || ' ' || dry_run FROM runs WHERE id='$id'")" "planned 1" "stored as planned"
expect_eq "$(store "SELECT count(*) FROM steps WHERE run_id='$id' AND status <> 'skipped'")" 0 "no step ran"
ok "dry run stored the plan and touched nothing"

# A dry run still refuses a target it cannot prove.
run_lb run "$SCENARIOS/dropped_table.lua" --dry-run --report none \
    --env "$(env_with 's|guard_token = "[0-9a-f]*"|guard_token = "wrong-token-wrong-token"|')"
expect_rc 3 "dry run refused"
ok "dry run runs the guard and refuses"
