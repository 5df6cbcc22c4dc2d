# Across runs and in the terminal, on real sandbox drills:
#  - `lifeboat trend` puts every run of a scenario against its objectives
#    (Markdown, JSON, and HTML with an SVG point per run) and says whether
#    the latest improved;
#  - `lifeboat report --all-since` writes the index of every run since a
#    date, linking to reports it writes beside it;
#  - `lifeboat show` aligns the timeline and colours it only on a terminal
#    without NO_COLOR.
. "$(dirname "$0")/lib.sh"

# occurrences FILE TEXT: how many times TEXT is in FILE (0 is an answer).
occurrences() { grep -oF -- "$2" "$1" | wc -l || true; }

before=$(counts)
# Whether they pass is the drill's business (other tests hold it to that).
for _ in 1 2; do
    run_lb run "$SCENARIOS/dropped_table.lua" --yes --report none
    [ "$RC" -le 1 ] || expect_rc 0 "dropped_table"
done
run_lb run "$SCENARIOS/dropped_table.lua" --dry-run --report none
expect_rc 0 "dry run"
expect_eq "$(counts)" "$before" "the drills leave the sandbox as they found it"
latest=$(store "SELECT id FROM runs WHERE dry_run=0 ORDER BY started_at DESC LIMIT 1")

# ---- trend
run_lb trend dropped-table
expect_rc 0 "trend md"
expect_out '^# Trend: An operator drops the inventory table'
expect_out "2 runs from"
expect_out '^\*\*Latest run: (improved|regressed|mixed|unchanged)\*\*'
expect_eq "$(grep -cE '^\| [0-9]+ \| 20' "$WORK/out")" 2 "two drills in the table, the dry run left out"
run_lb trend dropped-table --format json
expect_rc 0 "trend json"
expect_out "\"run_id\":[[:space:]]*\"$latest\""
expect_eq "$(grep -cE '"rto_objective_ms":[[:space:]]*600000' "$WORK/out")" 2 "trend json: a run object per drill"
run_lb trend dropped-table --format html -o "$WORK/trend.html"
expect_rc 0 "trend html"
measured() { store "SELECT count(*) FROM runs WHERE dry_run=0 AND $1 IS NOT NULL"; }
expect_eq "$(occurrences "$WORK/trend.html" '<circle class="point rto ')" "$(measured rto_ms)" \
    "an RTO point per run that measured one"
expect_eq "$(occurrences "$WORK/trend.html" '<circle class="point rpo ')" "$(measured rpo_ms)" \
    "an RPO point per run that measured one"
grep -q '<script' "$WORK/trend.html" && fail "script in the trend page"
run_lb trend no-such-scenario
expect_rc 2 "trend of an unknown scenario"
expect_err "^lifeboat: trend: no run of scenario 'no-such-scenario' in the store$"
# The file's name stands for its id: dropped_table.lua declares dropped-table.
run_lb trend "$SCENARIOS/dropped_table.lua"
expect_rc 0 "trend by file"
expect_out '^# Trend: An operator drops the inventory table'
run_lb trend dropped_table
expect_rc 0 "trend by file stem"
expect_out "2 runs from"
ok "trend: every run against its objectives, in md, json and html"

# ---- index
today=$(date -u +%Y-%m-%d)
run_lb report --all-since "$today" --format md,html,junit -o "$WORK/index"
expect_rc 0 "report --all-since"
expect_out "/index.md$"
expect_out "/index.html$"
runs=$(store "SELECT count(*) FROM runs WHERE started_at >= strftime('%s','$today')*1000")
expect_eq "$(grep -c '^| 20' "$WORK/index/index.md")" "$runs" "a row per run since today"
for id in $(store "SELECT id FROM runs"); do
    grep -q "($id.md)" "$WORK/index/index.md" || fail "index lacks a link to $id"
    [ -s "$WORK/index/$id.md" ] && [ -s "$WORK/index/$id.html" ] || fail "no report for $id"
    grep -q "href=\"$id.html\"" "$WORK/index/index.html" || fail "html index lacks $id"
done
xmllint --noout --schema "$LB_SRC/tests/fixtures/junit/junit-10.xsd" \
    "$WORK/index/index.junit.xml" 2>/dev/null || fail "index.junit.xml does not validate"
expect_eq "$(xmllint --xpath 'count(//testsuite)' "$WORK/index/index.junit.xml")" "$runs" \
    "one testsuite per run"
run_lb report --all-since "last quarter"
expect_rc 2 "a bad date"
ok "report --all-since writes the index and every run's reports"

# ---- show
run_lb show "$latest"
expect_rc 0 "show"
grep -q $'\x1b\[' "$WORK/out" && fail "show piped printed colour"
expect_out '^   #  kind     step +status +start +duration$'
# Every step's duration ends in the column where the header's "duration" does.
end=$(awk '/^   #  kind/ { print index($0, "duration") + 7; exit }' "$WORK/out")
bad=$(awk -v end="$end" '/^ +[0-9]+  (check|fault|restore) / && substr($0, end, 2) != "s " { n++ }
      END { print n + 0 }' "$WORK/out")
expect_eq "$bad" 0 "durations aligned under their header"
grep -q '█' "$WORK/out" || fail "show has no bars"
# On a terminal (script(1) gives it one): colour, unless NO_COLOR is set.
env -u NO_COLOR script -qec "\"$LIFEBOAT\" show $latest" /dev/null >"$WORK/tty.out" </dev/null
grep -q $'\x1b\[32m' "$WORK/tty.out" || fail "show on a terminal has no colour"
NO_COLOR=1 script -qec "\"$LIFEBOAT\" show $latest" /dev/null >"$WORK/tty-nocolor.out" </dev/null
grep -q $'\x1b\[' "$WORK/tty-nocolor.out" && fail "show coloured despite NO_COLOR"
grep -q 'validate every table against the baseline' "$WORK/tty-nocolor.out" ||
    fail "show on a terminal printed no timeline"
ok "show: aligned timeline with bars, colour only on a terminal without NO_COLOR"
