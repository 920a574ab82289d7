"""DefaultTolerationSeconds (on by default): pods get the not-ready and unreachable NoExecute
tolerations for 300 s unless they tolerate those taints already; the flags set the seconds;
--disable-admission-plugins turns it off."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from apiserver import admission_plugins as ap
from apiserver.admission_plugins.defaulttolerationseconds import DefaultTolerationSeconds
from apiserver.main import parse_args
from testing.apiclient import Api, pod
from testing.kubectl import Kubectl
from testing.support import ApiServer

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
               "effect": "NoExecute", "tolerationSeconds": 300}


def _created(api: Api, ns: str, name: str, tolerations: list[dict[str, Any]] | None
             ) -> list[dict[str, Any]]:
    p = pod(name)
    if tolerations is not None:
        p["spec"]["tolerations"] = tolerations
    got = api.ok("POST", f"/api/v1/namespaces/{ns}/pods", p, 201)
    return list(got["spec"].get("tolerations") or [])


def test_pods_get_the_default_tolerations(api: Api, kubectl: Kubectl) -> None:
    ns = api.namespace()
    assert "DefaultTolerationSeconds" in ap.enabled_names()
    assert _created(api, ns, "plain", None) == [NOT_READY, UNREACHABLE]
    mine = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 10}
    assert _created(api, ns, "own", [mine]) == [mine, UNREACHABLE]
    # An empty key tolerates every taint, an empty effect every effect of its key.
    everything = {"operator": "Exists"}
    assert _created(api, ns, "all", [everything]) == [everything]
    any_effect = {"key": "node.kubernetes.io/unreachable", "operator": "Exists"}
    assert _created(api, ns, "eff", [any_effect]) == [any_effect, NOT_READY]
    # NoSchedule does not cover NoExecute.
    nosched = {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
               "effect": "NoSchedule"}
    assert _created(api, ns, "ns", [nosched]) == [nosched, NOT_READY, UNREACHABLE]
    out = kubectl("get", "pod", "plain", "-n", ns, "-o",
                  "jsonpath={range .spec.tolerations[*]}{.key}={.tolerationSeconds} {end}")
    assert out.stdout.split() == ["node.kubernetes.io/not-ready=300",
                                  "node.kubernetes.io/unreachable=300"]
    # An update keeps them (nothing to add).
    got = api.ok("GET", f"/api/v1/namespaces/{ns}/pods/plain")
    got["metadata"].setdefault("labels", {})["x"] = "y"
    upd = api.ok("PUT", f"/api/v1/namespaces/{ns}/pods/plain", got)
    assert upd["spec"]["tolerations"] == [NOT_READY, UNREACHABLE]


def test_flags_set_the_seconds(etcd: Any) -> None:
    cfg = parse_args(["--default-not-ready-toleration-seconds", "60",
                      "--default-unreachable-toleration-seconds", "30"])
    plugin = DefaultTolerationSeconds(SimpleNamespace(config=cfg))
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    req = ap.AdmissionRequest("CREATE", None, "ns", "p", None,  # type: ignore[arg-type]
                              {"spec": spec}, None, None)  # type: ignore[arg-type]
    plugin.admit(req)
    assert [t["tolerationSeconds"] for t in spec["tolerations"]] == [60, 30]
    s = ApiServer(etcd.url, ["--disable-admission-plugins", "DefaultTolerationSeconds"]).start()
    try:
        a = Api(s.url)
        ns = a.namespace()
        assert _created(a, ns, "off", None) == []
        a.client.close()
    finally:
        s.stop()
