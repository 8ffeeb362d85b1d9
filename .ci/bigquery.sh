#!/usr/bin/env bash
# Installs (from PyPI, into its own Python 3.13 virtualenv, if missing) and
# starts local-bigquery as a throwaway BigQuery REST API (v2, rooted at
# /bigquery/v2/projects/{project}/...) on 127.0.0.1:${UPDRAFT_BIGQUERY_PORT:-19050},
# for tests. Any project ID works and no auth header is needed. gs://b/k in
# load jobs is read as the file b/k under the fake-gcs-server data folder
# that .ci/gcs.sh serves. Reuses a server already answering there. Prints
# only the endpoint URL, to use as UPDRAFT_TEST_BIGQUERY_URL.
set -euo pipefail
version=0.4.0
# local-bigquery asks for duckdb>=2.0, but it needs extensions that duckdb
# fetches from the internet on first use (ducklake holds the tables, spatial
# backs its GEOGRAPHY macros, httpfs reads gs:// from a GCS emulator), and
# PyPI ships extension wheels only up to 1.5.5: pin that and install them.
# icu too: 1.5.5's built-in icu loads too late for the TimeZone setting that
# local-bigquery connects with ("icu ... could not be autoloaded").
duckdb=1.5.5
extensions="ducklake icu spatial httpfs"
port="${UPDRAFT_BIGQUERY_PORT:-19050}"
grpc_port="${UPDRAFT_BIGQUERY_GRPC_PORT:-$((port + 10))}" # Storage API; unused by us
dir="${UPDRAFT_BIGQUERY_DIR:-/tmp/updraft-bigquery-$port}"
venv="${UPDRAFT_BIGQUERY_VENV:-/tmp/updraft-venv-local-bigquery-$version}"
gcs_root="${UPDRAFT_GCS_DIR:-/tmp/updraft-gcs-${UPDRAFT_GCS_PORT:-14443}}/data"
url="http://127.0.0.1:$port"

answers() { curl -fsS --max-time 2 "$url/bigquery/v2/projects" 2>/dev/null | grep -q '"bigquery#projectList"'; }

if answers; then
  echo "$url"
  exit 0
fi

# local-bigquery needs Python >= 3.13; pyenv's shims answer only for the
# selected version, so look in pyenv's versions too.
find_python() {
  local p
  for p in python3.13 python3.14 python3.15; do
    if "$p" -c '' >/dev/null 2>&1; then command -v "$p"; return; fi
  done
  ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[345]*/bin/python3 2>/dev/null | sort -V | tail -1
}
if [ ! -f "$venv/.installed" ] || [ ! -x "$venv/bin/local-bigquery" ]; then
  if [ ! -x "$venv/bin/pip" ]; then
    python=$(find_python || true)
    if [ -z "$python" ]; then
      echo "bigquery.sh: local-bigquery needs Python 3.13 to 3.15; none found" >&2
      exit 1
    fi
    "$python" -m venv "$venv" >&2
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "local-bigquery==$version" >&2
  # shellcheck disable=SC2046
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "duckdb==$duckdb" \
    $(printf "duckdb-extension-%s==$duckdb " $extensions) >&2
  # duckdb looks for installed extensions under $HOME/.duckdb: the server
  # runs with this HOME.
  mkdir -p "$venv/home"
  HOME="$venv/home" "$venv/bin/python" - $extensions >&2 <<'EOF'
import glob, sys
import duckdb
con = duckdb.connect()
for name in sys.argv[1:]:
    [path] = glob.glob(f"{sys.prefix}/lib/python3*/site-packages/duckdb_extension_{name}/extensions/*/{name}.duckdb_extension")
    con.execute(f"INSTALL '{path}'")
    con.execute(f"LOAD {name}")
EOF
  touch "$venv/.installed"
fi

if curl -s -o /dev/null --max-time 2 "$url/"; then
  echo "bigquery.sh: something other than local-bigquery answers on $url" >&2
  exit 1
fi

rm -rf "$dir/data"
mkdir -p "$dir/data"
HOME="$venv/home" GCS_LOCAL_ROOT="$gcs_root" setsid nohup "$venv/bin/local-bigquery" serve \
  --host 127.0.0.1 --port "$port" --grpc-port "$grpc_port" --data-dir "$dir/data" \
  </dev/null >"$dir/log" 2>&1 &
pid=$!
echo "$pid" >"$dir/pid"

deadline=$((SECONDS + 60))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "bigquery.sh: local-bigquery exited; its log ($dir/log):" >&2
    tail -n 30 "$dir/log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "bigquery.sh: local-bigquery did not answer on $url within 60 s; log: $dir/log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "$url"
