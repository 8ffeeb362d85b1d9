#!/usr/bin/env bash
# Every page and /api/v1 listing over a long history, on SQLite and Postgres.
#
#   bench/history.sh [RUNS]
#
# Fills a fresh store per backend (bench/history_gen.py: 100 small DAGs with
# 100 runs each, a DAG of 2,000 tasks with 100 runs, a manual DAG with
# 20,000 runs, and RUNS hourly runs of a 20-task chain, default 100,000:
# 2.3M task instances in all), starts `updraft web` on it and times each URL
# from curl on localhost: the median (and slowest) of N requests after two
# warm-up ones, so the figure is the server's answer time plus a loopback
# round trip.
#
# Environment: UPDRAFT_BIN (a prebuilt binary, e.g. an older build for a
# baseline; default: build target/release/updraft), STORES (default
# "sqlite postgres"), N (default 21), POSTGRES_URL (default: the one
# .ci/postgres.sh starts), KEEP=1 keeps the filled stores in $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100000}
n=${N:-21}
stores=${STORES:-sqlite postgres}
bin=${UPDRAFT_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p updraft-cli
  bin=target/release/updraft
fi
bin=$(realpath "$bin")
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ "${KEEP:-}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT
python3 bench/history_gen.py yaml "$tmp/dags"
port=$((18000 + RANDOM % 1000))

# `exec`: in the background, $! is then updraft itself, not a subshell.
up() { exec "$bin" --dags-folder "$tmp/dags" --database-url "$url" --dags-paused-at-creation true "$@"; }
sql() {
  case $store in
  sqlite) sqlite3 "$tmp/history.db" "$1" ;;
  postgres) psql -qtAX "$url" -c "$1" ;;
  esac
}
stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

# One URL: "size_kib median_ms max_ms" over n requests (after 2 warm-ups);
# a status other than 200 stops the bench.
time_url() {
  local u="http://127.0.0.1:$port$1" out
  for _ in 1 2; do curl -s -o /dev/null "$u"; done
  out=$(for _ in $(seq "$n"); do curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' "$u"; done)
  if echo "$out" | grep -qv '^200 '; then
    echo "$1: $(echo "$out" | grep -v '^200 ' | head -1)" >&2
    exit 1
  fi
  echo "$out" | awk '{print $2 * 1000, $3}' | sort -n | awk -v n="$n" '
    {t[NR] = $1; s = $2} END {printf "%.0f %.1f %.1f\n", s / 1024, t[int((n + 1) / 2)], t[n]}'
}

echo "## $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $("$bin" --version); RUNS=$runs N=$n"
for store in $stores; do
  case $store in
  sqlite) url="sqlite://$tmp/history.db" ;;
  postgres)
    base=${POSTGRES_URL:-$(bash .ci/postgres.sh)}
    psql -qX "$base" -c "DROP DATABASE IF EXISTS updraft_history" -c "CREATE DATABASE updraft_history" >/dev/null 2>&1
    url="${base%/*}/updraft_history"
    ;;
  esac
  (up db migrate >/dev/null)
  # The DAG processor (inside the scheduler) records each file's DAG and
  # version; they are paused, so it schedules nothing.
  (up scheduler 2>/dev/null) &
  pid=$!
  deadline=$((SECONDS + 120))
  until [ "$(sql "SELECT COUNT(*) FROM dags WHERE version_id IS NOT NULL")" = 103 ]; do
    [ $SECONDS -lt $deadline ] || { echo "DAGs not synced" >&2; exit 1; }
    sleep 0.2
  done
  stop
  t0=$(date +%s%N)
  case $store in
  sqlite) python3 bench/history_gen.py sql sqlite "$runs" | sqlite3 "$tmp/history.db" >/dev/null ;;
  postgres) python3 bench/history_gen.py sql postgres "$runs" | psql -qX -v ON_ERROR_STOP=1 "$url" >/dev/null ;;
  esac
  fill_ms=$((($(date +%s%N) - t0) / 1000000))
  ti=$(sql "SELECT COUNT(*) FROM task_instances")
  dr=$(sql "SELECT COUNT(*) FROM dag_runs")
  newest=$(sql "SELECT run_id FROM dag_runs WHERE dag_id = 'history_20' ORDER BY logical_date DESC LIMIT 1 OFFSET 1")
  middle=$(sql "SELECT run_id FROM dag_runs WHERE dag_id = 'history_20' ORDER BY logical_date DESC LIMIT 1 OFFSET $((runs / 2))")
  wide=$(sql "SELECT run_id FROM dag_runs WHERE dag_id = 'wide_2000' ORDER BY logical_date DESC LIMIT 1 OFFSET 1")
  # A cursor half way back: the logical date of the middle run.
  older=$(python3 -c "import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1].split('__', 1)[1], safe=''))" "$middle")
  enc() { python3 -c "import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=''))" "$1"; }
  r=$(enc "$newest")
  m=$(enc "$middle")
  w=$(enc "$wide")
  (up web --bind "127.0.0.1:$port" 2>/dev/null) &
  pid=$!
  deadline=$((SECONDS + 60))
  until curl -s -o /dev/null "http://127.0.0.1:$port/dags"; do
    kill -0 "$pid" || { echo "web exited" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "web did not start" >&2; exit 1; }
    sleep 0.2
  done
  size=$(case $store in sqlite) du -m "$tmp/history.db" | cut -f1 ;; postgres) sql "SELECT pg_database_size(current_database()) / 1048576" ;; esac)
  echo
  echo "### $store: $dr runs, $ti task instances, $size MB, filled in $fill_ms ms; load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| what | URL | KiB | median ms | max ms |"
  echo "| --- | --- | --- | --- | --- |"
  while read -r what path; do
    res=$(time_url "$path") || exit 1
    read -r kib med max <<<"$res"
    echo "| $what | \`$path\` | $kib | $med | $max |"
  done <<EOF
DAG-list /dags
DAG-list-filtered /dags?tag=team3
DAG-page-history_20 /dags/history_20
DAG-page-older-runs /dags/history_20?before=$older
DAG-live-fragment /dags/history_20/live
DAG-page-wide_2000 /dags/wide_2000
DAG-live-wide_2000 /dags/wide_2000/live
DAG-page-manual_events /dags/manual_events
run-page-newest /dags/history_20/runs/$r
run-page-middle /dags/history_20/runs/$m
run-live-fragment /dags/history_20/runs/$r/live
run-page-wide_2000 /dags/wide_2000/runs/$w
task-page-with-log /dags/history_20/runs/$r/tasks/task_3
task-page-middle /dags/history_20/runs/$m/tasks/task_3
task-page-wide /dags/wide_2000/runs/$w/tasks/w1500
log-stream-ended /dags/history_20/runs/$r/tasks/task_3/logs/stream
api-dags /api/v1/dags
api-dag /api/v1/dags/history_20
api-dag-wide /api/v1/dags/wide_2000
api-grid /api/v1/dags/history_20/grid
api-grid-older /api/v1/dags/history_20/grid?before=$older
api-grid-wide /api/v1/dags/wide_2000/grid
api-runs /api/v1/dags/history_20/runs
api-runs-1000 /api/v1/dags/history_20/runs?limit=1000
api-runs-older /api/v1/dags/history_20/runs?before=$older
api-runs-manual /api/v1/dags/manual_events/runs
api-run /api/v1/dags/history_20/runs/$m
api-task-instances /api/v1/dags/history_20/runs/$m/tasks
api-task-instances-wide /api/v1/dags/wide_2000/runs/$w/tasks
api-task-instance /api/v1/dags/history_20/runs/$m/tasks/task_3
api-logs /api/v1/dags/history_20/runs/$r/tasks/task_3/logs
EOF
  stop
done
