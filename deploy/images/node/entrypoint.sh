#!/usr/bin/env bash
# A minik8s node's entrypoint (PID 1's child, under docker's --init): what systemd does on a
# kind node. Before containerd: make /sys and the cgroup v1 controllers writable (a
# non-privileged container sees them read-only; ENVIRONMENT: `--privileged` cannot start on
# every Docker host, so the node runs with explicit capabilities instead), write containerd's
# config (CRI plugin, cgroupfs, overlayfs, the sandbox image minik8s/pause:3.9, CNI from
# /usr/lib/cni and /etc/cni/net.d); start containerd; import the image archives handed in
# under /images (`docker save` output; each archive once per node volume); then start the
# node's services, each supervised (restarted with a back-off when it exits):
#   dns        the DNS relay from the node's address to Docker's resolver (dns-relay.py)
#   netagent   minik8s-netagent: the CNI config from the Node's podCIDR, routes to the peers,
#              the pod CIDR leak guard
#   kubelet    minik8s-kubelet --runtime cri over containerd's socket
#   proxy      minik8s-proxy for this node alone (--node-name)
# SIGTERM/SIGINT (docker stop) stop the services, then containerd, and exit 0.
#
# Environment (deploy/up.sh --real-nodes sets them):
#   MINIK8S_NODE_NAME       the node's name (default: the hostname)
#   MINIK8S_CLUSTER_CIDR    the pod network (10.244.0.0/16)
#   MINIK8S_CLUSTER_DNS     the kube-dns Service address given to pods (10.96.0.10)
#   MINIK8S_NODE_SERVICES   which of "dns netagent kubelet proxy" to start (default: all)
#   MINIK8S_KUBELET_ARGS, MINIK8S_PROXY_ARGS, MINIK8S_NETAGENT_ARGS   extra flags
# Files: /etc/kubernetes (the node's PKI share: kubelet-NODE.conf, pki/ca.crt, pki/NODE.*),
# /etc/minik8s-proxy/proxy.conf (the proxy's), /images/*.tar, /var/lib on a volume of its own.
set -uo pipefail
NODE=${MINIK8S_NODE_NAME:-$(hostname)}
CLUSTER_CIDR=${MINIK8S_CLUSTER_CIDR:-10.244.0.0/16}
CLUSTER_DNS=${MINIK8S_CLUSTER_DNS:-10.96.0.10}
SERVICES=${MINIK8S_NODE_SERVICES-dns netagent kubelet proxy}
SOCK=/run/containerd/containerd.sock
log() { printf '%s minik8s-node[%s]: %s\n' "$(date -u +%H:%M:%S.%3N)" "$NODE" "$*"; }

# --- remounts (ENVIRONMENT section 11) ---------------------------------------------------
mount -o remount,rw /sys || log "warning: cannot remount /sys read-write"
for d in /sys/fs/cgroup/*; do
  [ -d "$d" ] && [ ! -L "$d" ] && mountpoint -q "$d" || continue
  mount -o remount,bind,rw "$d" 2>/dev/null || log "warning: cannot remount $d read-write"
done
# volumes with mount propagation, as on a kind node
mount --make-rshared / 2>/dev/null || true

# --- containerd --------------------------------------------------------------------------
mkdir -p /etc/containerd /etc/cni/net.d /run/containerd /var/lib/containerd /var/log/pods
cat > /etc/containerd/config.toml <<TOML
version = 2
root = "/var/lib/containerd"
[debug]
  level = "warn"
state = "/run/containerd"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/minik8s/pause:3.9"
  # no CAP_SYS_RESOURCE in the node: the pause container's oom_score_adj -998 cannot be set
  restrict_oom_score_adj = true
  # exec/attach/port-forward streams: the kubelet beside it connects locally
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
TOML
# No registry: an image that was not imported fails to pull at once, locally, instead of
# containerd asking docker.io.
mkdir -p /etc/containerd/certs.d/docker.io
cat > /etc/containerd/certs.d/docker.io/hosts.toml <<TOML
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
TOML

STOPPING=
declare -A PID=()
containerd_start() {
  containerd --config /etc/containerd/config.toml > >(sed -u 's/^/containerd: /') 2>&1 &
  PID[containerd]=$!
  for _ in $(seq 1 200); do
    [ -S "$SOCK" ] && ctr --address "$SOCK" version >/dev/null 2>&1 && return 0
    kill -0 "${PID[containerd]}" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}
containerd_start || { log "containerd did not start"; exit 1; }
log "containerd up ($(ctr --address "$SOCK" version 2>/dev/null | sed -n 's/^ *Version: *//p' | tail -n1))"

# --- images --------------------------------------------------------------------------------
# Each archive once per node volume (its size and modification time are the stamp). The
# minik8s image's archive (only the add-ons' pods run it; the largest, and new after every code
# change) is imported in the background while the services start: a pod that needs it before
# then backs off and retries, as after a failed pull.
mkdir -p /var/lib/containerd/minik8s-imported
import_images() {
  local tar stamp t0 ms
  for tar in "$@"; do
    [ -f "$tar" ] || continue
    stamp=/var/lib/containerd/minik8s-imported/$(basename "$tar").$(stat -c '%s.%Y' "$tar")
    [ -e "$stamp" ] && continue
    t0=${EPOCHREALTIME/./}
    if ctr --address "$SOCK" -n k8s.io images import "$tar" >/dev/null; then
      rm -f /var/lib/containerd/minik8s-imported/"$(basename "$tar")".*
      : > "$stamp"
      ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
      log "imported $tar in $((ms / 1000)).$((ms % 1000 / 100)) s"
    else
      log "warning: importing $tar failed"
    fi
  done
}
LATER=() NOW=()
for tar in /images/*.tar; do
  case $(basename "$tar") in minik8s_minik8s_*) LATER+=("$tar") ;; *) NOW+=("$tar") ;; esac
done
import_images "${NOW[@]}"

# --- the node's services -------------------------------------------------------------------
read -r _ _ _ NODE_IP _ < <(ip -4 -o addr show dev eth0 2>/dev/null)
NODE_IP=${NODE_IP%%/*}
[ -n "$NODE_IP" ] || NODE_IP=$(hostname -i | cut -d' ' -f1)
# Pods reach the node's resolver (Docker's embedded DNS, 127.0.0.11 in this namespace only)
# through the relay on the node's address. The node's own resolv.conf names the relay too: the
# runtime gives it to dnsPolicy Default pods (and cluster DNS takes its upstreams from it), and
# the node's services resolve through the relay as well.
if ! grep -q "^nameserver $NODE_IP\$" /etc/resolv.conf; then
  { echo "nameserver $NODE_IP"; grep -E '^(search|options)' /etc/resolv.conf; } > /tmp/resolv.conf
  cat /tmp/resolv.conf > /etc/resolv.conf && rm -f /tmp/resolv.conf
fi
cmd_dns=(/usr/bin/python3 /usr/local/bin/minik8s-node-dns "$NODE_IP")
# shellcheck disable=SC2206
cmd_netagent=(minik8s-netagent --kubeconfig /etc/minik8s-proxy/proxy.conf --node-name "$NODE"
              --cluster-cidr "$CLUSTER_CIDR" --cni-conf-dir /etc/cni/net.d
              --healthz-bind-address 127.0.0.1:10266 ${MINIK8S_NETAGENT_ARGS:-})
# shellcheck disable=SC2206
cmd_kubelet=(minik8s-kubelet --kubeconfig "/etc/kubernetes/kubelet-$NODE.conf" --node-name "$NODE"
             --runtime cri --container-runtime-endpoint "unix://$SOCK"
             --port 10250 --node-ip "$NODE_IP"
             --cluster-dns "$CLUSTER_DNS" --cluster-domain cluster.local
             --tls-cert-file "/etc/kubernetes/pki/$NODE.crt" --tls-private-key-file "/etc/kubernetes/pki/$NODE.key"
             --client-ca-file /etc/kubernetes/pki/ca.crt --anonymous-auth=false
             --authentication-token-webhook --authorization-mode Webhook --healthz-port 10248
             ${MINIK8S_KUBELET_ARGS:-})
# shellcheck disable=SC2206
cmd_proxy=(minik8s-proxy --kubeconfig /etc/minik8s-proxy/proxy.conf --node-name "$NODE"
           --healthz-bind-address 127.0.0.1:10256 ${MINIK8S_PROXY_ARGS:-})

# supervise NAME CMD...: runs CMD, restarts it when it exits (back-off 1, 2, 4, 8, 10 s; back
# to 1 s after a minute up); TERM stops it (TERM, then KILL after 10 s) and ends the loop.
supervise() {
  local name=$1; shift
  (
    child= backoff=1
    stop() {
      [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
      for _ in $(seq 1 100); do kill -0 "$child" 2>/dev/null || exit 0; sleep 0.1; done
      kill -KILL "$child" 2>/dev/null; exit 0
    }
    trap stop TERM INT
    while :; do
      started=$SECONDS
      "$@" > >(sed -u "s/^/$name: /") 2>&1 &
      child=$!
      wait "$child"; rc=$?
      # a trapped signal interrupts wait with rc > 128 while the child still runs
      while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
      [ $((SECONDS - started)) -ge 60 ] && backoff=1
      log "$name exited ($rc); restarting in ${backoff} s"
      sleep "$backoff" & wait $!
      backoff=$((backoff >= 8 ? 10 : backoff * 2))
    done
  ) &
  PID[$name]=$!
}

shutdown() {
  STOPPING=1
  log "stopping"
  local name
  for name in proxy kubelet netagent dns; do
    [ -n "${PID[$name]:-}" ] && kill -TERM "${PID[$name]}" 2>/dev/null
  done
  for name in proxy kubelet netagent dns; do
    [ -n "${PID[$name]:-}" ] && wait "${PID[$name]}" 2>/dev/null
  done
  kill -TERM "${PID[containerd]}" 2>/dev/null
  wait "${PID[containerd]}" 2>/dev/null
  log "stopped"
  exit 0
}
trap shutdown TERM INT

for name in dns netagent kubelet proxy; do
  case " $SERVICES " in *" $name "*) ;; *) continue ;; esac
  declare -n cmd="cmd_$name"
  if ! command -v "${cmd[0]}" >/dev/null; then
    # a service whose console script is not installed, but whose package is: python -m
    mod=${cmd[0]#minik8s-}
    if python3 -c "import $mod.__main__" 2>/dev/null; then
      cmd=(python3 -m "$mod" "${cmd[@]:1}")
    else
      log "warning: ${cmd[0]} is not in this image: $name not started"
      continue
    fi
  fi
  supervise "$name" "${cmd[@]}"
  unset -n cmd
done
import_images "${LATER[@]}" &
log "node up: $NODE_IP, services: ${!PID[*]}"

# containerd is supervised here: it comes back if it dies, the services keep running
while :; do
  wait "${PID[containerd]}" 2>/dev/null
  [ -n "$STOPPING" ] && break
  if ! kill -0 "${PID[containerd]}" 2>/dev/null; then
    log "containerd exited; restarting"
    sleep 1 & wait $!
    [ -n "$STOPPING" ] && break
    containerd_start || log "containerd did not come back"
  fi
done
