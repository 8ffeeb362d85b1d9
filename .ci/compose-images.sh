#!/usr/bin/env bash
# Builds, without any registry, the images the compose check and the
# end-to-end test run:
#   updraft-ci-debian:bookworm  a Debian 12 minbase made by debootstrap from
#                               Debian's mirror (what debian:bookworm-slim is)
#   updraft:ci                  Dockerfile's `prebuilt` target on that base,
#                               with target/release/updraft (build it first)
# Does nothing for an image that exists, or if no Docker engine answers (the
# tests that need them then say they were skipped, or fail under CI).
set -euo pipefail
cd "$(dirname "$0")/.."

base=updraft-ci-debian:bookworm
image=updraft:ci

if ! docker info >/dev/null 2>&1; then
  echo "compose-images: no Docker engine answers; not building $base, $image" >&2
  exit 0
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  command -v debootstrap >/dev/null || {
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends debootstrap >&2
  }
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
  # What debian:bookworm-slim leaves out: caches, documentation, manuals.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$base" >/dev/null
  echo "compose-images: built $base" >&2
fi

# Rebuilt every time: the binary changes with every commit.
mkdir -p target/image
strip -o target/image/updraft target/release/updraft
docker build -q --target prebuilt --build-arg "BASE_IMAGE=$base" -t "$image" . >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$image")
echo "compose-images: built $image ($((size / 1000000)) MB)" >&2
