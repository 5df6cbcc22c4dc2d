# every_backup_layer.lua: each declared layer is restored into a scratch
# target (a database for the dump, a server on a free port for the base
# backup and each pgBackRest repository), compared with the live primary,
# and torn down. Restore time and data age are recorded per layer; the
# dump's data age is its provenance age; nothing is left behind.
. "$(dirname "$0")/recovery_lib.sh"

before=$(counts)
run_lb run "$SCENARIOS/every_backup_layer.lua" --yes -o "$WORK/reports"
expect_rc 0 "every_backup_layer"
id=$(last_run)
for layer in nightly_dump base_backup pgbackrest_hot pgbackrest_cold; do
    t=$(metric_of "$id" "layer.$layer.restore_time")
    a=$(metric_of "$id" "layer.$layer.data_age")
    [ -n "$t" ] && [ -n "$a" ] || fail "$layer: no restore time or data age"
    echo "  $layer: restored in ${t}s, data ${a}s old"
done
expect_eq "$(store "SELECT count(*) FROM steps WHERE run_id='$id' AND status='passed'")" 5 \
    "every layer's step passed"
ok "four layers restored and validated, restore time and data age recorded"

# The dump's data age is its age: what its provenance says, within a second
# (the run wrote it a few seconds before reading it).
taken=$(sed -n 's/.*"taken_at_ms":[[:space:]]*\([0-9]*\).*/\1/p' "$DUMP.provenance.json" | head -n 1)
run_start=$(store "SELECT started_at FROM steps WHERE run_id='$id' AND name LIKE 'restore nightly_dump%'")
age=$(metric_of "$id" layer.nightly_dump.data_age)
if [ -n "$taken" ]; then
    awk -v a="$age" -v t="$taken" -v s="$run_start" \
        'BEGIN { d = a - (s - t) / 1000; exit !(d > -1 && d < 30) }' ||
        fail "dump data age ${age}s does not match its provenance ($taken)"
    ok "the dump's data age is its provenance age"
fi

# Torn down: no scratch database, server or directory, no environment change.
expect_eq "$(pg "SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_scratch_%'")" 0 \
    "scratch databases left"
expect_no_siblings
expect_eq "$(counts)" "$before" "data after the drill"
ok "every scratch restore was torn down"
