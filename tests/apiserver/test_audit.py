"""Auditing (--audit-log-path, --audit-policy-file): audit.k8s.io/v1 Events as JSON lines,
at the level of the policy's first matching rule, for allowed, forbidden (403) and
unauthenticated (401) requests, over TLS with certificates and tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.secure import SecureApiServer, StaticToken
from testing.support import ROOT, on_own_etcd, unique, wait_for

BOB = StaticToken("bob-audit-token-0123456789", "bob", "bob-uid", ("dev",))

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: ["/readyz*", "/livez*", "/healthz*"]
- level: None
  users: ["system:unsecured"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps"]
- level: Request
  verbs: ["create", "update", "patch"]
  resources:
  - group: ""
    resources: ["secrets", "pods/*"]
  omitStages: ["RequestReceived"]
- level: None
  resources:
  - group: ""
    resources: ["secrets"]
    resourceNames: ["quiet"]
- level: Metadata
  omitStages: ["RequestReceived"]
"""


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SecureApiServer, Path]]:
    d = tmp_path_factory.mktemp("audit")
    (d / "policy.yaml").write_text(POLICY)
    log = d / "audit.log"
    # AlwaysDeny: only system:masters (which skips authorization) is allowed anything.
    with on_own_etcd(lambda url: SecureApiServer(
            url, authorization_mode="AlwaysDeny", tokens=[BOB], extra_args=[
                "--audit-log-path", str(log), "--audit-policy-file", str(d / "policy.yaml")])
                     ) as s:
        yield s, log


def events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def wait_events(log: Path, cond: Callable[[dict[str, Any]], bool], n: int = 1
                ) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        got = [e for e in events(log) if cond(e)]
        return got if len(got) >= n else []

    return wait_for(found, timeout=10, message="audit events")


def test_create_at_request_response_level(audited: tuple[SecureApiServer, Path]) -> None:
    s, log = audited
    name = unique("cm")
    with s.client(s.admin, headers={"User-Agent": "audit-test/1.0"}) as c:
        r = c.post("/api/v1/namespaces/default/configmaps",
                   json={"metadata": {"name": name}, "data": {"k": "v"}})
        assert r.status_code == 201
    audit_id = r.headers["audit-id"]
    evs = wait_events(log, lambda e: e["auditID"] == audit_id, 2)
    assert [e["stage"] for e in evs] == ["RequestReceived", "ResponseComplete"]
    received, done = evs
    assert not {"responseStatus", "requestObject", "responseObject"} & received.keys()
    assert done["kind"] == "Event" and done["apiVersion"] == "audit.k8s.io/v1"
    assert done["level"] == "RequestResponse"
    assert done["verb"] == "create"
    assert done["requestURI"] == "/api/v1/namespaces/default/configmaps"
    assert done["user"] == {"username": "kubernetes-admin",
                            "groups": ["system:masters", "system:authenticated"]}
    assert "impersonatedUser" not in done
    assert done["sourceIPs"] == ["127.0.0.1"]
    assert done["userAgent"] == "audit-test/1.0"
    assert done["objectRef"] == {"resource": "configmaps", "namespace": "default",
                                 "name": name, "apiVersion": "v1"}
    assert done["responseStatus"] == {"metadata": {}, "code": 201}
    assert done["requestObject"] == {"metadata": {"name": name}, "data": {"k": "v"}}
    assert done["responseObject"]["metadata"]["uid"] == r.json()["metadata"]["uid"]
    assert done["annotations"] == {"authorization.k8s.io/decision": "allow",
                                   "authorization.k8s.io/reason": ""}
    assert done["requestReceivedTimestamp"] == received["stageTimestamp"]
    assert done["requestReceivedTimestamp"] <= done["stageTimestamp"]
    assert done["stageTimestamp"].endswith("Z") and len(done["stageTimestamp"]) == 27


def test_request_level_logs_the_body_not_the_response(
        audited: tuple[SecureApiServer, Path]) -> None:
    s, log = audited
    name = unique("sec")
    with s.client(s.tokens["bob"], headers={"Audit-ID": f"given-{name}"}) as c, \
            s.client(s.admin) as admin:
        assert admin.post("/api/v1/namespaces/default/secrets",
                          json={"metadata": {"name": name},
                                "stringData": {"a": "b"}}).status_code == 201
        assert c.get(f"/api/v1/namespaces/default/secrets/{name}").status_code == 403
    done = wait_events(log, lambda e: e["objectRef"].get("name") == name
                       and e["verb"] == "create" if "objectRef" in e else False)
    assert [e["stage"] for e in done] == ["ResponseComplete"]  # omitStages
    assert done[0]["level"] == "Request"
    assert done[0]["requestObject"]["stringData"] == {"a": "b"}
    assert "responseObject" not in done[0]
    # The read is not a create: the catch-all Metadata rule, and the given Audit-ID.
    [get] = wait_events(log, lambda e: e["auditID"] == f"given-{name}")
    assert get["level"] == "Metadata" and get["verb"] == "get"
    assert "requestObject" not in get


def test_forbidden_request_is_audited_with_the_decision(
        audited: tuple[SecureApiServer, Path]) -> None:
    s, log = audited
    with s.client(s.tokens["bob"]) as c:
        r = c.get("/api/v1/namespaces/kube-system/configmaps")
        assert r.status_code == 403
    [ev] = wait_events(log, lambda e: e["auditID"] == r.headers["audit-id"]
                       and e["stage"] == "ResponseComplete")
    assert ev["user"] == {"username": "bob", "uid": "bob-uid",
                          "groups": ["dev", "system:authenticated"]}
    assert ev["verb"] == "list"
    assert ev["objectRef"] == {"resource": "configmaps", "namespace": "kube-system",
                               "apiVersion": "v1"}
    assert ev["responseStatus"]["code"] == 403
    assert ev["responseStatus"]["reason"] == "Forbidden"
    assert ev["responseStatus"]["message"].startswith(
        'configmaps is forbidden: User "bob" cannot list resource "configmaps"')
    assert ev["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert ev["annotations"]["authorization.k8s.io/reason"] == "Everything is forbidden."
    assert ev["responseObject"]["kind"] == "Status"  # RequestResponse for configmaps


def test_impersonation_records_both_users(audited: tuple[SecureApiServer, Path]) -> None:
    s, log = audited
    with s.client(s.admin, headers={"Impersonate-User": "carol",
                                    "Impersonate-Group": "team"}) as c:
        r = c.get("/api/v1/namespaces/default/pods")
        assert r.status_code == 403  # carol is not a superuser
    [ev] = wait_events(log, lambda e: e["auditID"] == r.headers["audit-id"])
    assert ev["user"]["username"] == "kubernetes-admin"
    assert ev["impersonatedUser"] == {"username": "carol",
                                      "groups": ["team", "system:authenticated"]}
    assert ev["annotations"]["authorization.k8s.io/decision"] == "forbid"


def test_unauthenticated_request_is_audited_at_response_started(
        audited: tuple[SecureApiServer, Path]) -> None:
    s, log = audited
    with s.client(s.token_user("no-such-token")) as c:
        r = c.get("/api/v1/nodes")
        assert r.status_code == 401
    [ev] = wait_events(log, lambda e: e["auditID"] == r.headers["audit-id"])
    assert ev["stage"] == "ResponseStarted"
    assert ev["user"] == {}
    assert ev["verb"] == "list" and ev["objectRef"]["resource"] == "nodes"
    assert ev["responseStatus"]["code"] == 401
    assert "annotations" not in ev


def test_level_none_is_not_logged(audited: tuple[SecureApiServer, Path]) -> None:
    s, log = audited
    with s.client(s.admin) as c:
        health = c.get("/readyz")
        quiet = c.get("/api/v1/namespaces/default/secrets/quiet")  # resourceNames: None
        marker = c.get("/api/v1/namespaces/default/secrets/loud")  # Metadata
        assert health.status_code == 200 and quiet.status_code == marker.status_code == 404
    import httpx

    assert httpx.get(s.insecure_url + "/api/v1/namespaces").status_code == 200  # user: None
    wait_events(log, lambda e: e["auditID"] == marker.headers["audit-id"])
    ids = {e["auditID"] for e in events(log)}
    assert health.headers["audit-id"] not in ids
    assert quiet.headers["audit-id"] not in ids
    assert not [e for e in events(log) if e["user"].get("username") == "system:unsecured"]


def test_non_resource_request(audited: tuple[SecureApiServer, Path]) -> None:
    s, log = audited
    with s.client(s.admin) as c:
        r = c.get("/version")
    [ev] = wait_events(log, lambda e: e["auditID"] == r.headers["audit-id"])
    assert ev["requestURI"] == "/version" and ev["verb"] == "get"
    assert "objectRef" not in ev and ev["responseStatus"]["code"] == 200


def test_invalid_policy_stops_the_server(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n")
    p = subprocess.run([sys.executable, "-m", "apiserver", "--port", "1",
                        "--etcd-servers", "http://127.0.0.1:1",
                        "--audit-log-path", str(tmp_path / "a.log"),
                        "--audit-policy-file", str(policy)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 1
    assert "rules[0].level: Unsupported value: 'Loud'" in p.stderr


def test_watch_is_audited_when_it_starts_and_when_it_ends(
        audited: tuple[SecureApiServer, Path]) -> None:
    s, log = audited
    with s.client(s.admin) as c:
        r = c.get("/api/v1/namespaces/default/configmaps",
                  params={"watch": "true", "timeoutSeconds": "1"})
        assert r.status_code == 200
    evs = wait_events(log, lambda e: e["auditID"] == r.headers["audit-id"], 3)
    assert [e["stage"] for e in evs] == ["RequestReceived", "ResponseStarted",
                                         "ResponseComplete"]
    assert {e["verb"] for e in evs} == {"watch"}
    assert evs[1]["responseStatus"] == {"metadata": {}, "code": 200}
    assert all("responseObject" not in e for e in evs)  # a stream is never logged
