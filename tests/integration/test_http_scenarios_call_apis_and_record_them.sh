# http.get/post/request from a drill's steps, through the real binary,
# against a real HTTP server on 127.0.0.1: AWS SigV4 with the credentials
# from the environment, JSON answers checked by the scenario, a hung API
# bounded by its timeout (a gap, and the drill goes on), every call
# recorded on its step with secrets masked.
. "$(dirname "$0")/lib.sh"
: "${LB_HTTP_SERVER:?set by ctest}"

SERVER_PID=
stop_server() { [ -z "$SERVER_PID" ] || { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }; }
trap stop_server EXIT

printf '{"rows": 87423, "region": "us-west-2"}' >"$WORK/health.json"
printf '<RestoreResult><Token>it-session-token-0123456789</Token></RestoreResult>' >"$WORK/rds.xml"
"$LB_HTTP_SERVER" --port-file "$WORK/port" --log "$WORK/requests.jsonl" --max-seconds 300 \
    --route "/health=200:@$WORK/health.json" --route "/rds=200:@$WORK/rds.xml" \
    --route "/hang=hang" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
[ -s "$WORK/port" ] || fail "the test server did not start"
BASE="http://127.0.0.1:$(cat "$WORK/port")"

# An environment of its own: the scenario touches no database.
cat >"$WORK/env.lua" <<LUA
return {
  name = "http-it",
  targets = { staging = { conninfo = "host=127.0.0.1 port=1 dbname=none", role = "staging" } },
}
LUA
cat >"$WORK/api.lua" <<LUA
scenario { id = "api-drill", title = "cloud API calls" }
local BASE = "$BASE"
step("start an RDS restore", { kind = "restore" }, function()
  local r = http.post(BASE .. "/rds", { body = "Action=RestoreDBInstanceToPointInTime",
                                        aws = { region = "us-east-1", service = "rds" } })
  check("restore accepted", r.status == 200, { expected = 200, observed = r.status })
  log(r.body)
end)
step("health endpoint shows data", { kind = "check" }, function()
  local r = http.get(BASE .. "/health", { timeout = "5s" })
  check("health shows rows", r.json ~= nil and r.json.rows > 0,
        { expected = "> 0", observed = r.json and r.json.rows })
end)
step("stuck API", { kind = "action", critical = false }, function()
  http.get(BASE .. "/hang", { timeout = "500ms" })
end)
step("still runs", { kind = "check" }, function()
  local r = http.request { method = "PUT", url = BASE .. "/mark", json = { done = true } }
  check("after the stuck call", r.status == 200)
end)
LUA

export AWS_ACCESS_KEY_ID=AKIDINTEGRATION AWS_SECRET_ACCESS_KEY=it-secret-key-0123456789
export AWS_SESSION_TOKEN=it-session-token-0123456789
start=$(date +%s)
run_lb run "$WORK/api.lua" --env "$WORK/env.lua" --yes --report none
expect_rc 1 "the stuck API is a gap"
[ $(( $(date +%s) - start )) -lt 30 ] || fail "the hung API was not bounded"
ok "a drill of API calls ran; the hung call was bounded"

expect_eq "$(store "SELECT count(*) FROM checks WHERE ok=0")" 0 "failed checks"
expect_eq "$(store "SELECT status FROM steps WHERE name='stuck API'")" timeout "stuck API timed out"
expect_eq "$(store "SELECT status FROM steps WHERE name='still runs'")" passed "the drill went on"
expect_eq "$(store "SELECT count(*) FROM steps WHERE output_tail LIKE '%http POST $BASE/rds -> 200 (%'")" 1 "POST recorded"
expect_eq "$(store "SELECT count(*) FROM steps WHERE name='stuck API' AND output_tail LIKE '%http GET $BASE/hang -> failed after%'")" 1 "hang recorded"
expect_eq "$(store "SELECT count(*) FROM steps WHERE output_tail LIKE '%it-session-token%' OR output_tail LIKE '%it-secret-key%'")" 0 "secrets in the store"
expect_eq "$(store "SELECT count(*) FROM steps WHERE output_tail LIKE '%<Token>****</Token>%'")" 1 "echoed token masked"
expect_eq "$(store "SELECT count(*) FROM metrics WHERE name='http.status' AND value=200")" 3 "status metrics"
ok "calls recorded on their steps: status, timing, body tail, redacted"

line=$(grep '"path":"/rds"' "$WORK/requests.jsonl")
auth=$(printf '%s' "$line" | jq -r '.headers.authorization')
case "$auth" in
    "AWS4-HMAC-SHA256 Credential=AKIDINTEGRATION/"*"/us-east-1/rds/aws4_request, SignedHeaders="*x-amz-security-token*) ;;
    *) fail "not signed as expected: $auth" ;;
esac
expect_eq "$(printf '%s' "$line" | jq -r '.headers["x-amz-security-token"]')" "$AWS_SESSION_TOKEN" "session token sent"
expect_eq "$(grep '"path":"/mark"' "$WORK/requests.jsonl" | jq -r '.body')" '{"done":true}' "json body"
ok "the RDS call was signed with SigV4 from AWS_* variables"

# A dry run sends nothing.
: >"$WORK/requests.jsonl"
run_lb run "$WORK/api.lua" --env "$WORK/env.lua" --dry-run --report none
expect_rc 0 "dry run"
expect_eq "$(wc -l <"$WORK/requests.jsonl")" 0 "requests in a dry run"
ok "a dry run made no HTTP call"
