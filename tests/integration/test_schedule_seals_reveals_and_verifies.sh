# `lifeboat schedule`: the plan is sealed (only the commitment shows), the
# same seed gives the same plan, every instant is inside the windows and off
# the blackouts (checked with date(1), not with lifeboat's own tz code), the
# revealed text hashes to the commitment, and --verify catches a plan or a
# drill altered in the store.
. "$(dirname "$0")/lib.sh"

# Two shipped drills are the pool (a glob, as an operator would write it).
POOL="$SCENARIOS/[dw]*_*.lua"
WINDOW="Mon-Fri 09:00-17:00 Europe/Berlin"
plan() {  # plan STORE SEED [extra args]
    local db="$1" seed="$2"
    shift 2
    run_lb --store "$db" schedule --quarter 2027Q1 --count 4 --window "$WINDOW" \
        --blackout 2027-02-15,2027-03-01..2027-03-05 --scenarios "$POOL" --seed "$seed" "$@"
}

plan "$WORK/a.db" team-2027q1
expect_rc 0 "schedule"
expect_out "^plan [0-9a-f]{16} sealed: 2027Q1, 4 drills$"
expect_out "^commitment [0-9a-f]{64}$"
commitment=$(sed -n 's/^commitment //p' "$WORK/out")
id=$(sed -n 's/^plan \([0-9a-f]*\) sealed.*/\1/p' "$WORK/out")
# Nothing shown names an instant.
if grep -Eq '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:' "$WORK/out" ||
   grep -Eq '20(27|26)-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' <(grep -v "After " "$WORK/err"); then
    cat "$WORK/out" "$WORK/err"; fail "schedule showed an instant"
fi
expect_eq "$(sqlite3 "$WORK/a.db" "SELECT count(*) FROM schedule_drills WHERE plan_id='$id'")" 4 "stored drills"
ok "schedule prints the commitment and stores the plan"

run_lb --store "$WORK/a.db" schedule --reveal
expect_rc 2 "reveal before the quarter ended"
expect_err "runs until"
[ ! -s "$WORK/out" ] || fail "reveal printed the plan before the quarter"
expect_eq "$(sqlite3 "$WORK/a.db" "SELECT count(*) FROM schedule_plans WHERE revealed_at IS NOT NULL")" 0 "not revealed"
ok "reveal refuses before the quarter ends"

run_lb --store "$WORK/a.db" schedule --reveal --plan "$id" --force
expect_rc 0 "forced reveal"
expect_err "WARNING: revealing plan $id"
cp "$WORK/out" "$WORK/a.plan"
expect_eq "$(sha256sum <"$WORK/a.plan" | cut -d' ' -f1)" "$commitment" "sha256 of the revealed text"
expect_eq "$(sqlite3 "$WORK/a.db" "SELECT revealed_by IS NOT NULL FROM schedule_plans")" 1 "reveal recorded"
ok "the revealed plan hashes to the commitment (sha256sum)"

# Same seed in another store: the same drills (the salt differs, so does the commitment).
plan "$WORK/b.db" team-2027q1
expect_rc 0 "schedule again"
[ "$(sed -n 's/^commitment //p' "$WORK/out")" != "$commitment" ] || fail "salt did not change the commitment"
run_lb --store "$WORK/b.db" schedule --reveal --force
expect_eq "$(grep -v '^salt ' "$WORK/out")" "$(grep -v '^salt ' "$WORK/a.plan")" "same seed, same plan"
plan "$WORK/c.db" another-seed
run_lb --store "$WORK/c.db" schedule --reveal --force
[ "$(grep '^drill ' "$WORK/out")" != "$(grep '^drill ' "$WORK/a.plan")" ] || fail "another seed gave the same drills"
ok "same seed gives the same plan, another seed another"

# Every instant, seen by date(1) in Berlin: Mon-Fri, 09:00-16:59, no blackout, in Q1.
n=0
while read -r _ seq at _ _; do
    local_day=$(TZ=Europe/Berlin date -d "$at" +%F)
    dow=$(TZ=Europe/Berlin date -d "$at" +%u)
    hour=$(TZ=Europe/Berlin date -d "$at" +%H)
    [ "$dow" -le 5 ] || fail "drill $seq on a weekend ($at)"
    [ "$hour" -ge 9 ] && [ "$hour" -lt 17 ] || fail "drill $seq outside office hours ($at)"
    case "$local_day" in
        2027-02-15|2027-03-0[1-5]) fail "drill $seq on a blackout ($local_day)" ;;
        2027-0[1-3]-*) ;;
        *) fail "drill $seq outside 2027Q1 ($local_day)" ;;
    esac
    n=$((n + 1))
done < <(grep '^drill ' "$WORK/a.plan")
expect_eq "$n" 4 "drills checked"
ok "no instant outside the window or on a blackout"

# Across the EU switch to summer time (2027-03-28, 02:00 -> 03:00 in Berlin):
# a Sunday 01:00-04:00 window has two hours, 00:00Z-02:00Z.
run_lb --store "$WORK/dst.db" schedule --from 2027-03-28 --until 2027-03-29 --count 40 \
    --spacing 0 --window "Sun 01:00-04:00 Europe/Berlin" --scenarios "$POOL" --seed dst
expect_rc 0 "dst plan"
run_lb --store "$WORK/dst.db" schedule --reveal --force
while read -r _ seq at _; do
    case "$at" in
        2027-03-28T0[01]:*) ;;
        *) fail "drill $seq at $at is not in 00:00Z-02:00Z" ;;
    esac
    hour=$(TZ=Europe/Berlin date -d "$at" +%H)
    [ "$hour" = 01 ] || [ "$hour" = 03 ] || fail "drill $seq at local $hour:xx"
done < <(grep '^drill ' "$WORK/out")
ok "the window follows the clock across the DST switch"

run_lb --store "$WORK/a.db" schedule --verify --commitment "$commitment"
expect_rc 0 "verify"
expect_out "^ok   the commitment you hold is this plan's"
expect_out "^ok   the drills are the ones its seed draws"
expect_out "^verified:"
run_lb --store "$WORK/a.db" schedule --verify --commitment "$(echo "$commitment" | tr 0-9a-f 1-9a-f0)"
expect_rc 1 "verify against another commitment"
expect_out "^FAIL the commitment you hold is NOT"
ok "the commitment verifies for the real plan and not for another"

cp "$WORK/a.db" "$WORK/moved.db"
sqlite3 "$WORK/moved.db" "UPDATE schedule_drills SET due_at = due_at + 3600000 WHERE seq = 2"
run_lb --store "$WORK/moved.db" schedule --verify
expect_rc 1 "verify a moved drill"
expect_out "^FAIL the drills .due. works from are NOT"
cp "$WORK/a.db" "$WORK/edited.db"
sqlite3 "$WORK/edited.db" "UPDATE schedule_plans SET canonical = replace(canonical, 'count 4', 'count 4 ')"
run_lb --store "$WORK/edited.db" schedule --verify
expect_rc 1 "verify an edited plan"
expect_out "^FAIL the stored plan text does NOT hash to"
ok "verify catches a drill or a plan altered in the store"

plan "$WORK/a.db" reroll
expect_rc 2 "a second plan for the quarter"
expect_err "already has an active plan"
plan "$WORK/a.db" reroll --replace
expect_rc 0 "replace"
run_lb --store "$WORK/a.db" schedule --list
expect_out "$id +2027Q1 +4 superseded"
expect_eq "$(sqlite3 "$WORK/a.db" "SELECT count(*) FROM schedule_drills WHERE plan_id='$id' AND state='cancelled'")" 4 "old drills cancelled"
ok "re-planning a quarter is refused unless --replace, which keeps the old plan on record"

run_lb --store "$WORK/a.db" schedule --quarter 2027Q1 --window "Mon-Fri 17:00-09:00 UTC"
expect_rc 2 "overnight window"
expect_err "two windows"
run_lb --store "$WORK/a.db" schedule --quarter 2027Q1 --window "Mon-Fri 09:00-17:00 Mars/Olympus"
expect_rc 2 "unknown zone"
expect_err "unknown time zone"
run_lb --store "$WORK/a.db" schedule --quarter 2020Q1 --scenarios "$POOL"
expect_rc 2 "past quarter"
expect_err "has ended"
ok "bad windows, zones and periods are usage errors"
