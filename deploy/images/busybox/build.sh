#!/bin/sh
# Builds minik8s/busybox:latest (also tagged busybox:latest so that pods can say
# `image: busybox`) from Debian's static busybox, without any registry.
# Idempotent: does nothing when both tags exist (FORCE=1 rebuilds).
set -eu
TAG="${BUSYBOX_IMAGE:-minik8s/busybox:latest}"
ALIAS="${BUSYBOX_ALIAS:-busybox:latest}"
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    docker image inspect "$ALIAS" >/dev/null 2>&1 || docker tag "$TAG" "$ALIAS"
    echo "$TAG already present"
    exit 0
fi
BB="${BUSYBOX_BIN:-/bin/busybox}"
if ! file -L "$BB" 2>/dev/null | grep -q 'statically linked' && ! ldd "$BB" 2>&1 | grep -q 'not a dynamic'; then
    echo "$BB is not a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"' EXIT
cp "$BB" "$CTX/busybox"
cp "$HERE/Dockerfile" "$CTX/Dockerfile"
docker build --force-rm -q -t "$TAG" "$CTX"
docker tag "$TAG" "$ALIAS"
echo "built $TAG and $ALIAS"
