#!/usr/bin/env bash
# The compose file's one-shot `updraft-init` (in the Updraft image):
# schema, the user's connections and variables, the admin user, and the two
# databases of the invoice ETL (init/seed.yaml). Every step is safe to rerun.
set -euo pipefail

updraft db migrate
updraft connections import "${UPDRAFT_CONNECTIONS_FILE:-/config/connections.json}"
updraft variables import "${UPDRAFT_VARIABLES_FILE:-/config/variables.json}"
printf '%s\n' "${UPDRAFT_ADMIN_PASSWORD:?}" | updraft users create "${UPDRAFT_ADMIN_USER:-admin}"

# The source table: generated invoices in the Kaggle dataset's shape (the
# real file cannot be shipped; the same options give the same bytes, so a
# rerun loads the same rows again); the target table, created empty.
seed=$(mktemp -d)
trap 'rm -rf "$seed"' EXIT
updraft dev invoices --rows "${SEED_ROWS:-541909}" --encoding utf-8 --out "$seed/invoices.csv"
UPDRAFT_VAR_SEED_CSV="$seed/invoices.csv" updraft --dags-folder /init dags test seed 2024-11-01
echo "updraft-init: ready"
