#!/usr/bin/env bash
# 1,000 DAGs of 20 tasks each on a one-minute schedule (`* * * * *`),
# run for real (no compression: MINUTES of wall clock, 10 by default)
# under `updraft standalone` (release build) on SQLite or Postgres.
# Each DAG has the shape of bench/dag_loading's ETL file (3 extracts, a
# transform, a chain of 6, 9 loads, a join on all_done) with `empty`
# tasks (OPERATOR=shell runs `true` instead), catchup off, max_active_runs 1.
# Samples the process's RSS and CPU every 10 s; at the end reads from the
# store each scheduled run's delay (its start against its data interval's
# end, i.e. when the schedule made it due), its duration, and tasks ended
# per second. Runs due in the first minute are left out (the process is
# still loading 1,000 files and creating their first runs).
#
#   bench/schedule_load.sh [sqlite|postgres]   (Postgres: .ci/postgres.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
store="${1:-sqlite}"
minutes="${MINUTES:-10}"
n_dags="${DAGS:-1000}"
operator="${OPERATOR:-empty}"
slots="${SLOTS:-8}"
. bench/lib.sh
bench_init schedule
mkdir -p "$tmp/dags"
case "$operator" in
  empty) op='operator: empty' ;;
  shell) op="operator: shell, command: 'true'" ;;
  *) echo "OPERATOR: empty or shell" >&2; exit 2 ;;
esac
for i in $(seq -w 0 $((n_dags - 1))); do
  {
    echo "dag_id: load_$i"
    echo "schedule: '* * * * *'"
    echo "start_date: 2024-01-01"
    echo "catchup: false"
    echo "max_active_runs: 1"
    echo "tasks:"
    for t in $(seq 0 19); do
      case $t in
        0 | 1 | 2) deps="" ;;
        3) deps=", depends_on: [t0, t1, t2]" ;;
        4 | 5 | 6 | 7 | 8 | 9) deps=", depends_on: t$((t - 1))" ;;
        19) deps=", trigger_rule: all_done, depends_on: [t10, t11, t12, t13, t14, t15, t16, t17, t18]" ;;
        *) deps=", depends_on: t9" ;;
      esac
      echo "  t$t: {$op$deps}"
    done
  } >"$tmp/dags/load_$i.yaml"
done

case "$store" in
  sqlite) url="sqlite://$tmp/updraft.db"; q() { sqlite3 -batch -noheader "$tmp/updraft.db" "$1"; } ;;
  postgres)
    bench_pg_db
    url=$pg_url
    q() { psql -qAt "$url" -c "$1"; } ;;
  *) echo "store: sqlite or postgres" >&2; exit 2 ;;
esac
u=("$bin" --dags-folder "$tmp/dags" --database-url "$url" --dags-paused-at-creation false)
echo "## machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), $(date -u +%F)"
echo "## $n_dags DAGs x 20 $operator tasks, '* * * * *', $store, standalone --slots $slots, $minutes min for real"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
t_start_us=$(($(date +%s%N) / 1000))
"${u[@]}" standalone --bind 127.0.0.1:0 --slots "$slots" >"$tmp/standalone.log" 2>&1 &
pid=$!
pids+=("$pid")
tck=$(getconf CLK_TCK)
end=$(($(date +%s) + minutes * 60))
echo "elapsed_s rss_kib cpu_s load1" >"$tmp/samples"
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 10
  kill -0 "$pid" || { echo "standalone died:"; tail "$tmp/standalone.log"; exit 1; }
  echo "$(( $(date +%s) - end + minutes * 60 )) $(awk '/VmRSS/{print $2}' "/proc/$pid/status") \
$(awk -v t="$tck" '{print ($14 + $15) / t}' "/proc/$pid/stat") $(cut -d' ' -f1 /proc/loadavg)" >>"$tmp/samples"
done
t_stop_us=$(($(date +%s%N) / 1000))
kill -TERM "$pid"; wait "$pid" || true
cat "$tmp/samples"

pctl() { # file p -> value (nearest rank)
  sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {if (NR == 0) {print "-"; exit} i = int((NR - 1) * p + 0.5) + 1; print a[i]}'
}
cut_us=$((t_start_us + 60000000))
q "SELECT (start_date - data_interval_end) / 1000 FROM dag_runs WHERE run_type = 'scheduled' AND start_date IS NOT NULL AND data_interval_end >= $cut_us" >"$tmp/delay"
q "SELECT (created_at - data_interval_end) / 1000 FROM dag_runs WHERE run_type = 'scheduled' AND data_interval_end >= $cut_us" >"$tmp/created"
q "SELECT (end_date - start_date) / 1000 FROM dag_runs WHERE run_type = 'scheduled' AND end_date IS NOT NULL AND data_interval_end >= $cut_us" >"$tmp/dur"
due=$(q "SELECT COUNT(*) FROM dag_runs WHERE run_type = 'scheduled' AND data_interval_end >= $cut_us")
ok=$(q "SELECT COUNT(*) FROM dag_runs WHERE run_type = 'scheduled' AND state = 'success' AND data_interval_end >= $cut_us")
bad=$(q "SELECT COUNT(*) FROM dag_runs WHERE state = 'failed'")
first=$(q "SELECT MIN(data_interval_end) FROM dag_runs WHERE data_interval_end >= $cut_us")
last=$(q "SELECT MAX(data_interval_end) FROM dag_runs WHERE data_interval_end >= $cut_us")
tasks=$(q "SELECT COUNT(*) FROM task_instances WHERE end_date >= $first AND end_date < $t_stop_us")
echo "scheduled runs due after the first minute: $due ($(( (last - first) / 60000000 + 1 )) minutes x $n_dags expected $(( ((last - first) / 60000000 + 1) * n_dags ))), succeeded $ok, failed (all) $bad"
echo "scheduling delay (run start - data interval end) ms: p50 $(pctl "$tmp/delay" 0.5) p99 $(pctl "$tmp/delay" 0.99) max $(pctl "$tmp/delay" 1)"
echo "run created - data interval end, ms: p50 $(pctl "$tmp/created" 0.5) p99 $(pctl "$tmp/created" 0.99) max $(pctl "$tmp/created" 1)"
echo "run duration (start to end) ms: p50 $(pctl "$tmp/dur" 0.5) p99 $(pctl "$tmp/dur" 0.99) max $(pctl "$tmp/dur" 1)"
echo "tasks ended from the first counted minute to the stop: $tasks in $(( (t_stop_us - first) / 1000000 )) s = $(( tasks * 1000000 / (t_stop_us - first) )) tasks/s"
q "SELECT (end_date - $first) / 1000000 AS s, COUNT(*) FROM task_instances WHERE end_date >= $first AND end_date < $((first + 60000000)) GROUP BY s ORDER BY s" >"$tmp/per_s"
echo "in the first due minute, tasks ended per second over its busy seconds: $(awk -F'[|]' '$2 > 0 {n++; s += $2; if ($2 > m) m = $2} END {printf "%d busy seconds, mean %.0f, peak %d", n, s / n, m}' "$tmp/per_s")"
awk 'NR > 1 {if (NR == 2 || $2 < lo) lo = $2; if ($2 > hi) hi = $2; last = $2; c = $3} END {printf "RSS KiB: min %d max %d last %d; CPU %.1f s over the run\n", lo, hi, last, c}' "$tmp/samples"
