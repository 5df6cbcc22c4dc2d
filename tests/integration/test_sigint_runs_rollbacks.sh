# SIGINT during a step stops it, runs the rollbacks (which restore what the
# fault broke), records the run as interrupted and exits 130.
. "$(dirname "$0")/lib.sh"
trap reset_sandbox EXIT
rows=$(pg "SELECT count(*) FROM inventory")

cat >"$WORK/sigint.lua" <<'LUA'
scenario { id = "sigint", title = "interrupted mid-drill" }
local db = target "staging"
local dump = backup "nightly_dump"
step("drop inventory", { kind = "fault" }, function()
  fault.drop_table(db, "inventory", { cascade = true })
end)
step("a long wait", { kind = "check" }, function()
  sleep("120s")
end)
rollback("inventory exists again", function()
  if not db:exists("inventory") then
    restore.pg_restore { target = db, from = dump, tables = { "inventory" } }
  end
  return db:exists("inventory")
end)
LUA
"$LIFEBOAT" run "$WORK/sigint.lua" --yes --report none >"$WORK/out" 2>"$WORK/err" </dev/null &
pid=$!
for _ in $(seq 1 200); do
    [ -f "$LIFEBOAT_STORE" ] &&
        [ "$(store "SELECT count(*) FROM steps WHERE name='a long wait' AND status='running'" 2>/dev/null)" = 1 ] &&
        break
    sleep 0.1
done
expect_eq "$(pg "SELECT to_regclass('inventory') IS NULL")" t "the fault landed before the signal"
kill -INT "$pid"
set +e; wait "$pid"; RC=$?; set -e
expect_rc 130 "interrupted"
expect_eq "$(store "SELECT status FROM runs")" interrupted "run status"
expect_eq "$(store "SELECT status FROM steps WHERE name='a long wait'")" interrupted "step status"
expect_eq "$(store "SELECT status FROM rollbacks")" passed "rollback ran and passed"
expect_eq "$(pg "SELECT count(*) FROM inventory")" "$rows" "inventory restored by the rollback"
ok "SIGINT: step stopped, rollback restored inventory, run interrupted, exit 130"
