#!/usr/bin/env bash
# `standalone` with 100 DAGs (20 tasks each): idle resident memory, and cold
# start to the first task running (a run is queued before the process
# starts). Medians of 5.
#
#   bench/standalone.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
tmp=$(mktemp -d)
trap 'pkill -f "$tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT
UPDRAFT_BENCH_FILES=100 UPDRAFT_BENCH_WRITE="$tmp/dags" cargo bench -q -p updraft-cli --bench dag_loading >/dev/null 2>&1
cat > "$tmp/dags/first.yaml" <<YAML
tasks:
  first: {operator: shell, command: 'date +%s%N > $tmp/started'}
YAML
bin=$PWD/target/release/updraft
rss=(); start=()
for i in 1 2 3 4 5; do
  db="sqlite://$tmp/s$i.db"
  rm -f "$tmp/started"
  "$bin" --dags-folder "$tmp/dags" --database-url "$db" dags trigger first --logical-date 2024-01-01 >/dev/null
  t0=$(date +%s%N)
  "$bin" --dags-folder "$tmp/dags" --database-url "$db" standalone >"$tmp/log$i" 2>&1 &
  pid=$!
  until [ -s "$tmp/started" ]; do sleep 0.002; done
  start+=($(( ($(cat "$tmp/started") - t0) / 1000000 )))
  sleep 5
  rss+=($(awk '/VmRSS/{print $2}' /proc/$pid/status))
  kill -TERM $pid; wait $pid || true
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
echo "## machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
echo "idle RSS of standalone with 100 DAGs (after 5 s): median $(median "${rss[@]}") KiB (runs: ${rss[*]})"
echo "cold start to first task running (process spawn to the task's first command): median $(median "${start[@]}") ms (runs: ${start[*]})"
