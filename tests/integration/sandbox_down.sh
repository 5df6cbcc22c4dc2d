#!/usr/bin/env bash
# ctest fixture cleanup: stop the sandbox server and remove the sandbox.
set -euo pipefail
: "${LIFEBOAT:?}" "${LB_SANDBOX:?}"

"$LIFEBOAT" sandbox down --dir "$LB_SANDBOX"
