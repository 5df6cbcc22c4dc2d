#!/usr/bin/env bash
# Benchmark: render a run of 500 steps (and 500 checks, 500 phase metrics,
# 50 gaps, 4 table snapshots) in every format, end to end through the CLI:
# load from the SQLite store, render md + html + json + junit, write files.
# The target is under a second (issue 5); results go in bench/RESULTS.md.
#
#   bench/report.sh [BUILD_DIR] [STEPS]     (default build-bench, 500)
#
# BUILD_DIR must hold a built `lifeboat`; a Release build measures the
# product, the sanitized Debug build of scripts/test what CI sees.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-build-bench}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
STEPS="${2:-500}"
LIFEBOAT="$BUILD/lifeboat"
[ -x "$LIFEBOAT" ] || { echo "no lifeboat in $BUILD (cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/lifeboat-bench-report-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export LIFEBOAT_STORE="$WORK/store.db"
"$LIFEBOAT" runs >/dev/null 2>&1    # creates and migrates the store

T0=1795705056123
sqlite3 "$LIFEBOAT_STORE" <<SQL
BEGIN;
INSERT INTO runs (id, scenario_id, scenario_title, scenario_file, scenario_sha256,
                  environment, kind, operator_name, host, version, status, exit_code,
                  started_at, ended_at, rto_objective_ms, rpo_objective_ms, rto_ms, rpo_ms,
                  rpo_method, plan_json)
VALUES ('bench-$STEPS', 'bench', 'A long drill: $STEPS steps', 'bench.lua', 'ab', 'bench',
        'drill', 'bench', 'bench', '0', 'failed', 1, $T0, $T0 + $STEPS * 1000 + 500,
        600000, 93600000, $STEPS * 900, 3600000, 'heartbeat',
        '{"targets":[{"name":"staging","role":"staging"}],"backups":["nightly_dump"]}');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $STEPS)
INSERT INTO steps (run_id, seq, name, kind, critical, timeout_ms, declared_at, status,
                   started_at, ended_at, duration_ms, error, output_tail)
SELECT 'bench-$STEPS', i, 'step ' || i || ' <of> & "$STEPS"',
       CASE i % 4 WHEN 0 THEN 'check' WHEN 1 THEN 'action' WHEN 2 THEN 'restore' ELSE 'fault' END,
       0, -1, 'bench.lua:' || i, CASE WHEN i % 50 = 7 THEN 'failed' ELSE 'passed' END,
       $T0 + i * 1000, $T0 + i * 1000 + 900, 900,
       CASE WHEN i % 50 = 7 THEN 'boom <script>' ELSE NULL END,
       printf('%.*c', 2000, 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $STEPS)
INSERT INTO checks (run_id, step_seq, name, ok, expected, observed, table_name)
SELECT 'bench-$STEPS', i, 't' || i || ': rows', i % 50 <> 7, '1000', '1000', 'public.t' || (i % 4)
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $STEPS)
INSERT INTO metrics (run_id, step_seq, name, value, unit)
SELECT 'bench-$STEPS', i, 'phase.work.duration_ms', 500, 'ms' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $STEPS / 10)
INSERT INTO gaps (run_id, step_seq, severity, category, title, detail)
SELECT 'bench-$STEPS', i * 10, CASE i % 3 WHEN 0 THEN 'critical' WHEN 1 THEN 'major' ELSE 'minor' END,
       'validation', 'gap ' || i || ' <b>', 'detail ' || i FROM n;
INSERT INTO marks (run_id, name, at, source) VALUES
    ('bench-$STEPS', 'incident', $T0 + 2000, 'auto'),
    ('bench-$STEPS', 'recovered', $T0 + $STEPS * 900, 'auto');
INSERT INTO table_stats (run_id, step_seq, phase, table_name, rows, fingerprint)
SELECT 'bench-$STEPS', 1, p, 'public.t' || k, 1000, 'abcdef0123456789'
FROM (SELECT 'baseline' AS p UNION SELECT 'restored'), (SELECT 0 AS k UNION SELECT 1 UNION SELECT 2 UNION SELECT 3);
COMMIT;
SQL

ms() { date +%s%3N; }
runs=5
times=()
for _ in $(seq "$runs"); do
    start=$(ms)
    "$LIFEBOAT" report "bench-$STEPS" --format md,html,json,junit -o "$WORK/out" >/dev/null
    times+=($(( $(ms) - start )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
start=$(ms)
"$LIFEBOAT" show "bench-$STEPS" >/dev/null
show=$(( $(ms) - start ))
bars=$(grep -o '<rect class="bar ' "$WORK/out/bench-$STEPS.html" | wc -l)
echo "report of $STEPS steps, md+html+json+junit, $runs runs (ms, sorted): $sorted"
echo "median $(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p") ms;" \
     "show: $show ms; html $(stat -c %s "$WORK/out/bench-$STEPS.html") bytes, $bars bars"
