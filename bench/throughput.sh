#!/usr/bin/env bash
# Throughput under sustained load: a 2-task DAG (`a` then `b`, both
# `empty`) triggered through `POST /api/v1/dags/two/trigger` with an API
# token, open loop at rising rates (runs per minute), against `updraft
# standalone` (release build: scheduler, worker and web in one process) on
# SQLite and on Postgres, one store after the other. The load generator is
# cli/benches/throughput.rs (same machine, same 2 cores). Prints per rate:
# runs offered, ended, the achieved rate, latency from the scheduled send
# to the run's end (p50, p99, max), and the load average.
#
#   bench/throughput.sh [sqlite] [postgres]   (Postgres: .ci/postgres.sh)
#
# RATES (500,1000,2500,5000,10000,15000), STEP_SECS (30), SLOTS (8);
# PERF=1: record the standalone process with perf meanwhile and print
# where its CPU went (symbols, no children). UPDRAFT_BIN and LOADGEN: prebuilt binaries instead of building them
# (a before/after comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
stores=("$@")
[ ${#stores[@]} -eq 0 ] && stores=(sqlite postgres)
rates="${RATES:-500,1000,2500,5000,10000,15000}"
step_secs="${STEP_SECS:-30}"
slots="${SLOTS:-8}"
. bench/lib.sh
bench_init throughput
loadgen=${LOADGEN:-$(cargo bench -p updraft-cli --bench throughput --no-run 2>&1 | grep -oE 'target/release/deps/throughput-[0-9a-f]+' | tail -1)}
[ -x "$loadgen" ] || { echo "no load generator built" >&2; exit 1; }
mkdir -p "$tmp/dags"
cat >"$tmp/dags/two.yaml" <<'YAML'
dag_id: two
schedule: null
# Runs may overlap without limit (the default 16 would queue runs here,
# not measure the engine).
max_active_runs: 100000
tasks:
  a: {operator: empty}
  b: {operator: empty, depends_on: a}
YAML

# CPU ticks of the Postgres backends serving the bench's database (0
# without Postgres; other databases on the server are not counted).
pg_cpu() {
  [ -n "$pg_server" ] || { echo 0; return; }
  local s=0 p
  for p in $(psql -qAt "$pg_server" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db_name'"); do
    s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$s"
}

echo "## machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), $(date -u +%F)"
echo "## 2-task DAG of empty tasks, open loop, ${step_secs} s per rate, standalone --slots $slots"
for store in "${stores[@]}"; do
  case "$store" in
    sqlite) url="sqlite://$tmp/updraft.db" ;;
    postgres) bench_pg_db; url=$pg_url ;;
    *) echo "unknown store $store" >&2; exit 2 ;;
  esac
  u=("$bin" --dags-folder "$tmp/dags" --database-url "$url")
  "${u[@]}" db migrate >/dev/null
  echo 'bench password long enough' | "${u[@]}" users create bench >/dev/null 2>&1
  token=$("${u[@]}" users tokens create bench --name bench 2>/dev/null)
  "${u[@]}" --dags-paused-at-creation false standalone --bind 127.0.0.1:0 --slots "$slots" >"$tmp/$store.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  until grep -q 'web UI: http' "$tmp/$store.log"; do sleep 0.1; done
  api=$(grep -oE 'http://[0-9.:]+' "$tmp/$store.log" | head -1)
  until curl -sf -H "Authorization: Bearer $token" "$api/api/v1/dags/two" >/dev/null; do sleep 0.2; done
  "${u[@]}" dags unpause two >/dev/null
  sleep 2
  echo "### $store (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  # Load average beside the run, sampled every 10 s.
  (while sleep 10; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; done) >"$tmp/load_$store" &
  sampler=$!
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  pg0=$(pg_cpu)
  t0=$(date +%s)
  if [ -n "${PERF:-}" ]; then
    perf record -F 499 -g -p "$pid" -o "$tmp/$store.perf" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  UPDRAFT_BENCH_API="$api" UPDRAFT_BENCH_TOKEN="$token" UPDRAFT_BENCH_DATABASE_URL="$url" \
    UPDRAFT_BENCH_RATES="$rates" UPDRAFT_BENCH_STEP_SECS="$step_secs" \
    "$loadgen" 2>&1
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  pg1=$(pg_cpu)
  kill "$sampler"
  echo "load average (1 min) during the run, every 10 s: $(awk '{printf "%s ", $2}' "$tmp/load_$store")"
  echo "standalone: $(( (cpu1 - cpu0) / $(getconf CLK_TCK) )) CPU-s over $(( $(date +%s) - t0 )) s; RSS $(awk '/VmRSS/{print $2}' /proc/$pid/status) KiB"
  [ "$store" = postgres ] && echo "Postgres backends of the database: $(( (pg1 - pg0) / $(getconf CLK_TCK) )) CPU-s"
  if [ -n "${PERF:-}" ]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    perf report -i "$tmp/$store.perf" --no-children --sort symbol --stdio 2>/dev/null \
      | grep -E '^ +[0-9.]+%' | head -25 | cut -c1-160
  fi
  kill -TERM "$pid"; wait "$pid" || true
done
