"""minictl create/get/describe poddisruptionbudget beside kubectl: the same objects, the
same table (NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE), describe as
kubectl's, create's checks and messages."""

from __future__ import annotations

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from tests.cli.helpers import fails, ok


def no_age(table: str) -> list[str]:
    """The table without its last column (AGE may tick between the two commands)."""
    return [line.rsplit(None, 1)[0] for line in table.splitlines()]


def test_create_get_describe_like_kubectl(server_url: str, api: Api,
                                          kubectl: kubectl_cli.Kubectl) -> None:
    ns = api.namespace()
    assert ok(server_url, "create", "pdb", "mine", "-n", ns, "--selector=app=web,tier in (a)",
              "--min-available=50%") == "poddisruptionbudget.policy/mine created\n"
    assert kubectl("create", "pdb", "theirs", "-n", ns, "--selector=app=web,tier in (a)",
                   "--min-available=50%").stdout == "poddisruptionbudget.policy/theirs created\n"
    ok(server_url, "create", "poddisruptionbudget", "max", "-n", ns, "--selector=app=x",
       "--max-unavailable=1")
    url = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    mine, theirs = api.ok("GET", f"{url}/mine"), api.ok("GET", f"{url}/theirs")
    assert mine["spec"] == theirs["spec"] == {
        "minAvailable": "50%", "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}}
    assert api.ok("GET", f"{url}/max")["spec"]["maxUnavailable"] == 1
    assert no_age(ok(server_url, "get", "pdb", "-n", ns)) == \
        no_age(kubectl("get", "pdb", "-n", ns).stdout)
    assert no_age(ok(server_url, "get", "pdb", "max", "-n", ns, "-o", "wide")) == \
        no_age(kubectl("get", "pdb", "max", "-n", ns, "-o", "wide").stdout)
    for name in ("mine", "max"):
        assert ok(server_url, "describe", "pdb", name, "-n", ns) == \
            kubectl("describe", "pdb", name, "-n", ns).stdout
    assert ok(server_url, "create", "pdb", "dry", "-n", ns, "--selector=app=web",
              "--min-available=1", "--dry-run=server") == \
        "poddisruptionbudget.policy/dry created (server dry run)\n"


def test_create_checks(server_url: str) -> None:
    for args, msg in [
        ((), "a selector must be specified"),
        (("--selector=a=b",), "one of min-available or max-unavailable must be specified"),
        (("--selector=a=b", "--min-available=1", "--max-unavailable=1"),
         "min-available and max-unavailable cannot be both specified"),
        (("--selector=a=b", "--min-available=1Gb"),
         "invalid format specified for min-available"),
        (("--selector=a=b", "--max-unavailable=x"),
         "invalid format specified for max-unavailable"),
    ]:
        assert fails(server_url, "create", "pdb", "p", *args) == f"error: {msg}"
