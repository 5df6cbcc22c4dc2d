# A restore from an empty dump (schema, no rows) never passes: the drill
# fails with a critical validation gap naming the empty table.
. "$(dirname "$0")/lib.sh"
trap reset_sandbox EXIT

pg_dump -Fc --schema-only -d "$CONNINFO" -f "$WORK/empty.dump"
env=$(env_with "s|path = \"[^\"]*nightly.dump\"|path = \"$WORK/empty.dump\"|")
grep -q "$WORK/empty.dump" "$env" || fail "env edit did not apply"

run_lb run "$SCENARIOS/dropped_table.lua" --env "$env" --yes --report none
expect_rc 1 "empty restore must fail"
expect_out "FAILED"
id=$(store "SELECT id FROM runs LIMIT 1")
expect_eq "$(store "SELECT status FROM runs WHERE id='$id'")" failed "run status"
n=$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND severity='critical'
           AND title LIKE '%inventory%' AND title LIKE '%empty%'")
[ "$n" -ge 1 ] || { store "SELECT severity, title FROM gaps"; fail "no critical 'inventory ... empty' gap"; }
expect_eq "$(pg "SELECT count(*) FROM inventory")" 0 "inventory restored empty"
ok "an empty restore is a critical gap, never a pass"
