# Every refusal of the recovery bindings' guards leaves the target as it
# was (exit 3):
#  - region_loss proves every server of the region (not only the ones the
#    scenario named): a wrong pin refuses, and nothing is stopped;
#  - the offline guard: a stopped server whose declared data directory
#    holds another system is not started (nor is that other one);
#  - promote refuses to make two primaries while the old one runs;
#  - rebuild_replica refuses to rebuild the server a route points at.
. "$(dirname "$0")/recovery_lib.sh"

before=$(counts)
started=$(started_at)

# --- region loss with a wrong pin on staging; the scenario names only the replica
env_wrong=$(env_with 's/cluster_name = "sandbox-us-east-1"/cluster_name = "sandbox-prod-primary"/')
cat >"$WORK/region.lua" <<'LUA'
scenario { id = "region-wrong-pin", title = "region loss with a wrong pin" }
local west = target "replica"
step("lose us-east-1", { kind = "fault" }, function()
  fault.region_loss("us-east-1")
end)
LUA
run_lb run "$WORK/region.lua" --env "$env_wrong" --yes
expect_rc 3 "region loss refused"
expect_err "refusing fault.region_loss: target 'staging'"
expect_eq "$(started_at)" "$started" "staging kept running"
expect_eq "$(counts)" "$before" "staging's data"
[ ! -e "$STAGING_DIR.FENCED" ] || fail "staging was fenced"
expect_topology "after the refused region loss"
ok "region_loss with a wrong pin: refused, staging kept running, untouched"

# --- promote while the primary still runs: two primaries are refused
cat >"$WORK/split.lua" <<'LUA'
scenario { id = "split-brain", title = "promote while the primary runs" }
local west = target "replica"
step("promote", { kind = "restore" }, function()
  restore.promote { replica = west }
end)
LUA
run_lb run "$WORK/split.lua" --yes
expect_rc 3 "promotion beside a running primary"
expect_err "would make two primaries"
expect_eq "$(started_at)" "$started" "staging kept running"
expect_topology "after the refused promotion"
ok "promote refuses to make two primaries; the replica is still a standby"

# --- after a failover, starting the old primary would make two primaries
cat >"$WORK/two_primaries.lua" <<'LUA'
scenario { id = "two-primaries", title = "start the old primary after a failover" }
local east, west = target "staging", target "replica"
local slot, promoted
step("lose us-east-1", { kind = "fault" }, function()
  slot = west:replication().slot
  fault.region_loss("us-east-1")
end)
step("fail over", { kind = "restore" }, function()
  restore.promote { replica = west }
  promoted = true
end)
step("start us-east-1 again", { kind = "restore" }, function()
  restore.unfence { target = east }
end)
rollback("fail back", function()
  if promoted then
    restore.rebuild_replica { target = east, from = west }
    restore.promote { replica = east, switchover = true }
    restore.rebuild_replica { target = west, from = east, slot = slot }
  end
  return not east:replication().in_recovery
end)
LUA
run_lb run "$WORK/two_primaries.lua" --yes
expect_rc 3 "starting the old primary after a failover"
expect_err "refusing restore.unfence: starting target 'staging' would make two primaries"
id=$(last_run)
expect_eq "$(store "SELECT status FROM steps WHERE run_id='$id' AND seq=3")" refused "the step"
# The refusal came before the unfence: the fence was still in place when
# the rollback rebuilt us-east-1 as a replica (its own unfence is logged).
expect_eq "$(store "SELECT count(*) FROM steps WHERE run_id='$id' AND seq=3
                    AND output_tail LIKE '%unfenced%'")" 0 "unfenced by the refused step"
expect_topology "after the fail-back"
expect_eq "$(counts)" "$before" "data after the fail-back"
started=$(started_at)
ok "restore.unfence refuses to start an old primary another server took over from"

# --- rebuild_replica over the routed primary
cat >"$WORK/rebuild.lua" <<'LUA'
scenario { id = "rebuild-primary", title = "rebuild the primary as a replica" }
local east, west = target "staging", target "replica"
step("rebuild", { kind = "restore" }, function()
  restore.rebuild_replica { target = east, from = west }
end)
LUA
run_lb run "$WORK/rebuild.lua" --yes
expect_rc 3 "rebuilding the routed primary"
expect_err "route 'primary' points at target 'staging'"
expect_eq "$(started_at)" "$started" "staging kept running"
expect_eq "$(counts)" "$before" "staging's data"
ok "rebuild_replica refuses the server the route points at"

# --- the offline guard: staging's declared data_dir holds another system
pgctl=$(env_argv staging stop | tr -d '{},"' | tr ' ' '\n' | grep '/pg_ctl$' | head -n 1)
[ -n "$pgctl" ] || fail "no pg_ctl in the stop argv"
decoy=$(mktemp -d /var/tmp/lb-decoy.XXXXXX)
trap 'rm -rf "$decoy"; repair_sandbox' EXIT
if [ "$(id -u)" = 0 ]; then
    chown postgres "$decoy"
    runuser -u postgres -- "$(dirname "$pgctl")/initdb" -D "$decoy/data" >/dev/null
else
    "$(dirname "$pgctl")/initdb" -D "$decoy/data" >/dev/null
fi
decoy_sum=$(find "$decoy/data" -type f -exec md5sum {} + | sort | md5sum)
sed -e "/^    staging = {/,/^    },/ s|data_dir = \"[^\"]*\"|data_dir = \"$decoy/data\"|" \
    "$LB_SANDBOX/environment.lua" >"$WORK/env_decoy.lua"
grep -q "data_dir = \"$decoy/data\"" "$WORK/env_decoy.lua" || fail "decoy env not written"
cat >"$WORK/offline.lua" <<'LUA'
scenario { id = "offline-guard", title = "start a stopped server whose data dir is another system" }
local db = target "staging"
step("stop staging", { kind = "fault" }, function()
  fault.stop_server(db)
end)
step("start it again", { kind = "restore" }, function()
  restore.unfence { target = db }
end)
LUA
run_lb run "$WORK/offline.lua" --env "$WORK/env_decoy.lua" --yes
expect_rc 3 "the offline guard"
expect_err "refusing restore.unfence: target 'staging': data directory $decoy/data holds system_identifier"
[ ! -e "$decoy/data/postmaster.pid" ] || fail "the decoy was started"
expect_eq "$(find "$decoy/data" -type f -exec md5sum {} + | sort | md5sum)" "$decoy_sum" \
    "the decoy's files"
[ ! -e "$STAGING_DIR/postmaster.pid" ] || fail "staging was started"
ok "the offline guard refused: neither staging's data nor the decoy was started"
repair_sandbox
expect_topology "after the repair"
expect_eq "$(counts)" "$before" "staging's data after the repair"
ok "staging's data was untouched"
