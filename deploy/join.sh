#!/bin/sh
# Join this machine to a minik8s cluster as a node, with a bootstrap token (kubeadm join):
#
#   deploy/join.sh --server https://CONTROL-PLANE:6443 --token <id>.<secret> \
#       --discovery-token-ca-cert-hash sha256:<hex> [--node-name NAME] [--dir DIR] \
#       [-- KUBELET FLAGS...]
#
# On the control plane, `minictl token create --print-join-command` prints the line to run.
# This reads kube-public/cluster-info from the server without credentials, trusts it only if
# the token's JWS signature and the CA pin match, writes DIR/bootstrap-kubelet.conf, and
# starts the kubelet (foreground) with --bootstrap-kubeconfig and --rotate-certificates: it
# requests its client certificate by CSR, is approved and signed by the controller-manager,
# registers its Node, and renews the certificate before it expires. docs/joining.md says
# what the control plane must run for that and which ports must be open.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3
cd "$ROOT"
exec "$PY" -m cli join "$@"
