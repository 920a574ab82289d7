#!/bin/sh
# The page names the pod that served it (its hostname) and the image's version.
mkdir -p /www
echo "Hello Kubernetes bootcamp! | Running on: $(hostname) | v=${VERSION}" > /www/index.html
echo "Kubernetes Bootcamp App Started At: $(date -u +%Y-%m-%dT%H:%M:%SZ) | Running On:  $(hostname)"
# httpd as PID 1 would ignore SIGTERM (the kernel delivers no default action to PID 1), and
# every pod of an old ReplicaSet would then take its whole 30 s grace period to stop; this
# shell stays PID 1 and stops httpd at once when the kubelet asks.
busybox httpd -f -v -p 8080 -h /www &
trap 'kill $! 2>/dev/null; exit 0' TERM INT
wait
