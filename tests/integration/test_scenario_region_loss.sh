# region_loss.lua: us-east-1 is stopped and fenced while a write load runs,
# the replica in us-west-2 is promoted and the route `primary` follows it,
# and the rollback fails back. RTO runs to the first write committed on the
# new primary; the heartbeat's RPO is under the replica's measured lag plus
# one heartbeat interval; the sandbox is left in its canonical shape.
. "$(dirname "$0")/recovery_lib.sh"

expect_topology "before"
before=$(counts)
run_lb run "$SCENARIOS/region_loss.lua" --yes -o "$WORK/reports"
expect_rc 0 "region_loss"
expect_out "PASSED"
id=$(last_run)

# RTO: incident → first committed write on the new primary (an explicit mark).
expect_eq "$(store "SELECT source FROM marks WHERE run_id='$id' AND name='recovered'")" \
    scenario "recovered marked at the first committed write"
rto=$(store "SELECT rto_ms FROM runs WHERE id='$id'")
[ "$rto" -ge 0 ] && [ "$rto" -lt 60000 ] || fail "RTO $rto ms"
ok "RTO ${rto} ms, incident to the first write on us-west-2"

# RPO by the heartbeat, at most the replica's lag at the incident plus one
# interval (250 ms; 150 ms more for a beat the writer's schedule let slip on
# a busy machine), and no beat lost beyond what the lag explains.
expect_eq "$(store "SELECT rpo_method LIKE 'heartbeat%' FROM runs WHERE id='$id'")" 1 "RPO method"
rpo=$(store "SELECT rpo_ms FROM runs WHERE id='$id'")
lag=$(metric_of "$id" promote.replica_lag)
lost=$(metric_of "$id" heartbeat.beats_lost)
awk -v r="$rpo" -v l="$lag" 'BEGIN { exit !(r >= 0 && r <= l * 1000 + 250 + 150) }' ||
    fail "RPO ${rpo} ms is more than the replica's lag ${lag}s plus one interval"
awk -v n="$lost" -v l="$lag" 'BEGIN { exit !(n <= int(l * 1000 / 250) + 1) }' ||
    fail "$lost beats lost with a replica lag of ${lag}s"
ok "RPO ${rpo} ms by the heartbeat (replica lag ${lag}s, $lost beat(s) lost)"

# Where the recovery time went, and what the write load saw.
for p in health promote first-write repoint; do
    [ -n "$(metric_of "$id" "phase.$p.duration_ms")" ] || fail "no phase $p"
done
ok "phases health, promote, first-write, repoint recorded"
committed=$(metric_of "$id" load.committed)
txlost=$(metric_of "$id" load.lost_transactions)
[ -n "$committed" ] && [ -n "$txlost" ] || fail "the write load recorded nothing"
awk -v c="$committed" 'BEGIN { exit !(c > 50) }' || fail "only $committed transactions"
ok "write load: $committed committed, $txlost lost in the failover"
grep -q "heartbeat of 'primary' follows the route: now on target 'replica'" "$WORK/err" ||
    store "SELECT output_tail FROM steps WHERE run_id='$id'" | grep -q "follows the route" ||
    fail "the heartbeat did not follow the route"
ok "heartbeat and write load followed the route to us-west-2"

# Failed back: staging primary again, the replica streaming, data as before.
expect_topology "after the fail-back"
expect_eq "$(counts)" "$before" "data after the drill"
expect_no_siblings
ok "the rollback failed back: the sandbox is as the drill found it"
