#!/usr/bin/env bash
# Installs (from PyPI, into its own virtualenv, if missing) and starts moto's
# server as a throwaway S3 on 127.0.0.1:${UPDRAFT_S3_PORT:-19000}, for tests.
# Reuses a server already answering there. Prints only the endpoint URL, to
# use as UPDRAFT_TEST_S3_URL (path-style; any SigV4 keys are accepted).
set -euo pipefail
version=5.2.5
port="${UPDRAFT_S3_PORT:-19000}"
dir="${UPDRAFT_S3_DIR:-/tmp/updraft-s3-$port}"
venv="${UPDRAFT_S3_VENV:-/tmp/updraft-venv-moto-$version}"
url="http://127.0.0.1:$port"

# moto answers an unsigned GET / with an (empty) ListAllMyBucketsResult.
answers() { curl -fsS --max-time 2 "$url/" 2>/dev/null | grep -q ListAllMyBucketsResult; }

if answers; then
  echo "$url"
  exit 0
fi

if [ ! -f "$venv/.installed" ] || [ ! -x "$venv/bin/moto_server" ]; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$version" >&2
  touch "$venv/.installed"
fi

if curl -s -o /dev/null --max-time 2 "$url/"; then
  echo "s3.sh: something other than moto answers on $url" >&2
  exit 1
fi

mkdir -p "$dir"
setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" </dev/null >"$dir/log" 2>&1 &
pid=$!
echo "$pid" >"$dir/pid"

deadline=$((SECONDS + 60))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "s3.sh: moto_server exited; its log ($dir/log):" >&2
    tail -n 30 "$dir/log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "s3.sh: moto_server did not answer on $url within 60 s; log: $dir/log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "$url"
