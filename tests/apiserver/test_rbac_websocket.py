"""A WebSocket exec/attach/port-forward is a GET, yet must be allowed to ``create`` the
subresource as the SPDY POST is (AuthorizePodWebsocketUpgradeCreatePermission, on by
default since Kubernetes 1.35)."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from testing.secure import Credentials, SecureApiServer, ssl_client_context
from testing.support import json_request, unique, wait_for

AUTHORIZATION_MODE = "RBAC"


def _upgrade_status(s: SecureApiServer, ns: str, sub: str, creds: Credentials) -> tuple[int, str]:
    path = f"/api/v1/namespaces/{ns}/pods/nopod/{sub}?command=true&stdout=1&ports=80"
    try:
        with ws_connect(f"wss://127.0.0.1:{s.secure_port}{path}",
                        ssl=ssl_client_context(s.ca_file, creds),
                        subprotocols=[Subprotocol("v5.channel.k8s.io")], open_timeout=10):
            return 101, ""
    except InvalidStatus as e:
        return e.response.status_code, e.response.body.decode() if e.response.body else ""


def _role(s: SecureApiServer, ns: str, verbs: list[str]) -> None:
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "streams", "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["pods/exec", "pods/attach",
                                                         "pods/portforward"],
                       "verbs": verbs}]}
    url = f"{s.insecure_url}/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"
    code, out = json_request("PUT", f"{url}/streams", body)
    if code == 404:
        code, out = json_request("POST", url, body)
    assert code in (200, 201), out


@pytest.mark.parametrize("sub", ["exec", "attach", "portforward"])
def test_websocket_streams_need_create(secure_apiserver: SecureApiServer, sub: str) -> None:
    s = secure_apiserver
    ns = unique("ws")
    code, out = json_request("POST", f"{s.insecure_url}/api/v1/namespaces",
                             {"metadata": {"name": ns}})
    assert code == 201, out
    user = s.user(unique("carol"))
    _role(s, ns, ["get"])
    code, out = json_request(
        "POST", f"{s.insecure_url}/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
        {"metadata": {"name": "streams"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "streams"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                       "name": user.name}]})
    assert code == 201, out
    # get alone: refused, naming the create it lacks
    code, body = wait_for(lambda: (r := _upgrade_status(s, ns, sub, user))[0] == 403 and
                          "create" in r[1] and r, timeout=20)
    assert (f'User \\"{user.name}\\" cannot create resource \\"pods/{sub}\\" in API group '
            f'\\"\\" in the namespace \\"{ns}\\"') in body
    # with create too: authorized, and the handler answers (no such pod)
    _role(s, ns, ["get", "create"])
    wait_for(lambda: _upgrade_status(s, ns, sub, user)[0] == 404, timeout=20)
