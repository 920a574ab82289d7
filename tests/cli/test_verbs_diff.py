"""minictl diff -f beside the real kubectl diff on copies of the same objects: the same diff
body (the headers carry temporary paths and times: masked), the same exit codes (0 same,
1 different, >1 error), and nothing changed on the server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testing.apiclient import Api
from testing.kubectl import Kubectl
from tests.cli.test_verbs_write import CONFIGMAP, DEPLOY
from tests.cli.verbs import Pair, Run

VOLATILE = re.compile(r"^[ +-]\s*(uid|creationTimestamp|resourceVersion): ")


@pytest.fixture
def pair(server_url: str, kubectl: Kubectl, api: Api) -> Pair:
    return Pair(server_url, kubectl, api)


def body(text: str) -> list[str]:
    out = []
    for ln in text.splitlines():
        if ln.startswith(("--- ", "+++ ")):
            continue
        ln = re.sub(r"/tmp/(LIVE|MERGED)-[^/\s]+", r"\1", ln)
        if not VOLATILE.match(ln):
            out.append(ln)
    return out


def both(pair: Pair, *args: str, env: dict[str, str] | None = None,
         input: str | None = None) -> tuple[Run, Run]:
    m = pair.minictl("diff", *args, env=env, input=input)
    k = pair.kubectl_run("diff", *args, env=env, input=input)
    for key in env or {}:
        pair.kubectl.env.pop(key, None)  # kubectl_run keeps what it is given
    assert m.code == k.code, (m, k)
    assert body(m.out) == body(k.out), f"minictl:\n{m.out}\nkubectl:\n{k.out}"
    return m, k


def test_diff_like_kubectl(pair: Pair, tmp_path: Path) -> None:
    f = tmp_path / "two.yaml"
    f.write_text(DEPLOY + "---\n" + CONFIGMAP)
    # nothing there yet: everything is new
    m, _ = both(pair, "-f", str(f))
    assert m.code == 1
    assert "+kind: Deployment" in m.out and "diff -u -N LIVE/apps.v1.Deployment.NS.web " \
        "MERGED/apps.v1.Deployment.NS.web" in body(m.out)
    for run in (pair.minictl, pair.kubectl_run):
        assert run("apply", "-f", str(f)).code == 0
    m, _ = both(pair, "-f", str(f))
    assert (m.code, m.out) == (0, "")
    f.write_text(DEPLOY.replace("replicas: 1", "replicas: 3") + "---\n"
                 + CONFIGMAP.replace('"1"', '"2"'))
    m, _ = both(pair, "-f", str(f))
    assert m.code == 1
    assert "-  replicas: 1" in m.out and "+  replicas: 3" in m.out
    m, _ = both(pair, "-f", "-", input=CONFIGMAP.replace('"1"', '"5"'))
    assert '+  a: "5"' in m.out
    m, _ = both(pair, "-f", str(f), env={"KUBECTL_EXTERNAL_DIFF": "diff -q"})
    assert m.code == 1 and "differ" in m.out
    # the server kept what was applied
    m, _ = both(pair, "-f", str(f))
    assert "-  replicas: 1" in m.out


def test_diff_errors(pair: Pair, tmp_path: Path) -> None:
    m, k = both(pair, "-f", str(tmp_path / "nope.yaml"))
    assert m.code > 1 and m.err == k.err
    m, k = both(pair)
    assert m.code > 1


SECRET = """apiVersion: v1
kind: Secret
metadata: {name: s}
data: {same: YQ==, changed: Yg==}
"""


def test_diff_masks_secrets(pair: Pair, tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(SECRET)
    m, _ = both(pair, "-f", str(f))
    assert "YQ==" not in m.out and "+  same: '***'" in m.out
    for run in (pair.minictl, pair.kubectl_run):
        assert run("apply", "-f", str(f)).code == 0
    f.write_text(SECRET.replace("Yg==", "Yw==").replace("{same", "{new: ZA==, same"))
    m, _ = both(pair, "-f", str(f))
    assert "*** (before)" in m.out and "*** (after)" in m.out
