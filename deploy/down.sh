#!/usr/bin/env bash
# Stop the minik8s cluster. The cluster's state (etcd's named volume) is kept, so
# deploy/up.sh brings the same deployments back.
#
#   deploy/down.sh               # stop the services and remove the pods' containers
#   deploy/down.sh --keep-pods   # stop the services only; pod containers keep running
#   deploy/down.sh --purge       # also delete the cluster's state, its PKI (CA, certificates,
#                                # kubeconfigs) and the pods network (-v: the same, network kept)
# A cluster brought up with `up.sh --ha` is found by its etcd-1 container or volume (--ha
# says so explicitly): its overlay's volumes (the three etcd members') go with --purge too.
# A cluster brought up with `up.sh --real-nodes` is found by its node containers or their
# /var/lib volumes: the node containers go, and with --purge or -v their volumes (images and
# containerd's state) too; the host's pod CIDR guard goes once no real-nodes cluster is left.
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP_PODS= PURGE= VOLUMES= HA=
for a in "$@"; do
  case $a in
    --keep-pods) KEEP_PODS=1 ;;
    --purge) PURGE=1 ;;
    -v|--volumes) VOLUMES=1 ;;
    --ha) HA=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "down.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
DOCKER="$SUDO docker"
if ! $DOCKER info >/dev/null 2>&1; then
  echo "the docker daemon is not running: nothing to stop"
  exit 0
fi
COMPOSE="$DOCKER compose --project-directory $PWD -f $PWD/docker-compose.yml"
PROJECT=${COMPOSE_PROJECT_NAME:-minik8s}
if [ -n "$HA" ] || [ -n "$($DOCKER ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
                              --filter label=com.docker.compose.service=etcd-1)" ] \
   || $DOCKER volume inspect "${PROJECT}_etcd-1-data" >/dev/null 2>&1; then
  COMPOSE="$COMPOSE -f $PWD/deploy/compose/ha.yml"
fi
# real nodes: as many as there are node containers or node volumes of this project
NODES=$( { $DOCKER ps -a --filter "label=com.docker.compose.project=$PROJECT" \
             --format '{{.Label "com.docker.compose.service"}}' 2>/dev/null
           $DOCKER volume ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null \
             | sed -n "s/^${PROJECT}_\(node-[0-9]*\)-var$/\1/p"; } \
         | sed -n 's/^node-\([0-9]*\)$/\1/p' | sort -n | tail -n1)
if [ -n "$NODES" ]; then
  mkdir -p deploy/.build
  bash deploy/images/node/compose.sh "$NODES" > deploy/.build/real-nodes.yml
  COMPOSE="$COMPOSE -f $PWD/deploy/.build/real-nodes.yml"
fi
if [ -n "$PURGE" ] || [ -n "$VOLUMES" ]; then
  $COMPOSE down --remove-orphans --volumes
else
  $COMPOSE down --remove-orphans
fi
if [ -z "$KEEP_PODS" ]; then
  # The kubelets' containers carry their node's name; only those of this cluster's nodes go.
  for node in node-1 node-2; do
    ids=$($DOCKER ps -aq --filter "label=minik8s.node=$node" 2>/dev/null || true)
    [ -z "$ids" ] || $DOCKER rm -f $ids >/dev/null
  done
fi
if [ -n "$PURGE" ]; then
  $DOCKER network rm minik8s-pods >/dev/null 2>&1 || true
fi
if [ -n "$NODES" ] && [ -z "$($DOCKER ps -q --filter label=com.docker.compose.service=node-1 2>/dev/null)" ]; then
  # the host's pod CIDR guard (the host-guard step), once no real-nodes cluster runs here
  $DOCKER run --rm --network host --cap-add NET_ADMIN --cap-add NET_RAW minik8s/minik8s:latest \
    minik8s-netagent --host-guard --cleanup >/dev/null 2>&1 || true
fi
echo "minik8s is down"
