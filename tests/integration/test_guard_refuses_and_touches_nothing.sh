# Every refusal by the safety guard exits 3, records a safety gap, and the
# table the drill would have dropped still has all its rows.
. "$(dirname "$0")/lib.sh"
restore_marker() {
    pg "DO \$\$ BEGIN IF to_regclass('lifeboat_guard_off') IS NOT NULL THEN
          ALTER TABLE lifeboat_guard_off RENAME TO lifeboat_guard; END IF; END \$\$" || true
    "$LIFEBOAT" guard install --env "$LB_SANDBOX/environment.lua" --target staging >/dev/null
}
trap restore_marker EXIT

inventory_before=$(pg "SELECT count(*) FROM inventory")
refused() {  # refused LABEL ENV [SCENARIO]
    run_lb run "${3:-$SCENARIOS/dropped_table.lua}" --env "$2" --yes --report none
    expect_rc 3 "$1"
    id=$(store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
    expect_eq "$(store "SELECT status FROM runs WHERE id='$id'")" refused "$1: status"
    [ "$(store "SELECT count(*) FROM gaps WHERE run_id='$id' AND category='safety'")" -ge 1 ] ||
        fail "$1: no safety gap"
    expect_eq "$(pg "SELECT to_regclass('inventory') IS NOT NULL")" t "$1: inventory exists"
    expect_eq "$(pg "SELECT count(*) FROM inventory")" "$inventory_before" "$1: inventory rows"
    ok "refused: $1; inventory untouched"
}

refused "wrong pinned system_identifier" \
    "$(env_with 's|system_identifier = "[0-9]*"|system_identifier = "1234567890123456789"|')"
expect_err "system_identifier is [0-9]+, the environment pins 1234567890123456789"

refused "guard token differs" "$(env_with 's|guard_token = "[0-9a-f]*"|guard_token = "not-the-token-on-the-server"|')"
expect_err "token does not match"

refused "role is not staging" "$(env_with 's|role = "staging"|role = "production"|')"

refused "cluster_name differs" "$(env_with 's|cluster_name = "[^"]*"|cluster_name = "prod-primary"|')"

refused "host is protected" "$(env_with 's|^  objectives = |  protected = { hosts = { "127.0.0.1" } },\n  objectives = |')"
expect_err "protected"

sysid=$(pg "SELECT system_identifier FROM pg_control_system()")
refused "system_identifier is protected" \
    "$(env_with "s|^  objectives = |  protected = { system_identifiers = { \"$sysid\" } },\n  objectives = |")"

pg "ALTER TABLE lifeboat_guard RENAME TO lifeboat_guard_off"
refused "guard marker missing" "$LB_SANDBOX/environment.lua"
expect_err "no lifeboat_guard marker"
restore_marker

# The guard runs again before every destructive step, not only at the start:
# a step removes the marker, and the fault that follows is refused.
cat >"$WORK/marker_vanishes.lua" <<'LUA'
scenario { id = "marker-vanishes", title = "the marker disappears mid-drill" }
local db = target "staging"
step("a DBA removes the marker", { kind = "action" }, function()
  db:exec("ALTER TABLE lifeboat_guard RENAME TO lifeboat_guard_off")
end)
step("drop inventory", { kind = "fault" }, function()
  fault.drop_table(db, "inventory", { cascade = true })
end)
LUA
refused "marker removed between steps" "$LB_SANDBOX/environment.lua" "$WORK/marker_vanishes.lua"
