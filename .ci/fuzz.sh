#!/usr/bin/env bash
# Fuzzes what users write by hand: the YAML DAG loader, cron expressions and
# durations (fuzz/, cargo-fuzz and libFuzzer), each for a bounded time:
# FUZZ_SECONDS (60 by default) per target; FUZZ_SEED fixes libFuzzer's
# seed (random by default). The seed corpus in fuzz/corpus/<target> is
# read, not grown (new inputs go to a temporary folder). A crash, a timeout (10 s on one input) or 2 GiB of memory fails
# the script and leaves the input in fuzz/artifacts/<target>/; fix it and add
# a regression test named after it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
version=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qF "$version"; then
  cargo install cargo-fuzz --version "$version" --locked
fi
# cargo-fuzz passes nightly flags (-Zsanitizer=address and others); a stable
# toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
# The fuzz crate is its own workspace; its lock file must be current.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
targets=(yaml_dag cron duration)
cargo fuzz build --fuzz-dir fuzz
for target in "${targets[@]}"; do
  mkdir -p "$work/$target"
  echo "fuzz: $target for ${seconds}s"
  cargo fuzz run --fuzz-dir fuzz "$target" "$work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    ${FUZZ_SEED:+-seed="$FUZZ_SEED"}
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
