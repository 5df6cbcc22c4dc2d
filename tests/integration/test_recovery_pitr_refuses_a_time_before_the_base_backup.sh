# A PITR to an instant before the base backup cannot restore that instant:
# it fails with a clear error and a critical gap, not a silent restore of
# the wrong data. The target is untouched: a running one was never stopped,
# a stopped one stays as it was (and its rollback starts it with its data).
. "$(dirname "$0")/recovery_lib.sh"

before=$(counts)
started=$(started_at)

cat >"$WORK/too_early.lua" <<'LUA'
scenario { id = "pitr-too-early", title = "PITR to before the base backup" }
local db = target "staging"
step("restore to the year 2001", { kind = "restore" }, function()
  restore.pitr { target = db, from = backup "base_backup", target_time = "2001-01-01T00:00:00Z" }
end)
LUA
run_lb run "$WORK/too_early.lua" --yes
expect_rc 1 "PITR before the base backup"
expect_err "is before the base backup"
id=$(last_run)
expect_eq "$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND severity='critical'
                    AND category='restore' AND title LIKE '%cannot be reached from base_backup%'")" \
    1 "the gap"
expect_eq "$(started_at)" "$started" "staging was never stopped"
expect_eq "$(counts)" "$before" "staging's data"
expect_no_siblings
ok "a running target: clear error, a gap, never stopped, nothing left behind"

# The same on a stopped target: it stays stopped with its data, and the
# rollback starts it again as it was.
cat >"$WORK/too_early_stopped.lua" <<'LUA'
scenario { id = "pitr-too-early-stopped", title = "PITR to before the base backup, server down" }
local db = target "staging"
step("stop staging", { kind = "fault" }, function()
  fault.stop_server(db)
end)
step("restore to the year 2001", { kind = "restore" }, function()
  restore.pitr { target = db, from = backup "base_backup", target_time = "2001-01-01T00:00:00Z" }
end)
rollback("staging runs again", function()
  restore.unfence { target = db }
  return not db:identity().in_recovery
end)
LUA
run_lb run "$WORK/too_early_stopped.lua" --yes
expect_rc 1 "PITR before the base backup, server stopped"
expect_err "is before the base backup"
id=$(last_run)
expect_eq "$(store "SELECT count(*) FROM gaps WHERE run_id='$id'
                    AND title LIKE '%cannot be reached from base_backup%'")" 1 "the gap"
expect_eq "$(pg "SELECT pg_is_in_recovery()")" f "staging runs again"
expect_eq "$(counts)" "$before" "staging's data after the rollback"
expect_no_siblings
ok "a stopped target: clear error, a gap, its data untouched and started again"
