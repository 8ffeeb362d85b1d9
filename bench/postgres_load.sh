#!/usr/bin/env bash
# postgres_load beside psql's \copy from, in one run: 1,000,000 invoice rows
# (updraft dev invoices) in a typed table, written out once as CSV and as
# Parquet (by postgres_extract), then loaded RUNS times each way into an
# empty table of the same types: psql `TRUNCATE; \copy from CSV`, and
# `updraft tasks test` of a postgres_load task (mode truncate) from the
# Parquet file and from the CSV file. Medians of wall time and peak RSS.
# Needs PG_URL (e.g. from .ci/postgres.sh) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PG_URL:?set PG_URL to a Postgres URL}"
RUNS=${RUNS:-5}
ROWS=${ROWS:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p updraft-cli
updraft=target/release/updraft
export UPDRAFT_CONN_PG="$PG_URL" UPDRAFT_DATABASE_URL="sqlite://$work/state.db"
# `task NAME IN OUT`: one task of bench/dags/bench_data.yaml as a whole
# process (a script, so that /usr/bin/time measures it).
cat > "$work/task" <<SH
#!/usr/bin/env bash
UPDRAFT_VAR_BENCH_IN="\$2" UPDRAFT_VAR_BENCH_OUT="\$3" exec "$PWD/$updraft" --dags-folder "$PWD/bench/dags" tasks test bench_data "\$1" 2024-11-01
SH
chmod +x "$work/task"
task() { "$work/task" "$@"; }

"$updraft" dev invoices --rows "$ROWS" --encoding utf-8 --out "$work/in.csv"
psql -q "$PG_URL" -c 'DROP TABLE IF EXISTS bench_invoices' -c 'CREATE TABLE bench_invoices (
  "InvoiceNo" text, "StockCode" text, "Description" text, "Quantity" integer,
  "InvoiceDate" text, "UnitPrice" numeric(10,3), "CustomerID" bigint, "Country" text)'
psql -q "$PG_URL" -c "\\copy bench_invoices from '$work/in.csv' csv header"
psql -q "$PG_URL" -c 'ALTER TABLE bench_invoices ALTER "InvoiceDate" TYPE timestamp USING to_timestamp("InvoiceDate", '"'"'MM/DD/YYYY HH24:MI'"'"')::timestamp' \
  -c 'DROP TABLE IF EXISTS bench_load' -c 'CREATE TABLE bench_load (LIKE bench_invoices)'
task extract "" "$work/rows.csv" > /dev/null
task extract "" "$work/rows.parquet" > /dev/null

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
measure() { # name, command...
  local name=$1; shift
  : > "$work/times"
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$work/t" "$@" > "$work/out" 2>&1 || { cat "$work/out"; exit 1; }
    cat "$work/t" >> "$work/times"
  done
  printf '%-34s %8.2f s %8.1f MB\n' "$name" "$(cut -d' ' -f1 "$work/times" | median)" \
    "$(cut -d' ' -f2 "$work/times" | median | awk '{print $1/1024}')"
}
check() { # what was loaded equals the source table
  diff=$(psql -qtA "$PG_URL" -c 'SELECT count(*) FROM (SELECT * FROM bench_invoices EXCEPT ALL SELECT * FROM bench_load) d')
  rows=$(psql -qtA "$PG_URL" -c 'SELECT count(*) FROM bench_load')
  [[ $diff == 0 && $rows == "$ROWS" ]] || { echo "$1: $rows rows loaded, $diff differ from the source"; exit 1; }
}
echo "$ROWS rows, medians of $RUNS runs, $(nproc) cores; CSV $(stat -c %s "$work/rows.csv") bytes, Parquet $(stat -c %s "$work/rows.parquet") bytes"
measure "psql TRUNCATE; \\copy from csv" psql -q "$PG_URL" -c 'TRUNCATE bench_load' -c "\\copy bench_load from '$work/rows.csv' csv header"
check psql
measure "postgres_load parquet (binary)" "$work/task" load "$work/rows.parquet" ""
check "postgres_load parquet"
measure "postgres_load csv" "$work/task" load "$work/rows.csv" ""
check "postgres_load csv"
echo "every load matched the source table row for row"
