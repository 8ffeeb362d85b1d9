# Shared by the benches that run `updraft` processes; sourced, not run.
#
#   . bench/lib.sh; bench_init NAME
#
# sets $bin (UPDRAFT_BIN, a prebuilt binary for a before/after comparison,
# or a fresh release build), $tmp (a folder removed at exit), pids (the
# processes stopped at exit: add each background process), $db_name
# (updraft_bench_NAME_PID) and $pg_server (empty until `bench_pg_db`).

bench_init() {
  if [ -z "${UPDRAFT_BIN:-}" ]; then cargo build --release -q -p updraft-cli; fi
  bin=${UPDRAFT_BIN:-$PWD/target/release/updraft}
  tmp=$(mktemp -d)
  pids=()
  db_name="updraft_bench_$1_$$"
  pg_server=""
  trap bench_cleanup EXIT
}

# Starts Postgres (.ci/postgres.sh) if needed and makes $db_name afresh;
# its URL is then in $pg_url.
bench_pg_db() {
  [ -n "$pg_server" ] || pg_server=$(bash .ci/postgres.sh)
  psql -q "$pg_server" -c "DROP DATABASE IF EXISTS $db_name" >/dev/null
  psql -q "$pg_server" -c "CREATE DATABASE $db_name" >/dev/null
  pg_url="${pg_server%/*}/$db_name"
}

# Stops every process in pids (SIGTERM: updraft drains and deregisters)
# and waits for them.
bench_stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

bench_cleanup() {
  bench_stop_all
  if [ -n "$pg_server" ]; then
    psql -q "$pg_server" -c "DROP DATABASE IF EXISTS $db_name" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
