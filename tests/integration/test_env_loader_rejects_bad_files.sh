# The environment loader rejects unknown keys and bad types with file:line.
. "$(dirname "$0")/lib.sh"
bad() {  # bad SED PATTERN-IN-ERROR
    local env
    env=$(env_with "$1")
    run_lb check --env "$env" "$SCENARIOS/dropped_table.lua"
    expect_rc 2 "$2"
    expect_err "$2"
    ok "rejected: $2"
}
line_of() { grep -n "$1" "$WORK/env.lua" | head -1 | cut -d: -f1; }

env=$(env_with '0,/role = "staging",/s//role = "staging", conninf = "typo",/')
run_lb check --env "$env" "$SCENARIOS/dropped_table.lua"
expect_rc 2 "unknown key"
expect_err "env.lua:$(line_of "conninf = "): targets.staging: unknown key 'conninf'"
ok "unknown key named with its line"

env=$(env_with 's|region = "us-east-1",|region = 5,|')
run_lb check --env "$env" "$SCENARIOS/dropped_table.lua"
expect_rc 2 "bad type"
expect_err "env.lua:$(line_of 'region = 5'): targets.staging.region must be a string, not number"
ok "bad type named with its line"

bad 's|system_identifier = "\([0-9]*\)"|system_identifier = \1|' "must be a string: system identifiers exceed 2\\^53"
bad 's|^  routes = |  colour = "blue",\n  routes = |' "environment: unknown key 'colour'"
bad 's|max_age = "26h"|max_age = "26 hours"|' "backups.nightly_dump.max_age"
bad 's|routes = { primary = "staging" }|routes = { primary = "nowhere" }|' "routes.primary names 'nowhere'"
bad 's|^return {|return {{|' "env.lua:[0-9]+:"
