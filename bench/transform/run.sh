#!/usr/bin/env bash
# The first user's cleaning (their `transform_data` task) on the generated
# invoices (`updraft dev invoices`: 541,909 rows, cp1252) in pandas (their
# code, the reference), polars, DuckDB and Updraft (`updraft tasks test` of
# the same steps): median wall time and peak RSS of each whole
# process over RUNS runs, then every output compared with pandas'.
#
#   bench/transform/run.sh              (RUNS=5, ROWS=541909, SEED=20101201;
#                                        UPDRAFT_BIN=path skips the cargo build)
#
# Needs python3 (3.11+) and PyPI for the first run; the venv is kept in
# $VENV. Work files go to $WORK (kept, to look at the outputs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs="${RUNS:-5}"
rows="${ROWS:-541909}"
seed="${SEED:-20101201}"
VENV="${VENV:-/tmp/updraft-venv-bench}"
WORK="${WORK:-/tmp/updraft-bench-transform}"
PINS=(pandas==3.1.1 pyarrow==26.0.1 polars==2.1.0 duckdb==2.0.1)

# ---------------------------------------------------------------------------
# UPDRAFT_CMD: Updraft's side, a whole `updraft tasks test` process running
# the `clean` task of bench/dags/bench_data.yaml (the same steps), which
# reads the CSV at $BENCH_IN and writes Parquet to $BENCH_OUT (through the
# variables bench_in and bench_out). Set it to time something else; set it
# to `-` to leave Updraft out.
UPDRAFT_CMD="${UPDRAFT_CMD:-UPDRAFT_VAR_BENCH_IN=\"\$BENCH_IN\" UPDRAFT_VAR_BENCH_OUT=\"\$BENCH_OUT\" UPDRAFT_DATABASE_URL=sqlite://$WORK/state.db '\$UPDRAFT' --dags-folder bench/dags tasks test bench_data clean 2024-11-01}"
# ---------------------------------------------------------------------------

mkdir -p "$WORK"

# (a) Python and the three libraries, pinned.
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
py="$VENV/bin/python"
"$py" -c 'import sys, pandas, pyarrow, polars, duckdb, numpy
print("python", sys.version.split()[0], "| pandas", pandas.__version__, "| pyarrow", pyarrow.__version__,
      "| numpy", numpy.__version__, "| polars", polars.__version__, "| duckdb", duckdb.__version__)'

# (b) The data, from a release build (or the binary in $UPDRAFT_BIN).
if [[ -n "${UPDRAFT_BIN:-}" ]]; then
  updraft="$UPDRAFT_BIN"
else
  (cd "$root" && cargo build --release -q -p updraft-cli)
  updraft="${CARGO_TARGET_DIR:-$root/target}/release/updraft"
fi
csv="$WORK/invoices.csv"
"$updraft" dev invoices --rows "$rows" --seed "$seed" --out "$csv"

# (c) RUNS runs of each; /usr/bin/time gives wall seconds and peak RSS.
median() {
  sort -g | awk '{ v[NR] = $1 }
    END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

tools=(pandas polars duckdb)
declare -A cmds=(
  [pandas]="'$py' '$here/pandas_clean.py' \"\$BENCH_IN\" \"\$BENCH_OUT\""
  [polars]="'$py' '$here/polars_clean.py' \"\$BENCH_IN\" \"\$BENCH_OUT\""
  [duckdb]="'$py' '$here/duckdb_clean.py' \"\$BENCH_IN\" \"\$BENCH_OUT\""
)
if [[ "$UPDRAFT_CMD" != "-" ]]; then
  tools+=(updraft)
  cmds[updraft]="${UPDRAFT_CMD//\$UPDRAFT/$updraft}"
else
  echo "updraft: left out (UPDRAFT_CMD=-)"
fi

summary=()
for tool in "${tools[@]}"; do
  out="$WORK/$tool.parquet"
  : > "$WORK/$tool.times"
  for i in $(seq 1 "$runs"); do
    rm -f "$out"
    (cd "$root" && BENCH_IN="$csv" BENCH_OUT="$out" \
      /usr/bin/time -f '%e s %M KB' -o "$WORK/time" bash -c "${cmds[$tool]}") > "$WORK/$tool.log" 2>&1 ||
      { echo "$tool failed:" >&2; cat "$WORK/$tool.log" >&2; exit 1; }
    [[ -s "$out" ]] || { echo "$tool wrote no $out" >&2; exit 1; }
    work=$(sed -n 's/^work_seconds=//p' "$WORK/$tool.log")
    echo "$(cat "$WORK/time") ${work:--}" >> "$WORK/$tool.times"
    echo "$tool run $i: $(cat "$WORK/time") (work ${work:--} s)"
  done
  wall=$(awk '{ print $1 }' "$WORK/$tool.times" | median)
  rss=$(awk '{ print $3 }' "$WORK/$tool.times" | median)
  work=$(awk '$5 != "-" { print $5 }' "$WORK/$tool.times" | median)
  summary+=("$(printf '%-8s %8s s %10s KB %10s s' "$tool" "$wall" "$rss" "${work:--}")")
done

echo
echo "medians of $runs runs, $rows rows ($(stat -c %s "$csv") bytes):"
printf '%-8s %10s %13s %12s\n' tool wall "peak RSS" "after import"
printf '%s\n' "${summary[@]}"

# (d) Every output against pandas'.
echo
others=()
for tool in "${tools[@]:1}"; do others+=("$WORK/$tool.parquet"); done
"$py" "$here/compare.py" "$WORK/pandas.parquet" "${others[@]}"
