#!/bin/sh
# Builds the pod sandbox image minik8s/pause:3.9 from pause.c, without any registry.
# Idempotent: does nothing when the image exists (FORCE=1 rebuilds).
set -eu
TAG="${PAUSE_IMAGE:-minik8s/pause:3.9}"
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "$TAG already present"
    exit 0
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"' EXIT
gcc -static -Os -o "$CTX/pause" "$HERE/pause.c"
strip "$CTX/pause"
printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$CTX/Dockerfile"
docker build --force-rm -q -t "$TAG" "$CTX"
echo "built $TAG"
