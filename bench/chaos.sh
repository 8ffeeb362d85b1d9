#!/usr/bin/env bash
# The long chaos run: 100 kill -9 of schedulers and workers (two of each,
# separate processes on one Postgres) over 80 runs of 25 shell tasks
# (2,000 tasks). Prints the seed, kills survived, tasks lost (must be 0)
# and side effects run twice. The CI version is `cargo test --test chaos`;
# both use the debug build (the processes mostly wait on Postgres and sleep).
#
#   UPDRAFT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:54329/postgres bench/chaos.sh
#   (UPDRAFT_CHAOS_SEED=<seed> replays a run)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${UPDRAFT_TEST_POSTGRES_URL:?set it to an admin URL of a test Postgres (.ci/postgres.sh prints one)}"
export UPDRAFT_CHAOS_RUNS="${UPDRAFT_CHAOS_RUNS:-80}"
export UPDRAFT_CHAOS_KILLS="${UPDRAFT_CHAOS_KILLS:-100}"
export UPDRAFT_CHAOS_SETTLE_SECS="${UPDRAFT_CHAOS_SETTLE_SECS:-300}"
cargo test -q -p updraft-cli --locked --test chaos -- --nocapture kill_9 2>&1 | grep -E '^chaos:|panicked|test result'
