#!/usr/bin/env bash
# Regenerate api_pb2.py, api_pb2.pyi and api_pb2_grpc.py from api.proto (run from anywhere).
# grpcio-tools goes into a throw-away venv so that the project's venv keeps its protobuf; its
# version must not be newer than the protobuf runtime the project installs (the generated
# module checks that at import).
set -euo pipefail
cd "$(dirname "$0")/../../.."
TOOLS=${CRI_GEN_VENV:-/tmp/minik8s-cri-gen}
GRPC=$(.venv/bin/python -c "import grpc; print(grpc.__version__)")
[ -x "$TOOLS/bin/python" ] || python3 -m venv "$TOOLS"
"$TOOLS/bin/pip" install -q "grpcio-tools==${GRPC%.*}.*"
"$TOOLS/bin/python" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
  kubelet/runtime/cri_api/api.proto
