#!/usr/bin/env bash
# Many workers: the 10,000-task fan-out of `empty` tasks (the DAG of
# `cargo bench --bench runtime`'s fan-out) on Postgres, with 2 `updraft
# scheduler` processes and 1, 2, 4, 8 `updraft worker --slots 16`
# processes (release build), all host processes on this machine. 16
# slots: the size of a process's Postgres pool; with 64 slots, 8 workers
# lost their heartbeats for 10 s and had their live tries reaped
# (BENCHMARKS.md, "Many workers on Postgres"). Each count gets a fresh
# database and RUNS runs (3); per run: tasks/s from the run's creation to
# its end (as the store records them), CPU seconds of
# the schedulers, the workers and the Postgres backends serving them (from
# /proc; the server's own background processes are not counted), and what
# Postgres's backends of the database were waiting on (pg_stat_activity
# sampled every 50 ms).
#
#   bench/workers.sh   (Postgres: .ci/postgres.sh)
#
# WORKERS ("1 2 4 8"), RUNS (3), SLOTS (16), TASKS (10000).
set -euo pipefail
cd "$(dirname "$0")/.."
counts="${WORKERS:-1 2 4 8}"
runs="${RUNS:-3}"
slots="${SLOTS:-16}"
n_tasks="${TASKS:-10000}"
. bench/lib.sh
bench_init workers
pg_server=$(bash .ci/postgres.sh)
mkdir -p "$tmp/dags"
{
  echo "dag_id: fan"
  echo "max_active_tasks: 100000"
  echo "tasks:"
  for i in $(seq 0 $((n_tasks - 1))); do echo "  t$i: {operator: empty}"; done
} >"$tmp/dags/fan.yaml"

tck=$(getconf CLK_TCK)
cpu_of() { # pids... -> CPU seconds (user + system) summed
  local s=0 p
  for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$s"
}
pg_cpu() { # CPU ticks of the Postgres backends serving this database (other databases on the server are not counted)
  local s=0 p
  for p in $(psql -qAt "$pg_server" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db_name'"); do
    s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$s"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "## machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), $(date -u +%F)"
echo "## $n_tasks-task fan-out of empty, Postgres ($(psql -qAt "$pg_server" -c 'SHOW server_version')), 2 schedulers, workers --slots $slots, $runs runs each"
echo "| workers | tasks/s per run | median tasks/s | CPU s per run (median): schedulers / workers / Postgres | wait events seen (share of active backend samples) | load avg (1 min) |"
echo "| --- | --- | --- | --- | --- | --- |"
for k in $counts; do
  bench_pg_db
  url=$pg_url
  u=("$bin" --dags-folder "$tmp/dags" --database-url "$url" --dags-paused-at-creation false)
  "${u[@]}" db migrate >/dev/null
  scheds=(); workers=()
  for s in 1 2; do "${u[@]}" scheduler >"$tmp/sched$s.log" 2>&1 & scheds+=($!); pids+=($!); done
  for w in $(seq 1 "$k"); do "${u[@]}" worker --slots "$slots" >"$tmp/worker$w.log" 2>&1 & workers+=($!); pids+=($!); done
  until [ "$(psql -qAt "$url" -c "SELECT COUNT(*) FROM dags WHERE dag_id = 'fan' AND is_paused = 0" 2>/dev/null)" = 1 ] \
    && [ "$(psql -qAt "$url" -c "SELECT COUNT(*) FROM workers WHERE kind = 'worker'" 2>/dev/null)" = "$k" ]; do sleep 0.3; done
  sleep 3
  rates=(); cs=(); cw=(); cp=(); : >"$tmp/waits"
  for r in $(seq 1 "$runs"); do
    s0=$(cpu_of "${scheds[@]}"); w0=$(cpu_of "${workers[@]}"); p0=$(pg_cpu)
    "${u[@]}" dags trigger fan >/dev/null
    # Sample what active backends of this database wait on until the run ends.
    while :; do
      st=$(psql -qAt "$url" -c "SELECT state FROM dag_runs ORDER BY id DESC LIMIT 1; \
SELECT COALESCE(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity \
WHERE datname = '$db_name' AND state = 'active' AND pid <> pg_backend_pid()")
      echo "$st" | tail -n +2 >>"$tmp/waits"
      case "$(echo "$st" | head -1)" in success | failed) break ;; esac
      sleep 0.05
    done
    s1=$(cpu_of "${scheds[@]}"); w1=$(cpu_of "${workers[@]}"); p1=$(pg_cpu)
    read -r took state <<<"$(psql -qAt -F' ' "$url" -c "SELECT end_date - created_at, state FROM dag_runs ORDER BY id DESC LIMIT 1")"
    if [ "$state" != success ]; then
      echo "run $r with $k workers: $state; tasks not succeeded:" >&2
      psql -qAt "$url" -c "SELECT task_id, state, try_number, error FROM task_instances WHERE run_pk = (SELECT MAX(id) FROM dag_runs) AND state <> 'success' LIMIT 10" >&2
      psql -qAt "$url" -c "SELECT worker_id, kind, pid, heartbeat FROM workers" >&2
      for f in "$tmp"/*.log; do echo "-- $f" >&2; grep -v 'try was given up' "$f" | tail -5 >&2; done
      exit 1
    fi
    rates+=($((n_tasks * 1000000 / took)))
    cs+=($(((s1 - s0) * 100 / tck))); cw+=($(((w1 - w0) * 100 / tck))); cp+=($(((p1 - p0) * 100 / tck)))
  done
  waits=$(sort "$tmp/waits" | uniq -c | sort -rn | awk -v n="$(wc -l <"$tmp/waits")" 'NR <= 4 {printf "%s %.0f%%, ", $2, 100 * $1 / n}')
  c100() { awk -v c="$1" 'BEGIN {printf "%.2f", c / 100}'; }
  echo "| $k | ${rates[*]} | **$(median "${rates[@]}")** | $(c100 "$(median "${cs[@]}")") / $(c100 "$(median "${cw[@]}")") / $(c100 "$(median "${cp[@]}")") | ${waits%, } | $(cut -d' ' -f1 /proc/loadavg) |"
  bench_stop_all
done
