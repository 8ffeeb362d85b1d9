#!/usr/bin/env bash
# A run triggered from another process: `updraft dags trigger chain50
# --wait` (a 50-task chain of `true`) against a running `standalone`, on
# SQLite (wake-ups through sockets beside the database file) and on
# Postgres (LISTEN/NOTIFY), taking turns, RUNS pairs (7). Prints each time
# and the medians.
#
#   bench/wakeup.sh     (needs the Postgres of .ci/postgres.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-7}"
pg_server=$(bash .ci/postgres.sh)
cargo build --release -q
bin=$PWD/target/release/updraft
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/dags"
{
  echo "dag_id: chain50"
  echo "start_date: 2024-01-01"
  echo "schedule: null"
  echo "tasks:"
  for i in $(seq 1 50); do
    echo "  t$i:"
    echo "    operator: shell"
    echo "    command: 'true'"
    [ "$i" -gt 1 ] && echo "    depends_on: t$((i - 1))"
  done
} >"$tmp/dags/chain50.yaml"

db_name="updraft_bench_wakeup_$$"
psql -q "$pg_server" -c "CREATE DATABASE $db_name" >/dev/null
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; psql -q "$pg_server" -c "DROP DATABASE IF EXISTS $db_name" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
sqlite="sqlite://$tmp/updraft.db"
postgres="${pg_server%/*}/$db_name"

start() { # url log
  "$bin" --dags-folder "$tmp/dags" --database-url "$1" standalone --bind 127.0.0.1:0 >"$2" 2>&1 &
  pids+=($!)
}
start "$sqlite" "$tmp/sqlite.log"
start "$postgres" "$tmp/postgres.log"
# Ready once each has loaded the DAG (and so listens).
for url in "$sqlite" "$postgres"; do
  until "$bin" --dags-folder "$tmp/dags" --database-url "$url" dags list 2>/dev/null | grep -q chain50; do sleep 0.2; done
done
until ls "$tmp"/updraft.db.wake/*.sock >/dev/null 2>&1; do sleep 0.1; done
sleep 2

time_one() { # url -> milliseconds
  local t0 t1
  t0=$(date +%s%N)
  "$bin" --dags-folder "$tmp/dags" --database-url "$1" dags trigger chain50 --wait >/dev/null 2>&1
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
s=(); p=()
for _ in $(seq 1 "$runs"); do
  s+=("$(time_one "$sqlite")")
  p+=("$(time_one "$postgres")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "trigger --wait of a 50-task chain from another process, $runs runs each (ms)"
echo "SQLite:   ${s[*]}  median $(median "${s[@]}")"
echo "Postgres: ${p[*]}  median $(median "${p[@]}")"
