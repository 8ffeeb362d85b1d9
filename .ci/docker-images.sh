#!/usr/bin/env bash
# Builds the images the Docker operator's tests run, without any registry:
# a root filesystem holding Debian's static busybox, imported as
# updraft-test-busybox:latest. Does nothing if the image exists, or if no
# Docker engine answers (the tests then say they were skipped, or fail on CI).
set -euo pipefail

image=updraft-test-busybox:latest

if ! docker info >/dev/null 2>&1; then
  echo "docker-images: no Docker engine answers; not building $image" >&2
  exit 0
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  apt-get download busybox-static >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get download busybox-static >/dev/null
  }
  dpkg-deb -x busybox-static_*.deb pkg
)
root="$work/root"
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/work"
cp "$work/pkg/bin/busybox" "$root/bin/busybox"
for applet in sh echo cat sleep ls env pwd id printf test true false mkdir rm touch wc head tail date grep sed kill seq; do
  ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$image" >/dev/null
echo "docker-images: built $image"
