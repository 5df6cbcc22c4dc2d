#!/usr/bin/env bash
# Benchmark: the shipped drills on a fresh sandbox, each run REPS times, with
# RTO, RPO (and how it was measured), the time of the restore steps and of
# the checks after them, taken from the results store. This is the table the
# recovery issue asks for; it prints Markdown for bench/RESULTS.md.
#
#   bench/drills.sh [BUILD_DIR] [SCALE] [REPS]   (default build-bench, 1, 3)
#
# The sandbox lives in a temporary directory and is taken down at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-build-bench}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
SCALE="${2:-1}"
REPS="${3:-3}"
LIFEBOAT="$BUILD/lifeboat"
[ -x "$LIFEBOAT" ] || { echo "no lifeboat in $BUILD (cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD)" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed (apt-get install sqlite3)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/lifeboat-bench-drills-XXXXXX)
chmod 755 "$WORK"
export LIFEBOAT_STORE="$WORK/store.db"
cleanup() { "$LIFEBOAT" sandbox down --dir "$WORK/sb" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

start=$(date +%s%N)
"$LIFEBOAT" sandbox up --dir "$WORK/sb" --scale "$SCALE" >/dev/null
up_ms=$(( ($(date +%s%N) - start) / 1000000 ))
ENV="$WORK/sb/environment.lua"

SCENARIOS=(region_loss primary_corrupted ransomware_cold_restore every_backup_layer
           dropped_table where_matches_everything)
for _ in $(seq "$REPS"); do
    for s in "${SCENARIOS[@]}"; do
        "$LIFEBOAT" run "$ROOT/scenarios/$s.lua" --env "$ENV" --yes --report none \
            >/dev/null 2>"$WORK/err" || { tail -5 "$WORK/err" >&2; echo "bench: $s failed" >&2; exit 1; }
    done
done

echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) by \`bench/drills.sh $(basename "$BUILD") $SCALE $REPS\`"
echo "(lifeboat $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM; load $(cut -d' ' -f1-3 /proc/loadavg));"
echo "sandbox scale $SCALE up in ${up_ms} ms. Median of $REPS runs; restore = the restore steps,"
echo "validation = the check steps after the first restore step."
echo
echo "| scenario | RTO | RPO | RPO measured by | restore | validation |"
echo "|---|--:|--:|---|--:|--:|"
sqlite3 -separator '|' "$LIFEBOAT_STORE" "
WITH r AS (
  SELECT r.id, r.scenario_id, r.rto_ms, r.rpo_ms,
         CASE WHEN r.rpo_method LIKE 'heartbeat%' THEN 'heartbeat'
              WHEN r.rpo_method LIKE 'backup snapshot%' THEN 'dump provenance'
              ELSE coalesce(r.rpo_method, '-') END AS how,
         (SELECT sum(ended_at - started_at) FROM steps s WHERE s.run_id = r.id AND s.kind = 'restore') AS restore_ms,
         (SELECT sum(ended_at - started_at) FROM steps s WHERE s.run_id = r.id AND s.kind = 'check'
            AND s.started_at >= (SELECT min(started_at) FROM steps x WHERE x.run_id = r.id AND x.kind = 'restore')) AS check_ms,
         r.started_at
  FROM runs r WHERE r.dry_run = 0)
SELECT scenario_id, rto_ms, rpo_ms, how, restore_ms, check_ms FROM r ORDER BY scenario_id, started_at" |
awk -F'|' '
function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                                 return n == 0 ? "" : (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2) }
function fmt(v) { return v == "" ? "-" : (v >= 1000 ? sprintf("%.2f s", v / 1000) : sprintf("%d ms", v)) }
{ k = $1; order[k] = order[k] ? order[k] : ++n; how[k] = $4
  if ($2 != "") rto[k, ++nr[k]] = $2; if ($3 != "") rpo[k, ++np[k]] = $3
  if ($5 != "") rs[k, ++ns[k]] = $5; if ($6 != "") ck[k, ++nc[k]] = $6 }
END { for (k in order) keys[order[k]] = k
      for (i = 1; i <= n; i++) { k = keys[i]
        split("", a); for (j = 1; j <= nr[k]; j++) a[j] = rto[k, j]; x1 = med(a, nr[k])
        split("", a); for (j = 1; j <= np[k]; j++) a[j] = rpo[k, j]; x2 = med(a, np[k])
        split("", a); for (j = 1; j <= ns[k]; j++) a[j] = rs[k, j]; x3 = med(a, ns[k])
        split("", a); for (j = 1; j <= nc[k]; j++) a[j] = ck[k, j]; x4 = med(a, nc[k])
        printf "| %s | %s | %s | %s | %s | %s |\n", k, fmt(x1), fmt(x2), x2 == "" ? "-" : how[k], fmt(x3), fmt(x4) } }'
echo
echo "every-backup-layer, per layer (median): restore time / data age"
echo
sqlite3 -separator '|' "$LIFEBOAT_STORE" "
SELECT m.name, m.value FROM metrics m JOIN runs r ON r.id = m.run_id
WHERE r.scenario_id = 'every-backup-layer' AND m.name LIKE 'layer.%' ORDER BY m.name, m.value" |
awk -F'|' '{ v[$1] = v[$1] " " $2; c[$1]++ }
END { for (k in v) { n = split(substr(v[k], 2), a, " "); printf "- %s: %.2f s\n", k, (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2) } }' | sort
