#!/usr/bin/env bash
# Loading and validating DAG files: Updraft (1,000 YAML files of 20 tasks)
# beside Airflow (the same DAG shape as Python files), in one run.
#
#   bench/dag_loading.sh                  # Updraft only
#   AIRFLOW_PYTHON=/path/to/venv/bin/python bench/dag_loading.sh
#
# Needs hyperfine (Debian package) for the whole-process numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "## machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
cargo build --release -q
echo "## Updraft, in process (load_paths on 1,000 files)"
cargo bench -q -p updraft-cli --bench dag_loading 2>/dev/null | grep dag_loading
UPDRAFT_BENCH_WRITE="$tmp/yaml" cargo bench -q -p updraft-cli --bench dag_loading >/dev/null 2>&1

if [ -n "${AIRFLOW_PYTHON:-}" ]; then
  export AIRFLOW_HOME="$tmp/airflow_home" AIRFLOW__CORE__LOAD_EXAMPLES=False
  "$AIRFLOW_PYTHON" bench/airflow_baseline.py write "$tmp/airflow" 100
  "$AIRFLOW_PYTHON" -c "import airflow" 2>/dev/null # creates its config once
  echo "## Airflow $("$AIRFLOW_PYTHON" -c 'import airflow; print(airflow.__version__)' 2>/dev/null), in process (DagBag on 100 files)"
  "$AIRFLOW_PYTHON" bench/airflow_baseline.py load "$tmp/airflow" 5 2>/dev/null | grep "^airflow"
fi

if command -v hyperfine >/dev/null; then
  echo "## whole process"
  cmds=(-n "updraft dags validate (1,000 files)" "target/release/updraft --dags-folder $tmp/yaml dags validate")
  if [ -n "${AIRFLOW_PYTHON:-}" ]; then
    cmds+=(-n "airflow DagBag (100 files)" "$AIRFLOW_PYTHON bench/airflow_baseline.py load $tmp/airflow 0")
  fi
  hyperfine -N --warmup 2 --runs 10 --style none --export-json "$tmp/h.json" "${cmds[@]}" >/dev/null
  python3 - "$tmp/h.json" <<'PY'
import json, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = sorted(r["times"])
    print(f"{r['command']}: {len(t)} runs: min {t[0]*1000:.0f} ms, median {statistics.median(t)*1000:.0f} ms, max {t[-1]*1000:.0f} ms")
PY
fi
