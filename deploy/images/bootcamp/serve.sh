#!/bin/sh
# The page names the pod that served it (its hostname) and the image's version.
mkdir -p /www
echo "Hello Kubernetes bootcamp! | Running on: $(hostname) | v=${VERSION}" > /www/index.html
echo "Kubernetes Bootcamp App Started At: $(date -u +%Y-%m-%dT%H:%M:%SZ) | Running On:  $(hostname)"
exec busybox httpd -f -v -p 8080 -h /www
