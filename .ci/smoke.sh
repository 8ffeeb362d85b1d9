#!/usr/bin/env bash
# README's first command on a fresh checkout: `standalone` starts with the
# bundled example DAGs on the embedded store, runs a triggered DAG, serves
# the UI on 127.0.0.1:8080, and stops cleanly on SIGTERM.
set -euo pipefail
bin=target/release/updraft
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export UPDRAFT_DATABASE_URL="sqlite://$work/updraft.db"
"$bin" standalone >"$work/standalone.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  grep -q "updraft standalone:" "$work/standalone.log" && break
  sleep 0.1
done
grep "updraft standalone:" "$work/standalone.log"
timeout 60 "$bin" dags trigger hello_shell --logical-date 2024-11-05 --wait
# The UI it serves on README's address shows the run (open on loopback
# while no user exists).
# (Read whole first: `grep -q` stops at the first match, and curl, cut off
# mid-page, would fail the pipeline.)
page=$(curl -fsS --max-time 10 "http://127.0.0.1:8080/dags/hello_shell")
grep -q "manual__2024-11-05" <<<"$page"
logs=$("$bin" tasks logs hello_shell "manual__2024-11-05T00:00:00+00:00" report)
grep -q "processing data for 2024-11-05" <<<"$logs"
kill -TERM "$pid"
wait "$pid"
echo "smoke: standalone ran hello_shell and stopped cleanly"
