#!/bin/sh
# Build the Debian base image every other minik8s image starts from, without a registry:
# debootstrap a minimal bookworm and `docker import` it. Idempotent: does nothing when the
# image exists (set MINIK8S_REBUILD=1 to force).
set -eu
IMAGE=${MINIK8S_BASE_IMAGE:-minik8s/debian-base:bookworm}
if [ -z "${MINIK8S_REBUILD:-}" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base image $IMAGE present"
    exit 0
fi
# The mirror apt already uses here, so that this works where only that mirror is reachable.
MIRROR=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
         | awk '{ if ($1 == "deb") print $2; else print $2 }' | grep -v security | head -n1)
MIRROR=${MINIK8S_DEBIAN_MIRROR:-${MIRROR:-http://deb.debian.org/debian}}
WORK=$(mktemp -d /tmp/minik8s-base.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "debootstrap bookworm from $MIRROR (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }
R="$WORK/rootfs"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    rm -f "$R/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/debian.sources "$R/etc/apt/sources.list.d/"
fi
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/*
: > "$R/etc/resolv.conf"
echo localhost > "$R/etc/hostname"
tar -C "$R" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "built $IMAGE"
