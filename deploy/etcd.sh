#!/usr/bin/env bash
# etcd operations with etcd's own etcdctl (Debian's etcd-client; v3 API): status, snapshot,
# defragmentation and the restore procedure that brings the whole cluster back.
#
#   deploy/etcd.sh status                 every member: version, db size (in use), leader,
#                                         raft index; then their health
#   deploy/etcd.sh save FILE              a snapshot of the keyspace (from one healthy member)
#   deploy/etcd.sh defrag                 defragment every member, ONE AT A TIME, followers
#                                         first, the leader last, each member healthy again
#                                         before the next; db sizes before and after
#   deploy/etcd.sh restore FILE           the compose cluster (default or --ha profile) back to
#                                         FILE, as Kubernetes documents it: stop the API
#                                         servers and every other component, restore each
#                                         member from the snapshot into a new data directory
#                                         (the old one kept as member.before-restore), start
#                                         the members, then the API servers and the rest, which
#                                         list everything again
#
# Where etcd is: the compose cluster of this checkout by default (project
# $COMPOSE_PROJECT_NAME, else minik8s; its members are only on the cluster's `control`
# network, so etcdctl runs in a throwaway container there, the host's binary mounted), or
# any cluster reachable from here with --endpoints URL[,URL...] (status, save, defrag) and,
# for one member of such a cluster, restore-member:
#
#   deploy/etcd.sh --endpoints http://127.0.0.1:2379 save /tmp/snap.db
#   deploy/etcd.sh restore-member FILE --name N --data-dir DIR --initial-cluster N=URL,...
#                  --initial-advertise-peer-urls URL [--initial-cluster-token T]
#
# Defragmentation is an operator's task here, as in Kubernetes (the API servers only compact):
# a defrag rewrites the member's whole database and blocks its reads and writes meanwhile,
# so it runs one member at a time (the others keep quorum and serve), when a member's db
# has much free space (status: size vs in use), e.g. from cron after the compactions.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENDPOINTS=
die() { printf 'etcd.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --endpoints) [ $# -ge 2 ] || die "--endpoints needs a value"; ENDPOINTS=$2; shift 2 ;;
    --endpoints=*) ENDPOINTS=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { usage >&2; exit 2; }
CMD=$1; shift
ETCDCTL_BIN=$(command -v etcdctl || true)
[ -n "$ETCDCTL_BIN" ] || die "etcdctl is missing (apt-get install etcd-client)"
export ETCDCTL_API=3

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
PROJECT=${COMPOSE_PROJECT_NAME:-minik8s}
HA=
MEMBERS=()
compose_setup() {
  DOCKER="$SUDO docker"
  COMPOSE="$DOCKER compose --project-directory $ROOT -f $ROOT/docker-compose.yml"
  if [ -n "$($DOCKER ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
               --filter label=com.docker.compose.service=etcd-1)" ] \
     || $DOCKER volume inspect "${PROJECT}_etcd-1-data" >/dev/null 2>&1; then
    HA=1
    COMPOSE="$COMPOSE -f $ROOT/deploy/compose/ha.yml"
    MEMBERS=(etcd-1 etcd-2 etcd-3)
  else
    MEMBERS=(etcd)
  fi
  local m urls=()
  for m in "${MEMBERS[@]}"; do urls+=("http://$m:2379"); done
  ENDPOINTS=$(IFS=,; echo "${urls[*]}")
}
# etcdctl [--backup DIR] ARGS...: on the host, or in a container on the cluster's network
etcdctl_run() {
  local backup=
  if [ "${1:-}" = --backup ]; then backup=$2; shift 2; fi
  # (--backup DIR: where the snapshot goes, mounted at /backup in the container)
  if [ -z "$COMPOSE_MODE" ]; then
    "$ETCDCTL_BIN" --dial-timeout 3s --command-timeout 30s "$@"
  else
    local mounts=(-v "$ETCDCTL_BIN:/usr/local/bin/etcdctl:ro")
    [ -z "$backup" ] || mounts+=(-v "$backup:/backup")
    $DOCKER run --rm -i --network "${PROJECT}_control" -e ETCDCTL_API=3 "${mounts[@]}" \
      --entrypoint /usr/local/bin/etcdctl minik8s/etcd:3.4 \
      --dial-timeout 3s --command-timeout 30s "$@"
  fi
}
COMPOSE_MODE=
if [ -z "$ENDPOINTS" ] && [ "$CMD" != restore-member ]; then
  COMPOSE_MODE=1
  compose_setup
fi
IFS=, read -r -a EPS <<< "$ENDPOINTS"

# one line per member: endpoint, member id, leader id, db size, db size in use (JSON)
member_status() {
  etcdctl_run --endpoints "$1" endpoint status -w json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    st = s["Status"]
    print(s["Endpoint"], st["header"]["member_id"], st["leader"], st["dbSize"],
          st.get("dbSizeInUse", st["dbSize"]))'
}
wait_healthy() {
  local ep=$1 i
  for i in $(seq 1 30); do
    etcdctl_run --endpoints "$ep" endpoint health >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "$ep is not healthy 30 s after its defragmentation"
}

case $CMD in
  status)
    etcdctl_run --endpoints "$ENDPOINTS" endpoint status -w table
    etcdctl_run --endpoints "$ENDPOINTS" endpoint health
    ;;
  save)
    [ $# -eq 1 ] || die "usage: etcd.sh save FILE"
    FILE=$1
    DIR=$(cd "$(dirname "$FILE")" && pwd) || die "no directory for $FILE"
    BASE=$(basename "$FILE")
    # from the first healthy member (etcdctl wants exactly one endpoint)
    SRC=
    for ep in "${EPS[@]}"; do
      if etcdctl_run --endpoints "$ep" endpoint health >/dev/null 2>&1; then SRC=$ep; break; fi
    done
    [ -n "$SRC" ] || die "no healthy member among $ENDPOINTS"
    OUT=$DIR/$BASE
    [ -z "$COMPOSE_MODE" ] || OUT=/backup/$BASE
    LOG=$(mktemp)
    etcdctl_run --backup "$DIR" --endpoints "$SRC" snapshot save "$OUT" >"$LOG" 2>&1 \
      || { cat "$LOG" >&2; rm -f "$LOG"; die "snapshot save from $SRC failed"; }
    rm -f "$LOG"
    echo "snapshot of $SRC saved to $DIR/$BASE"
    "$ETCDCTL_BIN" snapshot status "$DIR/$BASE" -w table
    ;;
  defrag)
    [ $# -eq 0 ] || die "usage: etcd.sh defrag"
    declare -A SIZE=() INUSE=() ID=()
    LEADER=
    for ep in "${EPS[@]}"; do
      read -r e id leader size inuse < <(member_status "$ep") \
        || die "cannot read the status of $ep (every member must be up to defragment)"
      ID[$ep]=$id SIZE[$ep]=$size INUSE[$ep]=$inuse
      LEADER=$leader
    done
    ORDER=()
    for ep in "${EPS[@]}"; do [ "${ID[$ep]}" = "$LEADER" ] || ORDER+=("$ep"); done
    for ep in "${EPS[@]}"; do [ "${ID[$ep]}" != "$LEADER" ] || ORDER+=("$ep"); done
    for ep in "${ORDER[@]}"; do
      etcdctl_run --endpoints "$ep" defrag >/dev/null || die "defragmenting $ep failed"
      wait_healthy "$ep"
      read -r _ _ _ after _ < <(member_status "$ep")
      role=follower; [ "${ID[$ep]}" != "$LEADER" ] || role=leader
      echo "defragmented $ep ($role): db ${SIZE[$ep]} -> $after bytes (in use before: ${INUSE[$ep]})"
    done
    ;;
  restore-member)
    [ $# -ge 1 ] || die "usage: etcd.sh restore-member FILE --name N --data-dir DIR ..."
    FILE=$1; shift
    [ -f "$FILE" ] || die "no snapshot at $FILE"
    "$ETCDCTL_BIN" snapshot status "$FILE" >/dev/null || die "$FILE is not a valid snapshot"
    "$ETCDCTL_BIN" snapshot restore "$FILE" "$@"
    ;;
  restore)
    [ -n "$COMPOSE_MODE" ] || die "restore works on the compose cluster; for one member of another cluster: restore-member"
    [ $# -eq 1 ] || die "usage: etcd.sh restore FILE"
    FILE=$1
    [ -f "$FILE" ] || die "no snapshot at $FILE"
    "$ETCDCTL_BIN" snapshot status "$FILE" -w table || die "$FILE is not a valid snapshot"
    DIR=$(cd "$(dirname "$FILE")" && pwd)
    BASE=$(basename "$FILE")
    if [ -n "$HA" ]; then
      CLUSTER=etcd-1=http://etcd-1:2380,etcd-2=http://etcd-2:2380,etcd-3=http://etcd-3:2380
      TOKEN=minik8s-ha
    else
      CLUSTER=etcd=http://localhost:2380
      TOKEN=etcd-cluster
    fi
    echo "stopping every component of $PROJECT (the API servers first)"
    APISERVERS=(apiserver); [ -z "$HA" ] || APISERVERS=(apiserver-1 apiserver-2)
    $COMPOSE stop "${APISERVERS[@]}" >/dev/null 2>&1
    $COMPOSE stop -t 5 >/dev/null 2>&1
    for m in "${MEMBERS[@]}"; do
      vol=${PROJECT}_${m}-data
      [ "$m" != etcd ] || vol=${PROJECT}_etcd-data
      peer=http://$m:2380; [ -n "$HA" ] || peer=http://localhost:2380
      echo "restoring $m (volume $vol)"
      $DOCKER run --rm -v "$vol:/var/lib/etcd" -v "$DIR:/backup:ro" \
        -v "$ETCDCTL_BIN:/usr/local/bin/etcdctl:ro" -e ETCDCTL_API=3 \
        --entrypoint bash minik8s/etcd:3.4 -c "set -e
          rm -rf /var/lib/etcd/restore /var/lib/etcd/member.before-restore
          etcdctl snapshot restore /backup/$BASE --name $m --data-dir /var/lib/etcd/restore \
            --initial-cluster $CLUSTER --initial-cluster-token $TOKEN \
            --initial-advertise-peer-urls $peer >/dev/null
          [ ! -d /var/lib/etcd/member ] || mv /var/lib/etcd/member /var/lib/etcd/member.before-restore
          mv /var/lib/etcd/restore/member /var/lib/etcd/member && rmdir /var/lib/etcd/restore"
    done
    echo "starting the members, then the API servers and the rest"
    # `start`, not `up`: the same containers as before, whatever this shell's environment
    $COMPOSE start "${MEMBERS[@]}" >/dev/null 2>&1 || die "the restored members did not start ($COMPOSE ps -a)"
    for m in "${MEMBERS[@]}"; do
      for _ in $(seq 1 60); do
        [ "$($DOCKER inspect -f '{{.State.Health.Status}}' "$($COMPOSE ps -q "$m")" 2>/dev/null)" = healthy ] && break
        sleep 1
      done
    done
    $COMPOSE start >/dev/null 2>&1 || die "compose start failed after the restore"
    echo "restored $PROJECT from $FILE"
    ;;
  *)
    die "unknown command $CMD (status, save, defrag, restore, restore-member; --help)"
    ;;
esac
