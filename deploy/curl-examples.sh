#!/usr/bin/env bash
# The REST walk-through of docs/tour.md, runnable exactly as written: the same steps as the minictl
# Quickstart, with curl against the API server (tests/e2e/test_compose.py runs this file).
# Every call is plain Kubernetes REST: the same paths and bodies work against a real cluster.
set -euo pipefail
API=https://127.0.0.1:${MINIK8S_API_PORT:-6443}
# The API server wants TLS and credentials: deploy/up.sh wrote the cluster's CA and the admin's
# bearer token (both are in the admin kubeconfig too); every curl here uses them.
K8S=${MINIK8S_HOME:-$HOME/.minik8s}
curl() { command curl --cacert "$K8S/ca.crt" -H "Authorization: Bearer $(cat "$K8S/admin-token")" "$@"; }

# 0. A pod from JSON: create it, get it, list by label, watch it (the watch ends after 5 s), delete.
curl -fsS -X POST "$API/api/v1/namespaces/default/pods" \
  -H 'Content-Type: application/json' -d '{
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "hello", "labels": {"app": "hello"}},
    "spec": {"containers": [{"name": "web", "image": "nginx"}]}}' | cut -c1-160
curl -fsS "$API/api/v1/namespaces/default/pods/hello" | cut -c1-160
curl -fsS "$API/api/v1/namespaces/default/pods?labelSelector=app%3Dhello" | grep -o '"name":"hello"'
curl -fsS -N "$API/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dhello&timeoutSeconds=5" \
  | cut -c1-160
curl -fsS -X DELETE "$API/api/v1/namespaces/default/pods/hello" | cut -c1-160
echo

# 1. Create a deployment of 2 nginx pods (what `minictl create deployment` POSTs).
curl -fsS -X POST "$API/apis/apps/v1/namespaces/default/deployments" \
  -H 'Content-Type: application/json' -d '{
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
      "replicas": 2,
      "selector": {"matchLabels": {"app": "web"}},
      "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}'
echo

# 2. Read it back.
curl -fsS "$API/apis/apps/v1/namespaces/default/deployments/web"
echo

# 3. Watch its pods appear, get scheduled and start (the stream ends after 10 s).
curl -fsS -N "$API/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb&timeoutSeconds=10" \
  | cut -c1-160

# 4. List the running pods by label and field selector; take one pod's IP and name.
for i in $(seq 60); do
  PODS=$(curl -fsS "$API/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&fieldSelector=status.phase%3DRunning")
  [ "$(echo "$PODS" | grep -o '"podIP":"[0-9.]*"' | wc -l)" -ge 2 ] && break
  sleep 1
done
IP=$(echo "$PODS" | grep -o '"podIP":"[0-9.]*"' | head -n1 | cut -d'"' -f4)
POD=$(echo "$PODS" | grep -o '"name":"web-[a-z0-9]*-[a-z0-9]*"' | head -n1 | cut -d'"' -f4)
echo "pod $POD has IP $IP"

# 5. The pod serves the nginx page on its IP.
curl -fsS "http://$IP/" | grep '<title>'

# 6. Its events (Scheduled, Pulled, Created, Started) and its log (through the kubelet).
curl -fsS "$API/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D$POD" \
  | grep -o '"reason":"[A-Za-z]*"'
curl -fsS "$API/api/v1/namespaces/default/pods/$POD/log?tailLines=5"

# 7. Scale to 3 through the scale subresource.
curl -fsS -X PATCH "$API/apis/apps/v1/namespaces/default/deployments/web/scale" \
  -H 'Content-Type: application/merge-patch+json' -d '{"spec": {"replicas": 3}}'
echo

# 8. Roll out a new image (a strategic merge patch: the container is matched by name).
curl -fsS -X PATCH "$API/apis/apps/v1/namespaces/default/deployments/web" \
  -H 'Content-Type: application/strategic-merge-patch+json' \
  -d '{"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.22"}]}}}}' \
  | grep -o '"image":"[^"]*"'

# 9. Wait until the rollout is done: 3 updated replicas, all available, no old ones left.
for i in $(seq 90); do
  STATUS=$(curl -fsS "$API/apis/apps/v1/namespaces/default/deployments/web" | grep -o '"status":{.*')
  echo "$STATUS" | grep -q '"replicas":3,' && echo "$STATUS" | grep -q '"updatedReplicas":3' \
    && echo "$STATUS" | grep -q '"availableReplicas":3' && break
  sleep 1
done
echo "$STATUS" | grep -o '"\(replicas\|updatedReplicas\|availableReplicas\)":[0-9]*'

# 10. Delete the deployment; the garbage collector removes its ReplicaSets and pods.
curl -fsS -X DELETE "$API/apis/apps/v1/namespaces/default/deployments/web" | cut -c1-120
for i in $(seq 60); do
  curl -fsS "$API/api/v1/namespaces/default/pods?labelSelector=app%3Dweb" | grep -q '"items":\[\]' && break
  sleep 1
done
curl -fsS "$API/api/v1/namespaces/default/pods?labelSelector=app%3Dweb"
echo
