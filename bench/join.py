"""Time for a joining node to become Ready: from ``minictl join --token ...`` (discovery of
cluster-info, its JWS and CA pin, the kubelet's CSR, auto-approval by SubjectAccessReview,
signing, the client kubeconfig) to the Node's Ready condition, against the same run's
kubelet started with a client certificate already issued (no bootstrap) to Ready.

    .venv/bin/python bench/join.py [--rounds 5]

etcd, a secure API server (Node,RBAC, anonymous cluster-info) and the controller-manager
(csrapproving, csrsigning, bootstrapsigner) run on this host's loopback; the kubelets use the
fake runtime. Rounds alternate join and baseline. Prints one JSON document: each side's
p50/max and all samples, the ratio of the p50s, and whether the 10 s goal is met.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from api import bootstraptoken as bt
from bench.stats import pct
from pki.csr import ca_cert_hash
from testing.secure import SecureApiServer
from testing.support import Etcd, Process, service, wait_for

GOAL_S = 10.0
KUBELET_ARGS = ["--runtime", "fake", "--no-http", "--heartbeat-seconds", "2"]


def publish(root: httpx.Client, s: SecureApiServer) -> str:
    """What ``minictl token create`` makes (a signing + authentication token of kubeadm's
    default group, and kube-public/cluster-info), written directly: the token."""
    token = bt.generate()
    tid, secret = token.split(".")
    r = root.post("/api/v1/namespaces/kube-system/secrets", json={
        "metadata": {"name": bt.SECRET_PREFIX + tid}, "type": bt.SECRET_TYPE,
        "stringData": {bt.TOKEN_ID: tid, bt.TOKEN_SECRET: secret,
                       "usage-bootstrap-authentication": "true",
                       "usage-bootstrap-signing": "true", bt.EXTRA_GROUPS: bt.DEFAULT_GROUP}})
    r.raise_for_status()
    kubeconfig = json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [{
        "name": "", "cluster": {"server": s.url, "certificate-authority-data":
                                base64.b64encode(s.ca.cert_pem).decode()}}]})
    r = root.post(f"/api/v1/namespaces/{bt.CLUSTER_INFO_NAMESPACE}/configmaps", json={
        "metadata": {"name": bt.CLUSTER_INFO}, "data": {bt.KUBECONFIG_KEY: kubeconfig}})
    r.raise_for_status()
    return token


def ready(root: httpx.Client, name: str) -> bool:
    r = root.get(f"/api/v1/nodes/{name}")
    if r.status_code != 200:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (r.json().get("status") or {}).get("conditions") or [])


def time_to_ready(proc: Process, root: httpx.Client, name: str, timeout: float) -> float:
    t0 = time.monotonic()
    proc.start()
    try:
        wait_for(lambda: ready(root, name) or not proc.alive(), timeout=timeout, interval=0.02,
                 message=f"node {name} Ready")
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
        return time.monotonic() - t0
    finally:
        proc.stop()


def _log_time(line: str) -> datetime.datetime:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def bootstrap_seconds(proc: Process) -> float | None:
    """From the kubelet's CSR to its certificate, as its log tells (the TLS bootstrap proper:
    approval by SubjectAccessReview and signing)."""
    asked = issued = None
    for line in proc.log_path.read_text(errors="replace").splitlines():
        if "requested a client certificate" in line:
            asked = _log_time(line)
        elif "client certificate issued" in line:
            issued = _log_time(line)
    return (issued - asked).total_seconds() if asked and issued else None


def summary(xs: list[float]) -> dict[str, Any]:
    return {"n": len(xs), "p50": round(pct(xs, 50), 3), "max": round(max(xs), 3),
            "all": [round(x, 3) for x in xs]}


def run(rounds: int, timeout: float) -> dict[str, Any]:
    etcd = Etcd().start()
    work = Path(tempfile.mkdtemp(prefix="bench-join-"))
    try:
        with SecureApiServer(etcd.url, authorization_mode="Node,RBAC",
                             anonymous_auth=True) as s, \
                httpx.Client(base_url=s.insecure_url, timeout=15) as root:
            cm = service("controller-manager", "controllers", [
                "--server", s.insecure_url,
                "--controllers=csrapproving,csrsigning,bootstrapsigner",
                f"--cluster-signing-cert-file={s.ca_file}",
                f"--cluster-signing-key-file={s.dir / 'ca.key'}"])
            try:
                token = publish(root, s)
                tid = token.split(".")[0]
                wait_for(lambda: f"jws-kubeconfig-{tid}" in (root.get(
                    "/api/v1/namespaces/kube-public/configmaps/cluster-info").json().get(
                    "data") or {}), timeout=30, message="cluster-info signed")
                joins: list[float] = []
                csr: list[float] = []
                plain: list[float] = []
                for i in range(rounds):
                    name = f"bench-join-{os.getpid()}-{i}"
                    d = work / name
                    proc = Process(f"join-{name}", [
                        sys.executable, "-m", "cli", "join", "--server", s.url, "--token",
                        token, "--discovery-token-ca-cert-hash", ca_cert_hash(s.ca.cert_pem),
                        "--node-name", name, "--dir", str(d), "--", *KUBELET_ARGS])
                    joins.append(time_to_ready(proc, root, name, timeout))
                    boot = bootstrap_seconds(proc)
                    if boot is not None:
                        csr.append(boot)
                    base = f"bench-plain-{os.getpid()}-{i}"
                    creds = s.user(f"system:node:{base}", groups=["system:nodes"])
                    plain.append(time_to_ready(Process(f"kubelet-{base}", [
                        sys.executable, "-m", "kubelet", "--node-name", base, "--kubeconfig",
                        str(creds.kubeconfig), "--root-dir", str(work / base),
                        *KUBELET_ARGS]), root, base, timeout))
            finally:
                cm.stop()
    finally:
        etcd.stop()
    j, b = summary(joins), summary(plain)
    return {"benchmark": "join", "rounds": rounds,
            "join_to_ready_s": j, "baseline_kubelet_with_certificate_to_ready_s": b,
            "ratio_p50": round(j["p50"] / b["p50"], 3) if b["p50"] else None,
            "csr_to_certificate_s": summary(csr) if csr else None,
            "goal_s": GOAL_S, "goal_met": j["max"] <= GOAL_S,
            "loadavg": [round(x, 1) for x in os.getloadavg()],
            "cpus": os.cpu_count()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a node may take to become Ready before the run fails")
    a = p.parse_args()
    print(json.dumps(run(max(1, a.rounds), a.timeout), indent=2))


if __name__ == "__main__":

    main()
