#!/usr/bin/env bash
# Build the Debian base image every other minik8s image starts from, without a registry:
# mmdebstrap unpacks a bookworm holding every package those images need, streamed as a
# tarball straight into `docker import` (no apt-get in any Dockerfile).
#
#   python3, libstdc++6              the minik8s services (binary wheels such as grpcio need
#                                    libstdc++; the dependencies bring tzdata)
#   iptables, conntrack, nftables    minik8s-proxy programs the host's netfilter from here
#   ipset                            and the network policy agent (proxy/netpol) its ipsets
#   nginx                            the stand-in nginx:latest and the ingress controller
#   bash, coreutils, grep, sed, hostname, findutils, gzip, dash    the healthchecks, kubelets'
#                                    commands and `kubectl exec` into the stand-in nginx
#
# mmdebstrap's `extract` variant only unpacks those packages and their dependencies (once;
# debootstrap and the other variants unpack the Essential set twice and run every
# maintainer script, several times the CPU); the customize hooks below do what the
# maintainer scripts that matter here would have done. So the image has no dpkg database
# and no apt: an image that needs another Debian package adds it to PACKAGES. Manuals, docs
# and translations are left out.
# Idempotent: does nothing when the image exists and was built from this script's package
# list and hooks (their hash is the image's io.minik8s.base label); MINIK8S_REBUILD=1 forces.
set -euo pipefail
IMAGE=${MINIK8S_BASE_IMAGE:-minik8s/debian-base:bookworm}
SUITE=bookworm
PACKAGES=base-files,base-passwd,libc-bin,dash,bash,coreutils,grep,sed,hostname,findutils,gzip
PACKAGES=$PACKAGES,python3,libstdc++6,iptables,conntrack,nftables,nginx,ipset
# The hooks run on the host with the new root as $1, after the packages are unpacked.
HOOKS=(
  # base-passwd, base-files, libc-bin: users, profiles, nsswitch.conf, the loader's cache
  'cp "$1/usr/share/base-passwd/passwd.master" "$1/etc/passwd"'
  'cp "$1/usr/share/base-passwd/group.master" "$1/etc/group"'
  'cp "$1/usr/share/libc-bin/nsswitch.conf" "$1/etc/nsswitch.conf"'
  'cp "$1/usr/share/base-files/profile" "$1/etc/profile"'
  'mkdir -p "$1/root" && cp "$1/usr/share/base-files/dot.profile" "$1/root/.profile" && cp "$1/usr/share/base-files/dot.bashrc" "$1/root/.bashrc"'
  'mkdir -p -m 1777 "$1/run/lock" && mkdir -p "$1/opt" "$1/srv" "$1/mnt" "$1/media"'
  'ldconfig -r "$1"'
  # update-alternatives: iptables is the nf_tables backend, as the host's
  'for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do ln -sf xtables-nft-multi "$1/usr/sbin/$t"; done'
  # nginx-common: the default site and its page, logs to the container's stdout/stderr
  'ln -sf /etc/nginx/sites-available/default "$1/etc/nginx/sites-enabled/default"'
  'mkdir -p "$1/var/www/html" && cp "$1/usr/share/nginx/html/index.html" "$1/var/www/html/index.nginx-debian.html"'
  'ln -sf /dev/stdout "$1/var/log/nginx/access.log" && ln -sf /dev/stderr "$1/var/log/nginx/error.log"'
  # not the build host's name and resolver
  ': > "$1/etc/resolv.conf"; echo localhost > "$1/etc/hostname"'
)
STAMP=$(printf '%s\n' "$SUITE" "$PACKAGES" "${HOOKS[@]}" | sha256sum | cut -c1-16)
LABEL=$(docker image inspect -f '{{index .Config.Labels "io.minik8s.base"}}' "$IMAGE" 2>/dev/null || true)
if [ -z "${MINIK8S_REBUILD:-}" ] && [ "$LABEL" = "$STAMP" ]; then
    echo "base image $IMAGE present"
    exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
# The mirror apt already uses here, so that this works where only that mirror is reachable.
MIRROR=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
         | awk '{ print $2 }' | grep -v security | head -n1 || true)
MIRROR=${MINIK8S_DEBIAN_MIRROR:-${MIRROR:-http://deb.debian.org/debian}}
LOG=$(mktemp /tmp/minik8s-base.XXXXXX)
trap 'rm -f "$LOG"' EXIT
args=()
for h in "${HOOKS[@]}"; do args+=(--extract-hook="$h"); done
echo "mmdebstrap $SUITE from $MIRROR"
if ! { mmdebstrap --quiet --mode=root --variant=extract --include="$PACKAGES" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --aptopt='Acquire::Languages "none"' "${args[@]}" \
        "$SUITE" - "$MIRROR" 2>"$LOG" \
      | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change "LABEL io.minik8s.base=$STAMP" \
        --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null; }; then
    tail -n 30 "$LOG" >&2
    docker image rm -f "$IMAGE" >/dev/null 2>&1 || true  # what a broken stream imported
    exit 1
fi
echo "built $IMAGE"
