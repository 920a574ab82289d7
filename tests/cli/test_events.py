"""minictl events beside the real kubectl events on the same server: the same rows (LAST SEEN
compared apart, it moves with the clock), order, filters, messages and exit codes."""

from __future__ import annotations

import datetime
import re
import subprocess
import time

import pytest

from testing.apiclient import Api
from testing.kubectl import Kubectl
from tests.cli.helpers import mctl

AGO = re.compile(r"^(<unknown>|\d+[smhdy](\d+[smh])?( \(x\d+ over \d+[smhdy](\d+[smh])?\))?)$")


def ts(seconds_ago: int) -> str:
    t = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def events(api: Api, ns: str) -> str:
    def core(name: str, kind: str, obj: str, reason: str, typ: str, ago: int,
             count: int = 1, message: str = "") -> None:
        api.ok("POST", f"/api/v1/namespaces/{ns}/events", {
            "metadata": {"name": name},
            "involvedObject": {"kind": kind, "name": obj, "namespace": ns,
                               "apiVersion": "apps/v1" if kind == "Deployment" else "v1"},
            "reason": reason, "type": typ, "message": message or f"{reason} {obj}",
            "count": count, "firstTimestamp": ts(ago + 60), "lastTimestamp": ts(ago),
            "source": {"component": "test"}}, 201)
    core("e1", "Pod", "web-0", "Scheduled", "Normal", 300)
    core("e2", "Pod", "web-0", "BackOff", "Warning", 30, count=5,
         message="  Back-off restarting failed container \n")
    core("e3", "Deployment", "web", "ScalingReplicaSet", "Normal", 120)
    api.ok("POST", f"/apis/events.k8s.io/v1/namespaces/{ns}/events", {
        "metadata": {"name": "e4"}, "eventTime": ts(10).replace("Z", ".000000Z"),
        "reportingController": "example.com/ctl", "reportingInstance": "i", "action": "A",
        "reason": "Synced", "type": "Normal", "note": "synced",
        "series": {"count": 3, "lastObservedTime": ts(5).replace("Z", ".000000Z")},
        "regarding": {"kind": "Pod", "name": "web-1", "namespace": ns, "apiVersion": "v1"}},
        201)
    return ns


def split(out: str) -> list[list[str]]:
    """Rows as cells (tabwriter columns: 3+ spaces apart), LAST SEEN checked and dropped."""
    rows = [re.split(r"\s{3,}", ln.rstrip()) for ln in out.splitlines() if ln.strip()]
    for r in rows[1:] if rows and rows[0][0] in ("LAST SEEN", "NAMESPACE") else rows:
        i = 1 if len(r) == 6 else 0
        assert AGO.match(r[i]), r
        r[i] = "*"
    return rows


def same(server: str, kubectl: Kubectl, *args: str) -> str:
    r = mctl(server, "events", *args)
    k = kubectl("events", *args, check=False)
    assert (r.exit_code, split(r.stdout)) == (k.returncode, split(k.stdout)), args
    assert r.stderr.strip() == k.stderr.strip().removeprefix("error: ").strip() or \
        r.stderr.strip() == k.stderr.strip(), (r.stderr, k.stderr)
    return r.stdout


def test_events_as_kubectl(server_url: str, kubectl: Kubectl, events: str) -> None:
    out = same(server_url, kubectl, "-n", events)
    rows = split(out)
    assert rows[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    # oldest first; OBJECT is Kind/name; the message trimmed
    assert [r[2] for r in rows[1:]] == ["Scheduled", "ScalingReplicaSet", "BackOff", "Synced"]
    assert rows[3][3:] == ["Pod/web-0", "Back-off restarting failed container"]
    assert "(x5 over" in out and "(x3 over" in out
    out = same(server_url, kubectl, "-n", events, "--for", "pod/web-0")
    assert [r[2] for r in split(out)[1:]] == ["Scheduled", "BackOff"]
    out = same(server_url, kubectl, "-n", events, "--for", "deploy/web", "--no-headers")
    assert [r[2] for r in split(out)] == ["ScalingReplicaSet"]
    same(server_url, kubectl, "-n", events, "--types", "Warning")
    same(server_url, kubectl, "-n", events, "--types", "warning,Normal")


def test_events_errors_and_empty(server_url: str, kubectl: Kubectl, ns: str) -> None:
    for args in (("-n", ns), ("-n", ns, "--types", "Bad"), ("-n", ns, "--for", "web"),
                 ("-n", ns, "--for", "pod/a/b")):
        r = mctl(server_url, "events", *args)
        k = kubectl("events", *args, check=False)
        assert (r.exit_code, r.stdout) == (k.returncode, k.stdout), args
        assert r.stderr.strip() == k.stderr.strip(), args
    assert "No events found in" in mctl(server_url, "events", "-n", ns).stderr


def test_events_all_namespaces_and_json(server_url: str, kubectl: Kubectl,
                                        events: str) -> None:
    r = mctl(server_url, "events", "-A")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    # other tests' events are listed too, in any shape: only this namespace's rows are read
    mine = split("\n".join([lines[0], *(ln for ln in lines if ln.startswith(events + " "))]))
    assert mine[0][:2] == ["NAMESPACE", "LAST SEEN"]
    assert [row[3] for row in mine[1:]] == ["Scheduled", "ScalingReplicaSet", "BackOff",
                                            "Synced"]
    import json

    doc = json.loads(mctl(server_url, "events", "-n", events, "-o", "json").stdout)
    theirs = json.loads(kubectl("events", "-n", events, "-o", "json").stdout)
    assert doc["kind"] == theirs["kind"] == "EventList"
    assert [e["metadata"]["name"] for e in doc["items"]] == \
        [e["metadata"]["name"] for e in theirs["items"]]


def test_events_watch(server_url: str, api: Api, events: str) -> None:
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "--server", server_url, "events", "-n", events,
         "--for", "pod/web-9", "-w"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        api.ok("POST", f"/api/v1/namespaces/{events}/events", {
            "metadata": {"name": "w1"},
            "involvedObject": {"kind": "Pod", "name": "web-9", "namespace": events,
                               "apiVersion": "v1"},
            "reason": "Pulled", "type": "Normal", "message": "pulled",
            "firstTimestamp": ts(0), "lastTimestamp": ts(0), "count": 1}, 201)
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(lines) < 2:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
        assert re.split(r"\s{3,}", lines[0]) == ["LAST SEEN", "TYPE", "REASON", "OBJECT",
                                                  "MESSAGE"]
        assert re.split(r"\s{3,}", lines[1])[1:] == ["Normal", "Pulled", "Pod/web-9",
                                                     "pulled"]
    finally:
        proc.terminate()
        proc.wait(10)
