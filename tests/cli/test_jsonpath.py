"""minictl get -o jsonpath=/custom-columns=: the JSONPath engine (client-go's, quirks included)
and the printers, against the real API server and, where cheap, against real kubectl."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from cli import jsonpath
from cli.output import columns_line
from testing.kubectl import Kubectl
from testing.support import ROOT, json_request, wait_for
from tests.cli.helpers import fails, ok, post, put_status


def pod(name: str, labels: dict[str, str], containers: list[dict[str, Any]],
        status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns1", "labels": labels,
                         "annotations": {"example.com/key.with.dots": f"dotted-{name}"}},
            "spec": {"containers": containers}, "status": status or {"phase": "Pending"}}


DB = pod("db", {"app": "db"}, [{"name": "pg", "image": "postgres"}])
WEB = pod("web", {"app": "web", "tier": "front"},
          [{"name": "c1", "image": "nginx:1.25",
            "ports": [{"containerPort": 80, "protocol": "TCP"},
                      {"containerPort": 443, "protocol": "TCP"}]},
           {"name": "c2", "image": "busybox"}],
          {"phase": "Running", "podIP": "10.0.0.5",
           "conditions": [{"type": "Ready", "status": "True"},
                          {"type": "PodScheduled", "status": "True"}],
           "containerStatuses": [{"name": "c1", "ready": True, "restartCount": 3}]})
LIST = {"apiVersion": "v1", "items": [DB, WEB], "kind": "List",
        "metadata": {"resourceVersion": ""}}


def run(template: str, data: Any = LIST, allow_missing: bool = True) -> str:
    return jsonpath.execute(jsonpath.parse(template), data, allow_missing=allow_missing)


# Expected values are what kubectl 1.37 printed for the same objects.
@pytest.mark.parametrize(("template", "expected"), [
    ("{.items[*].metadata.name}", "db web"),
    ("{.kind}", "List"),
    ("{$.kind}", "List"),
    ("{ .kind }", "List"),
    (".metadata.name", ".metadata.name"),  # no braces: plain text, as in kubectl
    ("{.items[*].metadata.name} and {.kind}", "db web and List"),
    ("{.items[0].metadata.name}{.items[1].metadata.namespace}", "dbns1"),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.status.podIP}{"\\n"}{end}',
     "db\t\nweb\t10.0.0.5\n"),
    ("{range .items[*]}[{.metadata.name}]{end}", "[db][web]"),
    ("{range .items[*]}{range .spec.containers[*]}{.name},{end};{end}", "pg,;c1,c2,;"),
    ("{range .items[*]}{@.metadata.name}:{range @.spec.containers[*]}{@.image} {end}"
     '{"\\n"}{end}', "db:postgres \nweb:nginx:1.25 busybox \n"),
    ("{range .items[*]}{.metadata.name}", "dbweb"),  # no end: the rest is the body
    ('{range .items[?(@.metadata.name=="zz")]}x{end}after', "after"),
    ("{.items[1].metadata.labels}", '{"app":"web","tier":"front"}'),
    ("{.metadata}", '{"resourceVersion":""}'),
    ("{.items[*].spec.containers[*].ports}",
     '[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}]'),
    ("{.items[1].spec.containers[*].ports[*].containerPort}", "80 443"),
    ("{.items[1].status.containerStatuses[0].ready}", "true"),
    ("{.items[0].spec.containers[0].image}", "postgres"),
    ("{.items[-1].metadata.name}", "web"),
    ("{.items[-1:].metadata.name}", "web"),
    ("{.items[0:2].metadata.name}", "db web"),
    ("{.items[::2].metadata.name}", "db"),
    ("{.items[2:]}", ""),
    ("{.items[0:0]}", ""),
    ("{.items[0,1].metadata.name}", "db web"),
    ("{.items[*]['metadata']['name']}", "db web"),
    ("{.items[*].metadata['name','namespace']}", "db web ns1 ns1"),
    ("{.items[1].metadata.annotations['example\\.com/key\\.with\\.dots']}", "dotted-web"),
    ("{.items[1].metadata.annotations.example\\.com/key\\.with\\.dots}", "dotted-web"),
    # Unescaped dots in a bracketed key split it into fields, as in client-go.
    ("{.items[1].metadata.annotations['example.com/key.with.dots']}", ""),
    ("{..image}", "postgres nginx:1.25 busybox"),
    ("{..metadata.name}", "db web"),
    ("{.items[1].metadata.labels.*}", "web front"),
    ('{.items[?(@.status.phase=="Running")].metadata.name}', "web"),
    ('{.items[?(@.metadata.name!="db")].metadata.name}', "web"),
    ('{.items[1].status.conditions[?(@.type=="Ready")].status}', "True"),
    ("{.items[*].spec.containers[?(@.ports)].name}", "c1"),
    ("{.items[?(@.status.podIP)].metadata.name}", "web"),
    ("{.items[1].spec.containers[0].ports[?(@.containerPort>=443)].containerPort}", "443"),
    ("{.items[1].spec.containers[0].ports[?(@.containerPort<443)].containerPort}", "80"),
    ("{.items[1].spec.containers[0].ports[?(@.containerPort<=80)].containerPort}", "80"),
    ("{.items[*].spec.containers[?(@.ports[0].containerPort>50)].name}", "c1"),
    ("{.items[1].status.containerStatuses[?(@.ready==true)].name}", "c1"),
    ("{.items[?(@.status.containerStatuses[0].restartCount>2)].metadata.name}", "web"),
    ("{.items[0].nope}", ""),
    ("{.items[0].metadata.name.x}", ""),
    ('{"a\\tb"}', "a\tb"),
    ("{'x\\'y'}", "x'y"),
    ('{"\\u00e9\\x41\\101"}', "éAA"),
    ("{5}{true}{-2.5}{+3}", "5true-2.53"),
    ("{.kind.*}", "76 105 115 116"),  # a string's bytes, as Go ranges over them
])
def test_templates_print_like_kubectl(template: str, expected: str) -> None:
    assert run(template) == expected


def test_single_object_and_missing_keys() -> None:
    assert run("{.metadata.name} {.spec.containers[*].image}", WEB) == \
        "web nginx:1.25 busybox"
    assert run("{.status.podIP}", DB) == ""
    with pytest.raises(jsonpath.ExecError, match=r"^podIP is not found$"):
        run("{.status.podIP}", DB, allow_missing=False)
    # A filter's own missing keys are errors too then, but an existence test is not.
    assert run("{.items[?(@.status.podIP)].metadata.name}", allow_missing=False) == "web"
    with pytest.raises(jsonpath.ExecError, match="podIP is not found"):
        run('{.items[?(@.status.podIP=="x")].metadata.name}', allow_missing=False)


@pytest.mark.parametrize(("template", "message"), [
    ("{.items[", "unterminated array"),
    ("{.items[0].metadata.name", "unclosed action"),
    ("{.items[?(@.a==1)}", "unclosed array expect ]"),
    ('{.items[?(@.a=="x}', "unterminated filter"),
    ('{"unterminated}', "unterminated quoted string"),
    ('{"bad\\q"}', 'unquote string "bad\\q" error invalid syntax'),
    ('{.items[*]["metadata"]}', 'invalid array index "metadata"'),
    ("{.items[a]}", "invalid array index a"),
    ("{.items[1:a]}", "invalid array index 1:a"),
    ("{-}", "cannot parse number -"),
    ("{1.2.3}", "cannot parse number 1.2.3"),
    ("{#}", "unrecognized character in action: U+0023 '#'"),
    ("{....name}", "invalid multiple recursive descent"),
])
def test_parse_errors_have_client_go_wording(template: str, message: str) -> None:
    with pytest.raises(jsonpath.ParseError) as exc:
        jsonpath.parse(template)
    assert str(exc.value) == message


@pytest.mark.parametrize(("template", "message"), [
    ("{.items[5]}", "array index out of bounds: index 5, length 2"),
    ("{.items[1:0]}", "starting index 1 is greater than ending index 0"),
    ("{.items[::0]}", "step must be > 0"),
    ("{.kind[0]}", "string is not array or slice"),
    ("{.items[1].metadata.labels[*]}", "map[string]interface {} is not array or slice"),
    ("{.metadata[?(@.a)]}", "map[resourceVersion:] is not array or slice and cannot be filtered"),
    ("{end}", "not in range, nothing to end"),
    ("{range .items[*]}{.metadata.name}{end}{end}", "not in range, nothing to end"),
    ("{foo}", "unrecognized identifier foo"),
    ("{.items[1].spec.containers[0].ports[?(@.containerPort==80.0)].name}",
     "incompatible types for comparison"),
    ('{.items[1].spec.containers[0].ports[?(@.containerPort=="80")].name}',
     "incompatible types for comparison"),
    ("{.items[1].status.containerStatuses[?(@.ready<true)].name}",
     "invalid type for comparison"),
    ("{.items[1].status.containerStatuses[?(@.ready=true)].name}",
     "unrecognized filter operator ="),
    ('{.items[?(@.spec.containers[*].name=="c1")].metadata.name}',
     "can only compare one element at a time"),
])
def test_execution_errors_have_client_go_wording(template: str, message: str) -> None:
    with pytest.raises(jsonpath.ExecError) as exc:
        run(template)
    assert str(exc.value) == message


def test_values_print_as_go_prints_them() -> None:
    data = {"f": 1.5, "big": 1e6, "whole": 2.0, "tiny": 1e-7, "html": "<a&b>", "n": None,
            "m": {"b": [1, 2.5, True, None], "a": "x"}}
    assert run("{.f} {.big} {.whole} {.tiny} {.n}", data) == "1.5 1e+06 2 1e-07 null"
    assert run("{.m}", data) == '{"a":"x","b":[1,2.5,true,null]}'
    assert run("{@}", {"html": "<a&b>", "big": 1e6, "huge": 1e21}) == \
        '{"big":1000000,"html":"\\u003ca\\u0026b\\u003e","huge":1e+21}'
    assert jsonpath.go_sprint(data["m"]) == "map[a:x b:[1 2.5 true <nil>]]"
    assert jsonpath.go_sprint(123456789.0) == "1.23456789e+08"
    assert jsonpath.go_sprint(100000.0) == "100000"
    assert jsonpath.json_round_trip({"a": [2.0, 2.5, 1e300, True]}) == {"a": [2, 2.5, 1e300, True]}
    as_json = jsonpath.execute(jsonpath.parse("{.items[*].metadata.name}{.kind}"), LIST,
                               as_json=True)
    assert as_json == '[\n    "db",\n    "web"\n]\n[\n    "List"\n]\n'


def test_relaxed_paths_and_tabwriter_layout() -> None:
    for spec in ("metadata.name", ".metadata.name", "{metadata.name}", "{.metadata.name}"):
        assert jsonpath.relaxed(spec) == "{.metadata.name}"
    assert jsonpath.relaxed("") == ""
    with pytest.raises(jsonpath.ParseError, match="unexpected path string"):
        jsonpath.relaxed("{.a}{.b}")
    # Minimum cell width 6, padding 3, the last cell unpadded: what kubectl printed.
    assert columns_line(["NS", "K", "AV"], [3, 3, 2]) == "NS    K     AV"
    assert columns_line(["NAME", "IP"], [4, 8]) == "NAME   IP"


def test_deep_templates_fail_cleanly() -> None:
    deep: Any = "leaf"
    for _ in range(3000):
        deep = [deep]
    with pytest.raises(jsonpath.ExecError):
        run("{..x}", deep)
    with pytest.raises(jsonpath.ExecError):
        run("{@}", deep)
    assert jsonpath.column(jsonpath.parse("{.a}"), {"a": "x\x1b[2J\r"}) == "x^[[2J\\r"


# ---- minictl get against the real API server -----------------------------------------------


def make_pods(server_url: str, ns: str) -> None:
    for obj in (DB, WEB):
        body = {**obj, "metadata": {**obj["metadata"], "namespace": ns}}
        status = body.pop("status")
        created = post(server_url, f"/api/v1/namespaces/{ns}/pods", body)
        created["status"] = {**created.get("status", {}), **status}
        for cs in created["status"].get("containerStatuses", []):
            cs.setdefault("image", "nginx:1.25")
            cs.setdefault("imageID", "")
        put_status(server_url, f"/api/v1/namespaces/{ns}/pods/{obj['metadata']['name']}",
                   created)


def test_get_jsonpath_and_custom_columns(server_url: str, ns: str, tmp_path: Path) -> None:
    make_pods(server_url, ns)
    out = ok(server_url, "-n", ns, "get", "pods", "-o",
             'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.status.podIP}{"\\n"}{end}')
    assert out == "db\t\nweb\t10.0.0.5\n"
    assert ok(server_url, "-n", ns, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}") \
        == "db web"  # no newline of its own, as in kubectl
    assert ok(server_url, "-n", ns, "get", "pod", "web", "-o", "jsonpath={.kind}") == "Pod"
    assert ok(server_url, "-n", ns, "get", "pod", "web", "db", "-o", "jsonpath={.kind}") == "List"
    assert ok(server_url, "-n", ns, "get", "pods", "-o",
              'jsonpath={.items[?(@.status.phase=="Running")].metadata.name}') == "web"

    cols = "NAME:.metadata.name,IP:.status.podIP,IMAGES:.spec.containers[*].image,R:.status." \
        'conditions[?(@.type=="Ready")].status'
    out = ok(server_url, "-n", ns, "get", "pods", "-o", f"custom-columns={cols}")
    assert out.splitlines() == ["NAME   IP         IMAGES               R",
                                "db     <none>     postgres             <none>",
                                "web    10.0.0.5   nginx:1.25,busybox   True"]
    out = ok(server_url, "-n", ns, "get", "pods", "--no-headers", "-o",
             "custom-columns=NAME:metadata.name,LABELS:{.metadata.labels}")
    # No header to widen the column: the minimum width (6) rules.
    assert out.splitlines() == ["db    map[app:db]", "web   map[app:web tier:front]"]

    (tmp_path / "cols").write_text("NAME   PHASE\n{.metadata.name}   .status.phase\n")
    (tmp_path / "tmpl").write_text('{range .items[*]}{.metadata.name}{"\\n"}{end}')
    assert ok(server_url, "-n", ns, "get", "pods", "-o",
              f"custom-columns-file={tmp_path / 'cols'}").splitlines() == \
        ["NAME   PHASE", "db     Pending", "web    Running"]
    assert ok(server_url, "-n", ns, "get", "pods", "-o",
              f"jsonpath-file={tmp_path / 'tmpl'}") == "db\nweb\n"


def test_get_templates_on_nothing(server_url: str, ns: str) -> None:
    r = ok(server_url, "-n", ns, "get", "pods", "-o", "jsonpath={.kind}:{.items}")
    assert r == "List:[]"
    assert ok(server_url, "-n", ns, "get", "pods", "-o", "custom-columns=NAME:.metadata.name") \
        == "NAME\n"


def test_bad_templates_are_one_line_errors(server_url: str, ns: str) -> None:
    make_pods(server_url, ns)
    get = ("-n", ns, "get", "pods", "-o")
    assert fails(server_url, *get, "jsonpath={.items[") == \
        "error: error parsing jsonpath {.items[, unterminated array"
    assert fails(server_url, *get, "jsonpath={.items[5]}") == \
        'error: error executing jsonpath "{.items[5]}": Error executing template: ' \
        "array index out of bounds: index 5, length 2"
    assert fails(server_url, *get, "jsonpath={.items[0].nope}",
                 "--allow-missing-template-keys=false").endswith("nope is not found")
    assert fails(server_url, *get, "jsonpath") == \
        "error: template format specified but no template given"
    assert fails(server_url, *get, "custom-columns=") == \
        "error: custom-columns format specified but no custom columns given"
    assert fails(server_url, *get, "custom-columns=NAME") == \
        "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"
    assert fails(server_url, *get, "custom-columns=A:.items[") == "error: unterminated array"
    assert fails(server_url, *get, "custom-columns=A:.kind[0]") == \
        "error: string is not array or slice"
    assert fails(server_url, *get, "jsonpath-file=/nonexistent/t") == \
        "error: error reading --template /nonexistent/t, open /nonexistent/t: " \
        "no such file or directory"
    assert "allowed formats are: custom-columns,custom-columns-file,json,jsonpath," in \
        fails(server_url, *get, "jsonpaths={.kind}")


def test_watch_prints_each_object_through_the_template(server_url: str, ns: str) -> None:
    make_pods(server_url, ns)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "cli", "--server", server_url, "-n", ns, "get", "pods", "-w",
            "--request-timeout=20s"]
    procs = [subprocess.Popen([*argv, "-o", "custom-columns=NAME:.metadata.name,IP:.status"
                               ".podIP"], stdout=subprocess.PIPE, text=True, env=env),
             subprocess.Popen([*argv, "-o", 'jsonpath={.metadata.name}{"\\n"}'],
                              stdout=subprocess.PIPE, text=True, env=env)]
    lines: list[queue.Queue[str]] = [queue.Queue(), queue.Queue()]

    def pump(p: subprocess.Popen[str], q: queue.Queue[str]) -> None:
        assert p.stdout is not None
        for line in p.stdout:
            q.put(line.rstrip("\n"))

    seen: list[list[str]] = [[], []]

    def has(i: int, n: int) -> bool:
        while not lines[i].empty():
            seen[i].append(lines[i].get())
        return len(seen[i]) >= n

    threads = [threading.Thread(target=pump, args=(p, q), daemon=True)
               for p, q in zip(procs, lines, strict=True)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: has(0, 3) and has(1, 2), timeout=20)
        post(server_url, f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a-much-longer-name"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
        wait_for(lambda: has(0, 4) and has(1, 3), timeout=20)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    assert seen[0][:3] == ["NAME   IP", "db     <none>", "web    10.0.0.5"]
    # No second header; the column widens for the longer name, as kubectl's tabwriter does.
    assert seen[0][3:] == ["a-much-longer-name   <none>"]
    assert seen[1] == ["db", "web", "a-much-longer-name"]


def test_same_output_as_kubectl(kubectl: Kubectl, server_url: str, ns: str) -> None:
    make_pods(server_url, ns)
    # Floats print differently in a List (kubectl re-encodes it: 1e6 becomes an integer).
    code, body = json_request(
        "PATCH", f"{server_url}/api/v1/namespaces/{ns}/pods/db/status",
        {"status": {"x": {"f": 1000000.0, "g": 0.00001, "h": 2.5, "s": "<&>"}}},
        content_type="application/merge-patch+json")
    assert code == 200, body
    cases = [
        ["pods", '-ojsonpath={range .items[*]}{.metadata.name}{"\\t"}'
         '{.spec.containers[*].image}{"\\t"}{.metadata.labels}{"\\t"}'
         '{.status.containerStatuses[0].ready}{"\\n"}{end}'],
        ["pods", "-ocustom-columns=NAME:.metadata.name,IP:.status.podIP,"
         "PORTS:.spec.containers[*].ports[*].containerPort,C:.status.conditions,"
         'READY:.status.containerStatuses[?(@.name=="c1")].ready'],
        ["pods", "-ojsonpath={.items[0].status.x} {.items[0].status.x.f}",
         "--allow-missing-template-keys=false"],
        ["pods", "-ocustom-columns=X:.status.x,F:.status.x.f,G:.status.x.g"],
        ["pod", "db", "-ojsonpath={.status.x} {.status.x.f} {.status.x.g}"],
    ]
    for args in cases:
        want = kubectl("-n", ns, "get", *args, check=False)
        assert want.returncode == 0, want.stderr
        assert want.stdout.strip(), args
        assert ok(server_url, "-n", ns, "get", *args) == want.stdout, args
