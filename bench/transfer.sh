#!/usr/bin/env bash
# Upload and download of one file through Updraft's location layer, side by
# side with boto3 (S3, against moto) and google-cloud-storage (GCS, against
# fake-gcs-server), in one run: wall time and peak RSS of each process.
#
#   bench/transfer.sh [SIZE_MIB]   (default 1024; RUNS=3, SERVICES="s3 gcs")
#
# Needs: the stand-ins (.ci/s3.sh, .ci/gcs.sh start them), boto3 (moto's
# venv has it) and google-cloud-storage in $GCS_PYTHON (a venv with
# `pip install google-cloud-storage`).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
runs="${RUNS:-3}"
S3=$(bash .ci/s3.sh)
GCS=$(bash .ci/gcs.sh)
BOTO_PYTHON="${BOTO_PYTHON:-/tmp/updraft-venv-moto-5.2.5/bin/python}"
GCS_PYTHON="${GCS_PYTHON:-/tmp/gcs-py/bin/python}"
cargo build --release -q -p updraft-io --example transfer
bin=target/release/examples/transfer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c "$((size_mib << 20))" /dev/urandom > "$work/src.bin"
curl -fsS -X PUT "$S3/bench" >/dev/null || true
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"name":"bench"}' "$GCS/storage/v1/b?project=b" >/dev/null 2>&1 || true
export UPDRAFT_BENCH_S3_URL=$S3 UPDRAFT_BENCH_GCS_URL=$GCS AWS_EC2_METADATA_DISABLED=true

cat > "$work/boto.py" <<PY
import sys, boto3
from boto3.s3.transfer import TransferConfig
s3 = boto3.client("s3", endpoint_url="$S3", aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
cfg = TransferConfig()  # boto3's defaults: 8 MiB parts, 10 threads
if sys.argv[1] == "up": s3.upload_file(sys.argv[2], "bench", "boto.bin", Config=cfg)
else: s3.download_file("bench", "boto.bin", sys.argv[2], Config=cfg)
PY
cat > "$work/gcs.py" <<PY
import sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
c = storage.Client(project="b", credentials=AnonymousCredentials())
blob = c.bucket("bench").blob("py.bin", chunk_size=8 * 1024 * 1024)
if sys.argv[1] == "up": blob.upload_from_filename(sys.argv[2])
else: blob.download_to_filename(sys.argv[2])
PY

# Prints "seconds max_rss_kib" of one command.
measure() { /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null && cat "$work/t"; }

services="${SERVICES:-s3 gcs}"
declare -A results
for i in $(seq 1 "$runs"); do
  if [[ " $services " == *" s3 "* ]]; then
  results[updraft_s3_up]+="$(measure $bin "$work/src.bin" s3://bench/updraft.bin)"$'\n'
  results[boto3_s3_up]+="$(measure "$BOTO_PYTHON" "$work/boto.py" up "$work/src.bin")"$'\n'
  results[updraft_s3_down]+="$(measure $bin s3://bench/updraft.bin "$work/down.bin")"$'\n'
  cmp -s "$work/src.bin" "$work/down.bin" || { echo "S3 round trip differs" >&2; exit 1; }
  results[boto3_s3_down]+="$(measure "$BOTO_PYTHON" "$work/boto.py" down "$work/down.bin")"$'\n'
  fi
  if [[ " $services " == *" gcs "* ]]; then
  results[updraft_gcs_up]+="$(measure $bin "$work/src.bin" gs://bench/updraft.bin)"$'\n'
  results[python_gcs_up]+="$(measure env STORAGE_EMULATOR_HOST="$GCS" "$GCS_PYTHON" "$work/gcs.py" up "$work/src.bin")"$'\n'
  results[updraft_gcs_down]+="$(measure $bin gs://bench/updraft.bin "$work/down.bin")"$'\n'
  cmp -s "$work/src.bin" "$work/down.bin" || { echo "GCS round trip differs" >&2; exit 1; }
  results[python_gcs_down]+="$(measure env STORAGE_EMULATOR_HOST="$GCS" "$GCS_PYTHON" "$work/gcs.py" down "$work/down.bin")"$'\n'
  fi
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "file: $size_mib MiB, $runs runs each, medians"
printf '%-18s %10s %10s %14s\n' what seconds MiB/s "peak RSS MiB"
for k in updraft_s3_up boto3_s3_up updraft_s3_down boto3_s3_down updraft_gcs_up python_gcs_up updraft_gcs_down python_gcs_down; do
  [ -n "${results[$k]:-}" ] || continue
  s=$(printf '%s' "${results[$k]}" | awk 'NF{print $1}' | median)
  r=$(printf '%s' "${results[$k]}" | awk 'NF{print $2}' | median)
  printf '%-18s %10s %10.0f %14.1f\n' "$k" "$s" "$(echo "$size_mib / $s" | bc -l)" "$(echo "$r / 1024" | bc -l)"
done
