#!/usr/bin/env bash
# Installs (from Debian's packages, if missing) and starts a throwaway
# Postgres on 127.0.0.1:${PGPORT:-54329} with trust auth, for tests.
# Prints the URL to use as UPDRAFT_TEST_POSTGRES_URL.
set -euo pipefail
port="${PGPORT:-54329}"
dir="${PGDATA_DIR:-/tmp/updraft-pg-$port}"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
run() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  rm -rf "$dir"; mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  run "$bin/initdb -D $dir -U postgres --auth=trust -E UTF8 >/dev/null"
  run "$bin/pg_ctl -D $dir -l $dir/log -w -o '-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' start >/dev/null"
fi
echo "postgres://postgres@127.0.0.1:$port/postgres"
