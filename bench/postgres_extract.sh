#!/usr/bin/env bash
# postgres_extract beside psql's \copy, in one run: 1,000,000 invoice rows
# (updraft dev invoices) in a table, extracted RUNS times each way; medians
# of wall time and peak RSS. Needs PG_URL (e.g. from .ci/postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PG_URL:?set PG_URL to a Postgres URL}"
RUNS=${RUNS:-5}
ROWS=${ROWS:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p updraft-cli
cargo build --release -q -p updraft-operators --example pg_extract_bench
target/release/updraft dev invoices --rows "$ROWS" --encoding utf-8 --out "$work/in.csv"
psql -q "$PG_URL" -c 'DROP TABLE IF EXISTS bench_invoices' -c 'CREATE TABLE bench_invoices (
  "InvoiceNo" text, "StockCode" text, "Description" text, "Quantity" integer,
  "InvoiceDate" text, "UnitPrice" numeric(10,3), "CustomerID" bigint, "Country" text)'
psql -q "$PG_URL" -c "\\copy bench_invoices from '$work/in.csv' csv header"
psql -q "$PG_URL" -c 'ALTER TABLE bench_invoices ALTER "InvoiceDate" TYPE timestamp USING to_timestamp("InvoiceDate", '"'"'MM/DD/YYYY HH24:MI'"'"')::timestamp' -c 'VACUUM ANALYZE bench_invoices'
sql='SELECT * FROM bench_invoices'

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
measure() { # name, command...
  local name=$1; shift
  : > "$work/times"
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$work/t" "$@" > /dev/null 2>&1
    cat "$work/t" >> "$work/times"
  done
  printf '%-28s %8.2f s %8.1f MB\n' "$name" "$(cut -d' ' -f1 "$work/times" | median)" \
    "$(cut -d' ' -f2 "$work/times" | median | awk '{print $1/1024}')"
}
echo "$ROWS rows, medians of $RUNS runs, $(nproc) cores"
measure "psql \\copy to csv" psql "$PG_URL" -c "\\copy ($sql) to '$work/psql.csv' csv header"
measure "postgres_extract csv" target/release/examples/pg_extract_bench "$PG_URL" "$sql" "$work/ours.csv"
measure "postgres_extract parquet" target/release/examples/pg_extract_bench "$PG_URL" "$sql" "$work/ours.parquet"
cmp "$work/psql.csv" "$work/ours.csv" && echo "CSV outputs are identical ($(stat -c %s "$work/ours.csv") bytes)"
echo "Parquet: $(stat -c %s "$work/ours.parquet") bytes"
