# The HTML report of real sandbox drills, opened in headless Chromium (no
# JavaScript in the page: what --dump-dom prints is what the file says,
# after parsing and layout):
#  - the SVG timeline has one bar per step, the gap list every gap in the
#    store, most severe first;
#  - a drill whose step names, errors, output, checks and gaps carry
#    <script>, quotes and ampersands shows them as text, and its JUnit
#    report is valid against tests/fixtures/junit/junit-10.xsd.
# Screenshots are kept for people to look at:
#   $LB_IT_DIR/report-latest.png    the dropped-table drill
#   $LB_IT_DIR/report-hostile.png   the drill with markup everywhere
#   $LB_IT_DIR/report-region-loss.png  the region-loss failover, with its
#                                   phases (health, promote, first write,
#                                   re-point) under the promote step
. "$(dirname "$0")/lib.sh"

# occurrences FILE TEXT: how many times TEXT is in FILE (0 is an answer).
occurrences() { grep -oF -- "$2" "$1" | wc -l || true; }

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || fail "chromium is not installed (scripts/test installs it with LB_DEPS)"
command -v xmllint >/dev/null || fail "xmllint is not installed (libxml2-utils, in LB_DEPS)"
XSD="$LB_SRC/tests/fixtures/junit/junit-10.xsd"

# Headless Chromium as root, offline: no sandbox, no GPU, no background
# connections (the closed network refuses them), a fresh profile each time.
chrome() {
    local profile
    profile=$(mktemp -d "$WORK/chromium-profile-XXXXXX")
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$profile" "$@" 2>>"$WORK/chromium.log"
    rm -rf "$profile"
}

# html_escape TEXT: the text as Chromium serialises a text node.
html_escape() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }

# check_page ID NAME: render ID's reports, load the HTML in Chromium, compare
# its bars and gap items with the store, screenshot it to $LB_IT_DIR/NAME.png.
check_page() {
    local id="$1" name="$2" html dom steps gaps bars items png
    run_lb report "$id" --format html,junit,md -o "$WORK/reports"
    expect_rc 0 "report $id"
    html="$WORK/reports/$id.html"
    dom="$WORK/$name.dom.html"
    chrome --dump-dom "file://$html" >"$dom"
    grep -q '</html>' "$dom" || fail "$name: Chromium printed no DOM (see $WORK/chromium.log)"

    steps=$(store "SELECT count(*) FROM steps WHERE run_id='$id'")
    gaps=$(store "SELECT count(*) FROM gaps WHERE run_id='$id'")
    bars=$(occurrences "$dom" '<rect class="bar ')
    items=$(occurrences "$dom" '<li class="gap ')
    expect_eq "$bars" "$steps" "$name: one SVG bar per step"
    expect_eq "$items" "$gaps" "$name: one gap item per gap in the store"
    # Every step's bar is there by number, every gap's title as text.
    for seq in $(store "SELECT seq FROM steps WHERE run_id='$id'"); do
        grep -q "data-seq=\"$seq\"" "$dom" || fail "$name: no bar for step $seq"
    done
    while IFS= read -r title; do
        [ -n "$title" ] || continue
        grep -qF -- "$(html_escape "$title")" "$dom" || fail "$name: gap '$title' not on the page"
    done < <(store "SELECT title FROM gaps WHERE run_id='$id'")
    expect_eq "$(grep -c '<script' "$dom" || true)" 0 "$name: no script element"

    png="$LB_IT_DIR/$name.png"
    rm -f "$png"
    chrome --screenshot="$png" --window-size=1280,2400 "file://$html" >/dev/null
    [ -s "$png" ] || fail "$name: no screenshot"
    [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
        fail "$name: the screenshot is not a PNG"
    [ "$(stat -c %s "$png")" -gt 20000 ] || fail "$name: the screenshot looks blank"

    xmllint --noout --schema "$XSD" "$WORK/reports/$id.junit.xml" 2>"$WORK/xmllint.err" ||
        { cat "$WORK/xmllint.err"; fail "$name: JUnit report does not validate"; }
    ok "$name: $steps bars and $gaps gaps in Chromium, valid JUnit, screenshot at $png"
}

before=$(counts)
# Whether it passes is the drill's business (other tests hold it to that);
# here it only has to have run.
run_lb run "$SCENARIOS/dropped_table.lua" --yes --report none
[ "$RC" -le 1 ] || expect_rc 0 "dropped_table"
check_page "$(store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")" report-latest

run_lb run "$LB_SRC/tests/fixtures/report/hostile_drill.lua" --yes --report none
expect_rc 1 "the hostile drill fails on purpose"
id=$(store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
[ "$(store "SELECT count(*) FROM gaps WHERE run_id='$id'")" -ge 3 ] || fail "hostile drill: too few gaps"
check_page "$id" report-hostile
expect_eq "$(counts)" "$before" "the drills leave the sandbox as they found it"

dom="$WORK/report-hostile.dom.html"
# Markup from the store is text: escaped in the DOM, and the page title too.
grep -qF '&lt;script&gt;alert('"'"'step'"'"')&lt;/script&gt; &amp; "q"' "$dom" ||
    fail "step name not shown as text"
grep -qF 'boom &lt;script&gt;alert('"'"'error'"'"')&lt;/script&gt; &amp; "q" ]]&gt;' "$dom" ||
    fail "step error not shown as text"
grep -qF '&lt;script&gt;alert('"'"'output'"'"')&lt;/script&gt;' "$dom" || fail "output not shown as text"
grep -qF '<title>Report &lt;script&gt;' "$dom" || fail "page title not escaped"
# Gaps most severe first.
order=$(grep -o '<li class="gap gap-[a-z]*"' "$dom" | sed 's/.*gap-//; s/"//' | tr '\n' ' ')
expect_eq "$order" "critical major major minor " "gap order"
# Sub-step phases recorded by the restore step are drawn under it.
expect_eq "$(occurrences "$dom" '<rect class="phase ')" 3 "phase bars"
ok "markup, quotes and ampersands from the store are text in HTML"

# The same text in JUnit: parsed back by xmllint, it is the stored text.
junit="$WORK/reports/$id.junit.xml"
name=$(xmllint --xpath 'string(//testcase[@classname="lifeboat.report-hostile.steps"][1]/@name)' "$junit")
expect_eq "$name" "$(store "SELECT name FROM steps WHERE run_id='$id' AND seq=1")" "JUnit step name"
tests=$(xmllint --xpath 'string(//testsuite/@tests)' "$junit")
expect_eq "$(xmllint --xpath 'count(//testsuite/testcase)' "$junit")" "$tests" "JUnit tests count"
want=$(store "SELECT (SELECT count(*) FROM steps WHERE run_id='$id') +
                     (SELECT count(*) FROM checks WHERE run_id='$id') + 2 +
                     (SELECT count(*) FROM rollbacks WHERE run_id='$id') + 1")
expect_eq "$tests" "$want" "a testcase per step, check, objective, rollback and the run"
failure_text=$(xmllint --xpath 'string(//testsuite)' "$junit")
while IFS= read -r title; do
    case "$failure_text" in *"$title"*) ;; *) fail "gap '$title' in no JUnit failure" ;; esac
done < <(store "SELECT title FROM gaps WHERE run_id='$id'")
ok "JUnit carries every gap and the stored text, valid against the XSD"

# The region-loss drill: the failover's phases drawn under the promote step,
# the incident, detected and recovered marks across the chart, and the RPO
# the heartbeat measured in the banner.
run_lb run "$SCENARIOS/region_loss.lua" --yes --report none
expect_rc 0 "region_loss"
id=$(store "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
check_page "$id" report-region-loss
dom="$WORK/report-region-loss.dom.html"
for p in health promote first-write repoint; do
    grep -q "<title>phase $p: " "$dom" || fail "region loss: no phase bar for $p"
done
for m in incident detected recovered; do
    grep -q "<line class=\"mark mark-$m\"" "$dom" || fail "region loss: no $m mark"
done
grep -q "heartbeat" "$dom" || fail "region loss: the RPO method is not on the page"
expect_eq "$(counts)" "$before" "the region-loss drill fails back and leaves the data as it was"
ok "region loss: phases, marks and the heartbeat RPO on the page"
