#!/usr/bin/env bash
# Brings compose/docker-compose.yml up as a user would (without the `local`
# profile), from images built here: updraft:ci (.ci/compose-images.sh) and,
# for the official postgres image no registry can give us, a Postgres 15
# image with the same contract (.ci/images/postgres). Checks that the init
# imports the example connections and variables and seeds both databases,
# that scheduler, worker and web turn healthy, that both pipelines' DAGs
# are loaded and that the UI answers; then removes everything.
# The `local` profile's stand-in image needs a Python base image; CI checks
# that profile's file (.ci/lint-stack.sh) but does not build it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  if [ -n "${CI:-}" ]; then echo "compose-check: CI needs a Docker engine" >&2; exit 1; fi
  echo "compose-check: SKIPPED, no Docker engine answers" >&2
  exit 0
fi
docker image inspect updraft:ci >/dev/null
pg_image=updraft-ci-postgres:15
docker image inspect "$pg_image" >/dev/null 2>&1 \
  || docker build -q -t "$pg_image" .ci/images/postgres >/dev/null

if command -v docker-compose >/dev/null; then compose=(docker-compose); else compose=(docker compose); fi
work=$(mktemp -d)
mkdir -p "$work/gcloud"
cat >"$work/env" <<ENV
UPDRAFT_IMAGE=updraft:ci
POSTGRES_IMAGE=$pg_image
UPDRAFT_DB_PASSWORD=ci-updraft-db
UPDRAFT_SECRET_KEY=ci-secret-key-0123456789abcdef0123456789
UPDRAFT_ADMIN_PASSWORD=ci-admin-password
SOURCE_DB_PASSWORD=change-me
TARGET_DB_PASSWORD=change-me
GCLOUD_CONFIG_DIR=$work/gcloud
SEED_ROWS=20000
UPDRAFT_WEB_PORT=18089
SOURCE_DB_PORT=15432
TARGET_DB_PORT=15433
DOCKER_GID=$(stat -c %g /var/run/docker.sock)
ENV
project=updraftci$$
dc() { "${compose[@]}" -p "$project" -f compose/docker-compose.yml --env-file "$work/env" "$@"; }
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then dc logs --no-color --tail 40 >&2 || true; fi
  dc down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

start=$SECONDS
dc up -d --no-build >&2
# updraft-init must finish with 0; the three services turn healthy.
for _ in $(seq 1 180); do
  init=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$(dc ps -q updraft-init)")
  [ "$init" = "exited 0" ] && break
  case "$init" in exited*) echo "compose-check: updraft-init failed ($init)" >&2; exit 1 ;; esac
  sleep 1
done
[ "$init" = "exited 0" ] || { echo "compose-check: updraft-init did not finish" >&2; exit 1; }
for svc in updraft-scheduler updraft-worker updraft-web; do
  for _ in $(seq 1 120); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$(dc ps -q "$svc")")
    [ "$health" = healthy ] && break
    sleep 1
  done
  [ "$health" = healthy ] || { echo "compose-check: $svc is $health" >&2; exit 1; }
done
dags=$(dc exec -T updraft-web updraft dags list)
grep -q ecomm_invoice_etl <<<"$dags" && grep -q ml_dynamic_segment <<<"$dags" \
  || { echo "compose-check: the pipelines are not loaded: $dags" >&2; exit 1; }
conns=$(dc exec -T updraft-web updraft connections list)
for c in postgres-source postgres-target google-cloud-default aws-default kaggle-api; do
  grep -q "^$c " <<<"$conns" || { echo "compose-check: connection $c missing" >&2; exit 1; }
done
rows=$(dc exec -T postgres-source psql -U postgres -d mydatabase -tAc 'SELECT count(*) FROM myschema.ecomm_invoice')
[ "$rows" = 20000 ] || { echo "compose-check: the source table has $rows rows" >&2; exit 1; }
dc exec -T postgres-target psql -U postgres -d targetdb -tAc 'SELECT count(*) FROM public.ecomm_invoice_transaction' | grep -qx 0
curl -fsS -o /dev/null --max-time 10 http://127.0.0.1:18089/login
echo "compose-check: compose up healthy in $((SECONDS - start)) s: init, scheduler, worker, web; DAGs, connections and seeded tables in place" >&2
