#!/usr/bin/env bash
# What `deploy/up.sh --real-nodes --nodes N` needs before `docker compose up`, after the
# minik8s image is built: the node image (build.sh), the archive of the images the nodes'
# containerd imports at start (deploy/.build/node/images/*.tar: `docker save` of the pause,
# busybox, nginx and minik8s images), and the compose overlay for N nodes (deploy/.build/real-nodes.yml, compose.sh).
#
#   deploy/images/node/prepare.sh N [DOCKER...]
set -euo pipefail
cd "$(dirname "$0")/../../.."
N=${1:?usage: prepare.sh N [DOCKER...]}; shift
DOCKER=("${@:-docker}")
bash deploy/images/node/build.sh "${DOCKER[@]}"
# One archive per image, each written again only when its image's ID changed: a node imports
# an archive once per its volume, so a code change re-imports the minik8s image alone.
OUT=deploy/.build/node/images
mkdir -p "$OUT"
for image in minik8s/pause:3.9 minik8s/busybox:latest nginx:latest minik8s/minik8s:latest; do
  name=${image//\//_}; name=${name//:/_}
  id=$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$image")
  [ -f "$OUT/$name.tar" ] && [ "$(cat "$OUT/.$name.id" 2>/dev/null)" = "$id" ] && continue
  "${DOCKER[@]}" save -o "$OUT/.$name.tar" "$image"
  chmod 644 "$OUT/.$name.tar"
  mv -f "$OUT/.$name.tar" "$OUT/$name.tar"
  echo "$id" > "$OUT/.$name.id"
  echo "saved $image for the nodes"
done
rm -f "$OUT/images.tar" "$OUT/.ids"
bash deploy/images/node/compose.sh "$N" > deploy/.build/.real-nodes.yml
mv -f deploy/.build/.real-nodes.yml deploy/.build/real-nodes.yml
echo "overlay for $N real nodes: deploy/.build/real-nodes.yml"
