#!/usr/bin/env bash
# Many small files to S3 (moto) and GCS (fake-gcs-server) and back, in one
# run: Updraft's s3_upload / gcs_upload and s3_download / gcs_download as
# whole `updraft tasks test` processes (8 objects in flight), boto3 with a
# pool of 10 threads (its transfer default) calling upload_file /
# download_file, and google-cloud-storage's transfer_manager
# (upload_many_from_filenames / download_many_to_path, 8 workers). Wall
# time and peak RSS, medians of RUNS runs; every upload listed and counted
# after, every download's files counted.
#
#   bench/objects.sh [FILES] [BYTES]     (default 10000 files of 4096 bytes; RUNS=3)
#
# Needs the stand-ins (.ci/s3.sh, .ci/gcs.sh), boto3 (moto's venv has it)
# and google-cloud-storage in $GCS_PYTHON (a venv with
# `pip install google-cloud-storage`).
set -euo pipefail
cd "$(dirname "$0")/.."
files="${1:-10000}"
bytes="${2:-4096}"
runs="${RUNS:-3}"
S3=$(bash .ci/s3.sh)
GCS=$(bash .ci/gcs.sh)
BOTO_PYTHON="${BOTO_PYTHON:-/tmp/updraft-venv-moto-5.2.5/bin/python}"
GCS_PYTHON="${GCS_PYTHON:-/tmp/gcs-py/bin/python}"
[[ -x "$GCS_PYTHON" ]] || { python3 -m venv "$(dirname "$(dirname "$GCS_PYTHON")")" && "$GCS_PYTHON" -m pip install -q google-cloud-storage; }
cargo build --release -q -p updraft-cli
updraft="$PWD/target/release/updraft"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
python3 - "$work/src" "$files" "$bytes" <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    sub = os.path.join(d, f"part{i // 1000:02d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i:05d}.csv"), "wb") as f:
        f.write(os.urandom(size))
PY
curl -fsS -X PUT "$S3/bench-many" >/dev/null || true
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"name":"bench-many"}' "$GCS/storage/v1/b?project=b" >/dev/null 2>&1 || true
export AWS_EC2_METADATA_DISABLED=true UPDRAFT_DATABASE_URL="sqlite://$work/state.db"
export UPDRAFT_CONN_S3="aws://bench:bench@/?region_name=us-east-1&endpoint_url=$S3"
export UPDRAFT_CONN_GCS="google_cloud_platform://?endpoint_url=$GCS"

cat > "$work/task" <<SH
#!/usr/bin/env bash
UPDRAFT_VAR_BENCH_IN="\$2" UPDRAFT_VAR_BENCH_OUT="\$3" exec "$updraft" --dags-folder "$PWD/bench/dags" tasks test bench_data "\$1" 2024-11-01
SH
chmod +x "$work/task"
cat > "$work/boto.py" <<PY
import os, sys, boto3
from concurrent.futures import ThreadPoolExecutor
s3 = boto3.client("s3", endpoint_url="$S3", aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
src, prefix = sys.argv[1], sys.argv[2]
paths = [os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs]
def up(p): s3.upload_file(p, "bench-many", prefix + os.path.relpath(p, src))
with ThreadPoolExecutor(10) as ex: list(ex.map(up, paths))
PY
cat > "$work/boto_down.py" <<PY
import os, sys, boto3
from concurrent.futures import ThreadPoolExecutor
s3 = boto3.client("s3", endpoint_url="$S3", aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
prefix, dest = sys.argv[1], sys.argv[2]
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="bench-many", Prefix=prefix) for o in p.get("Contents", [])]
def down(k):
    path = os.path.join(dest, k[len(prefix):])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    s3.download_file("bench-many", k, path)
with ThreadPoolExecutor(10) as ex: list(ex.map(down, keys))
PY
cat > "$work/gcs_down.py" <<PY
import sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage import transfer_manager
c = storage.Client(project="b", credentials=AnonymousCredentials())
prefix, dest = sys.argv[1], sys.argv[2]
names = [b.name for b in c.list_blobs("bench-many", prefix=prefix)]
transfer_manager.download_many_to_path(c.bucket("bench-many"), [n[len(prefix):] for n in names], blob_name_prefix=prefix,
        destination_directory=dest, max_workers=8, worker_type=transfer_manager.THREAD, raise_exception=True)
PY
cat > "$work/gcs.py" <<PY
import os, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage import transfer_manager
c = storage.Client(project="b", credentials=AnonymousCredentials())
src, prefix = sys.argv[1], sys.argv[2]
names = [os.path.relpath(os.path.join(r, f), src) for r, _, fs in os.walk(src) for f in fs]
res = transfer_manager.upload_many_from_filenames(c.bucket("bench-many"), names, source_directory=src,
        blob_name_prefix=prefix, max_workers=8, worker_type=transfer_manager.THREAD, raise_exception=True)
PY

measure() { /usr/bin/time -f "%e %M" -o "$work/t" "$@" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }; cat "$work/t"; }
count() { # scheme prefix
  if [[ $1 == s3 ]]; then
    "$BOTO_PYTHON" -c "import boto3; s3=boto3.client('s3',endpoint_url='$S3',aws_access_key_id='b',aws_secret_access_key='b',region_name='us-east-1'); print(sum(p.get('KeyCount',0) for p in s3.get_paginator('list_objects_v2').paginate(Bucket='bench-many',Prefix='$2')))"
  else
    STORAGE_EMULATOR_HOST="$GCS" "$GCS_PYTHON" -c "from google.auth.credentials import AnonymousCredentials; from google.cloud import storage; c=storage.Client(project='b',credentials=AnonymousCredentials()); print(sum(1 for _ in c.list_blobs('bench-many',prefix='$2')))"
  fi
}
declare -A results
for i in $(seq 1 "$runs"); do
  results[updraft_s3]+="$(measure "$work/task" upload_s3 "$work/src" "s3://bench-many/u$i/")"$'\n'
  results[boto3_s3]+="$(measure "$BOTO_PYTHON" "$work/boto.py" "$work/src" "b$i/")"$'\n'
  results[updraft_gcs]+="$(measure "$work/task" upload_gcs "$work/src" "gs://bench-many/u$i/")"$'\n'
  results[python_gcs]+="$(measure env STORAGE_EMULATOR_HOST="$GCS" "$GCS_PYTHON" "$work/gcs.py" "$work/src" "p$i/")"$'\n'
  for p in "s3 u$i/" "s3 b$i/" "gs u$i/" "gs p$i/"; do
    set -- $p
    n=$(count "$1" "$2")
    [[ $n == "$files" ]] || { echo "$1 $2: $n objects, expected $files" >&2; exit 1; }
  done  # Back down, from what this run's own upload wrote.
  results[updraft_s3_down]+="$(measure "$work/task" download_s3 "s3://bench-many/u$i/" "$work/d/us$i")"$'\n'
  results[boto3_s3_down]+="$(measure "$BOTO_PYTHON" "$work/boto_down.py" "b$i/" "$work/d/bs$i")"$'\n'
  results[updraft_gcs_down]+="$(measure "$work/task" download_gcs "gs://bench-many/u$i/" "$work/d/ug$i")"$'\n'
  results[python_gcs_down]+="$(measure env STORAGE_EMULATOR_HOST="$GCS" "$GCS_PYTHON" "$work/gcs_down.py" "p$i/" "$work/d/pg$i")"$'\n'
  for d in us bs ug pg; do
    n=$(find "$work/d/$d$i" -type f | wc -l)
    [[ $n == "$files" ]] || { echo "download $d$i: $n files, expected $files" >&2; exit 1; }
  done
  rm -rf "$work/d"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "$files files of $bytes bytes, $runs runs each, medians; every upload and download counted"
printf '%-14s %10s %12s %14s\n' what seconds files/s "peak RSS MiB"
for k in updraft_s3 boto3_s3 updraft_gcs python_gcs updraft_s3_down boto3_s3_down updraft_gcs_down python_gcs_down; do
  s=$(printf '%s' "${results[$k]}" | awk 'NF{print $1}' | median)
  r=$(printf '%s' "${results[$k]}" | awk 'NF{print $2}' | median)
  printf '%-14s %10s %12.0f %14.1f\n' "$k" "$s" "$(echo "$files / $s" | bc -l)" "$(echo "$r / 1024" | bc -l)"
done
