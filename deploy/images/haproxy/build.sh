#!/bin/sh
# Builds minik8s/haproxy:2.6 from Debian's haproxy package on the minik8s base image, without
# any registry: the .debs of haproxy and of the libraries the base does not carry are fetched
# with `apt-get download` (the host's apt sources, nothing installed on the host) and unpacked
# into the build context. Idempotent: does nothing when the image exists and was built from
# this package list and Dockerfile (its io.minik8s.haproxy label; FORCE=1 rebuilds).
set -eu
TAG="${HAPROXY_IMAGE:-minik8s/haproxy:2.6}"
PACKAGES="haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1 libsystemd0 libcap2
libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libgcc-s1"
HERE="$(cd "$(dirname "$0")" && pwd)"
STAMP=$( { echo $PACKAGES; cat "$HERE/Dockerfile"; } | sha256sum | cut -c1-16)
LABEL=$(docker image inspect -f '{{index .Config.Labels "io.minik8s.haproxy"}}' "$TAG" 2>/dev/null || true)
if [ "${FORCE:-0}" != 1 ] && [ "$LABEL" = "$STAMP" ]; then
    echo "$TAG already present"
    exit 0
fi
CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"' EXIT
mkdir -p "$CTX/debs" "$CTX/root"
# apt's _apt user must be able to write where it downloads
chmod 0777 "$CTX/debs"
# shellcheck disable=SC2086
(cd "$CTX/debs" && apt-get download -q $PACKAGES >"$CTX/apt.log" 2>&1) \
    || { cat "$CTX/apt.log" >&2; echo "apt-get download failed (apt-get update first?)" >&2; exit 1; }
for deb in "$CTX"/debs/*.deb; do dpkg-deb -x "$deb" "$CTX/root"; done
rm -rf "$CTX/root/usr/share/doc" "$CTX/root/usr/share/man" "$CTX/root/etc/init.d" \
       "$CTX/root/lib/systemd" "$CTX/root/usr/lib/systemd"
mkdir -p "$CTX/root/usr/local/etc/haproxy" "$CTX/root/run/haproxy" "$CTX/root/var/lib/haproxy"
cp "$HERE/Dockerfile" "$CTX/Dockerfile"
docker build --force-rm -q --label "io.minik8s.haproxy=$STAMP" -t "$TAG" "$CTX" >/dev/null
echo "built $TAG"
