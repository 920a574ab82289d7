"""minictl edit beside the real kubectl edit on copies of the same deployment: EDITOR is a
small Python script that logs each file it is given and rewrites it step by step (so the
second opening can fix what the first broke); the lines printed, the exit codes, the files
shown (header comments and object) and the objects afterwards must be the same."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from testing.apiclient import Api
from testing.kubectl import Kubectl
from tests.cli.helpers import get
from tests.cli.test_verbs_label import DEPLOY, deployment
from tests.cli.verbs import Pair, Run

EDITOR = r'''
import json, os, shutil, sys
plan_path = os.environ["EDIT_PLAN"]
state = json.load(open(plan_path))
n = state["count"]
state["count"] = n + 1
json.dump(state, open(plan_path, "w"))
path = sys.argv[-1]
shutil.copy(path, os.path.join(state["log"], f"{n}.yaml"))
steps = state["steps"]
if n >= len(steps):
    sys.exit(0)
text = open(path).read()
for old, new in steps[n]:
    assert old in text, (old, text)
    text = text.replace(old, new, 1)
open(path, "w").write(text)
'''

VOLATILE = re.compile(r"^\s*(uid|resourceVersion|creationTimestamp|namespace|generation"
                      r"|observedGeneration|lastTransitionTime|lastUpdateTime): ")


@pytest.fixture
def pair(server_url: str, kubectl: Kubectl, api: Api) -> Pair:
    p = Pair(server_url, kubectl, api)
    p.create(DEPLOY, deployment("web"))
    return p


def edit_both(pair: Pair, tmp: Path, steps: list[list[list[str]]], *args: str
              ) -> tuple[Run, Run, list[str], list[str]]:
    """Run both with the same plan; their results and the files each editor was shown."""
    script = tmp / "editor.py"
    script.write_text(EDITOR)
    runs = []
    logs = []
    for who, run in (("m", pair.minictl), ("k", pair.kubectl_run)):
        log = tmp / f"log-{who}-{len(list(tmp.iterdir()))}"
        log.mkdir()
        plan = tmp / f"plan-{who}.json"
        plan.write_text(json.dumps({"count": 0, "steps": steps, "log": str(log)}))
        env = {"KUBE_EDITOR": f"{sys.executable} {script}", "EDIT_PLAN": str(plan)}
        runs.append(run("edit", *args, env=env))
        logs.append([(log / f"{i}.yaml").read_text() for i in range(len(list(log.iterdir())))])
    (m, k), (lm, lk) = runs, logs
    return m, k, lm, lk


def stable(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if not VOLATILE.match(ln)]


def comments(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("#")]


def mask_paths(text: str) -> str:
    return re.sub(r'"/[^"]*-edit-[^"]*\.yaml"', '"FILE"', text)


def replicas(pair: Pair) -> tuple[object, object]:
    a = get(pair.server, DEPLOY.format(ns=pair.ns_m) + "/web")["spec"]["replicas"]
    b = get(pair.server, DEPLOY.format(ns=pair.ns_k) + "/web")["spec"]["replicas"]
    return a, b


def same(m: Run, k: Run) -> None:
    assert (m.code, m.out, mask_paths(m.err)) == (k.code, k.out, mask_paths(k.err)), (m, k)


def test_edit_saves_a_change(pair: Pair, tmp_path: Path) -> None:
    m, k, lm, lk = edit_both(pair, tmp_path, [[["replicas: 1", "replicas: 2"]]],
                             "deployment/web")
    same(m, k)
    assert m.out == "deployment.apps/web edited\n"
    assert len(lm) == len(lk) == 1
    assert stable(lm[0]) == stable(lk[0])
    assert comments(lm[0])[0].startswith("# Please edit the object below.")
    assert replicas(pair) == (2, 2)


def test_edit_unchanged_is_cancelled(pair: Pair, tmp_path: Path) -> None:
    m, k, _, _ = edit_both(pair, tmp_path, [], "deploy", "web")
    same(m, k)
    assert m.err == "Edit cancelled, no changes made.\n"


def test_edit_invalid_reopens_with_the_reasons(pair: Pair, tmp_path: Path) -> None:
    steps = [[["replicas: 1", "replicas: -1"]], [["replicas: -1", "replicas: 3"]]]
    m, k, lm, lk = edit_both(pair, tmp_path, steps, "deploy/web")
    same(m, k)
    assert m.err == 'error: deployments.apps "web" is invalid\n'
    assert len(lm) == len(lk) == 2
    assert comments(lm[1]) == comments(lk[1])
    assert any("was not valid" in c for c in comments(lm[1]))
    assert stable(lm[1]) == stable(lk[1])
    assert replicas(pair) == (3, 3)
    # broken again and saved unchanged: kubectl gives up, nothing is saved
    steps = [[["replicas: 3", "replicas: -5"]], []]
    m, k, lm, lk = edit_both(pair, tmp_path, steps, "deploy/web")
    same(m, k)
    assert m.code == 1 and "Edit cancelled, no valid changes were saved." in m.err
    assert replicas(pair) == (3, 3)


def test_edit_syntax_error_reopens(pair: Pair, tmp_path: Path) -> None:
    steps = [[["replicas: 1", "replicas: [1"]], [["replicas: [1", "replicas: 4"]]]
    m, k, lm, lk = edit_both(pair, tmp_path, steps, "deploy/web")
    same(m, k)
    assert len(lm) == len(lk) == 2
    # kubectl's validation refuses the file before it is parsed; the YAML parsers' own
    # words differ (Go's and PyYAML's), the rest of the header is the same
    assert comments(lm[1])[:5] == comments(lk[1])[:5]
    prefix = '# * <nil>: Invalid value: "The edited file failed validation": yaml: line '
    assert comments(lm[1])[5].startswith(prefix)
    assert comments(lk[1])[5].startswith(prefix)
    assert replicas(pair) == (4, 4)


def test_edit_errors(pair: Pair, tmp_path: Path) -> None:
    m, k, _, _ = edit_both(pair, tmp_path, [], "deploy", "nope")
    same(m, k)
    assert m.code == 1
    # a type alone: every object of it (here one, shown as itself)
    m, k, _, _ = edit_both(pair, tmp_path, [], "deploy")
    same(m, k)
    m, k, _, _ = edit_both(pair, tmp_path, [], "deploy/web", "--bogus")
    assert m.code == k.code == 1
    m, k, _, _ = edit_both(pair, tmp_path, [], "nosuchtype", "x")
    same(m, k)


def test_edit_several_objects_as_a_list(pair: Pair, tmp_path: Path) -> None:
    pair.create(DEPLOY, deployment("api"))
    step = [["replicas: 1", "replicas: 2"], ["replicas: 1", "replicas: 2"]]
    m, k, lm, lk = edit_both(pair, tmp_path, [step], "deployments")
    same(m, k)
    assert m.out == "deployment.apps/api edited\ndeployment.apps/web edited\n"
    assert stable(lm[0]) == stable(lk[0])
    assert "kind: List" in lm[0]
