#!/usr/bin/env bash
# Backfill of 365 daily runs of a 3-task DAG (shell, shell, empty) on SQLite,
# in one process (no scheduler running): runs per second, median of 3.
#
#   bench/backfill.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/dags"
cat > "$tmp/dags/daily.yaml" <<'YAML'
schedule: '@daily'
start_date: 2024-01-01
max_active_runs: 16
tasks:
  extract: {operator: shell, command: 'echo {{ ds }}'}
  load: {operator: shell, depends_on: extract, command: 'echo {{ ds_nodash }}'}
  done: {operator: empty, depends_on: load}
YAML
times=()
for i in 1 2 3; do
  t0=$(date +%s%N)
  target/release/updraft --dags-folder "$tmp/dags" --database-url "sqlite://$tmp/b$i.db" \
    backfill daily --start 2024-01-01 --end 2024-12-30 2>/dev/null
  times+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
m=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
echo "## machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
echo "backfill 365 daily runs x 3 tasks: median $m ms = $(python3 -c "print(round(365 / ($m / 1000), 1))") runs/s (runs: ${times[*]} ms)"
