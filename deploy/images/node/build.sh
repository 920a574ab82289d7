#!/usr/bin/env bash
# Build the node image (minik8s/node:latest) for `deploy/up.sh --real-nodes`, without a
# registry: a node is a container, as kind makes them, holding its own containerd (CRI), runc,
# the standard CNI plugins (/usr/lib/cni), iproute2, and the minik8s services a node runs (the
# kubelet, minik8s-proxy, minik8s-netagent, from the minik8s image's /venv).
#
# The Debian base has no apt (deploy/images/base/build.sh): the host's apt downloads the .deb
# files of the node's packages and of those of their dependencies that the base lacks into the
# build context (deploy/.build/node/debs, kept: a later build downloads nothing), and the
# Dockerfile unpacks them with dpkg-deb. Idempotent: the image is rebuilt only when the
# packages, this directory or the minik8s image changed (its io.minik8s.node label).
#
#   deploy/images/node/build.sh [DOCKER...]     # e.g. `sudo docker`
set -euo pipefail
cd "$(dirname "$0")/../../.."
DOCKER=("${@:-docker}")
IMAGE=${MINIK8S_NODE_IMAGE:-minik8s/node:latest}
MINIK8S_IMAGE=${MINIK8S_IMAGE:-minik8s/minik8s:latest}
CTX=deploy/.build/node
# containerd + runc (the runtime), the CNI plugins (bridge, host-local, loopback, portmap),
# iproute2 (routes, netns), mount/util-linux (the entrypoint's remounts, nsenter), procps (ps)
PACKAGES=(containerd runc containernetworking-plugins iproute2 mount util-linux procps)
# what apt lists as dependencies but a container needs none of (or the base's libsystemd0
# alternative already covers)
SKIP='^(usrmerge|usr-is-merged|init-system-helpers|libelogind0|perl.*|lib.*-perl)$'
# the base image's packages (deploy/images/base/build.sh PACKAGES)
BASE=(base-files base-passwd libc-bin dash bash coreutils grep sed hostname findutils gzip
      python3 libstdc++6 iptables conntrack nftables nginx ipset)
closure() {
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" 2>/dev/null | grep -E '^[a-z0-9]' | sort -u
}
mkdir -p "$CTX/debs"
WANT=$(comm -13 <(closure "${BASE[@]}") <(closure "${PACKAGES[@]}") | grep -vE "$SKIP" || true)
# iproute2 and the libraries of its that the base lacks (the base's closure names iproute2
# through an alternative that its install set did not take)
WANT=$(printf '%s\n' $WANT iproute2 libmnl0 libbpf1 libcap2 libtirpc3 libtirpc-common libbsd0 libmd0 | sort -u)
have() { compgen -G "$CTX/debs/$1_*.deb" >/dev/null; }
missing=()
for p in $WANT; do have "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  (cd "$CTX/debs" && apt-get download "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' | tail -n 2)
fi
for p in $WANT; do have "$p" || { echo "could not download $p" >&2; exit 1; }; done
# only the wanted packages' files are in the context (an older list's leftovers go)
for f in "$CTX"/debs/*.deb; do
  p=$(basename "$f"); p=${p%%_*}
  grep -qx "$p" <<<"$WANT" || rm -f "$f"
done
cp deploy/images/node/Dockerfile deploy/images/node/entrypoint.sh deploy/images/node/dns-relay.py "$CTX/"
STAMP=$( { ls "$CTX/debs"; cat "$CTX/Dockerfile" "$CTX/entrypoint.sh" "$CTX/dns-relay.py"
           "${DOCKER[@]}" image inspect -f '{{.Id}}' "$MINIK8S_IMAGE" minik8s/debian-base:bookworm; } \
         | sha256sum | cut -c1-16)
LABEL=$("${DOCKER[@]}" image inspect -f '{{index .Config.Labels "io.minik8s.node"}}' "$IMAGE" 2>/dev/null || true)
if [ -z "${MINIK8S_REBUILD:-}" ] && [ "$LABEL" = "$STAMP" ]; then
  echo "node image $IMAGE up to date"
  exit 0
fi
"${DOCKER[@]}" build --force-rm -q --label "io.minik8s.node=$STAMP" \
  --build-arg "MINIK8S_IMAGE=$MINIK8S_IMAGE" -t "$IMAGE" "$CTX" >/dev/null
echo "built $IMAGE"
