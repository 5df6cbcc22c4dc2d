#!/usr/bin/env bash
# ctest fixture: bring the sandbox up once for the integration tests and
# leave the staging conninfo in $LB_IT_DIR/conninfo for them.
set -euo pipefail
: "${LIFEBOAT:?}" "${LB_SANDBOX:?}" "${LB_IT_DIR:?}"

mkdir -p "$LB_IT_DIR"
start=$(date +%s)
"$LIFEBOAT" sandbox up --dir "$LB_SANDBOX" --scale 1

# sandbox.json holds `"conninfo": "..."` on a line of its own; the
# environment file `conninfo = "..."` is the fallback.
conninfo=$(sed -n 's/^[[:space:]]*"conninfo":[[:space:]]*"\([^"]*\)".*$/\1/p' \
    "$LB_SANDBOX/sandbox.json" 2>/dev/null | head -n 1)
if [ -z "$conninfo" ]; then
    conninfo=$(sed -n 's/^[[:space:]]*conninfo = "\([^"]*\)".*$/\1/p' \
        "$LB_SANDBOX/environment.lua" 2>/dev/null | head -n 1)
fi
if [ -z "$conninfo" ]; then
    echo "sandbox_up: no conninfo in $LB_SANDBOX/sandbox.json or environment.lua" >&2
    exit 1
fi
printf '%s\n' "$conninfo" > "$LB_IT_DIR/conninfo"
echo "sandbox up in $(( $(date +%s) - start ))s: $conninfo"
