"""/metrics on the real API server: request counts and latencies, open watches, etcd
latency and watch cache sizes move when the server works."""

from __future__ import annotations

import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from testing.support import json_request, unique, wait_for


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(m: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return m.get((name, frozenset(labels.items())), 0.0)


def test_request_and_etcd_metrics(server_url: str) -> None:
    before = scrape(server_url)
    ns = "default"
    name = unique("m")
    code, _ = json_request("POST", f"{server_url}/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert code == 201
    assert json_request("GET", f"{server_url}/api/v1/namespaces/{ns}/pods/{name}")[0] == 200
    assert json_request("GET", f"{server_url}/api/v1/namespaces/{ns}/pods/{name}-x")[0] == 404
    assert json_request("GET", f"{server_url}/api/v1/namespaces/{ns}/pods")[0] == 200
    after = scrape(server_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    common = {"resource": "pods", "subresource": ""}
    assert delta("apiserver_request_total", verb="POST", code="201", **common) == 1
    assert delta("apiserver_request_total", verb="GET", code="200", **common) == 1
    assert delta("apiserver_request_total", verb="GET", code="404", **common) == 1
    assert delta("apiserver_request_total", verb="LIST", code="200", **common) == 1
    assert delta("apiserver_request_duration_seconds_count", verb="POST", **common) == 1
    assert value(after, "apiserver_request_duration_seconds_bucket", verb="POST",
                 le="+Inf", **common) >= 1
    etcd_calls = sum(v for (n, _), v in after.items()
                     if n == "etcd_request_duration_seconds_count") - \
        sum(v for (n, _), v in before.items() if n == "etcd_request_duration_seconds_count")
    assert etcd_calls >= 1  # at least the create's transaction
    assert value(after, "apiserver_watch_cache_size", resource="pods", kind="objects") >= 1


def test_open_watches_gauge(server_url: str) -> None:
    gauge = "apiserver_registered_watchers"
    before = scrape(server_url)
    base = value(before, gauge, resource="nodes")
    done = threading.Event()

    def watch() -> None:
        url = f"{server_url}/api/v1/nodes?watch=1&timeoutSeconds=3"
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
        done.set()

    threading.Thread(target=watch, daemon=True).start()
    wait_for(lambda: value(scrape(server_url), gauge, resource="nodes") == base + 1,
             timeout=5, message="the watch to be counted")
    node = unique("mnode")
    assert json_request("POST", f"{server_url}/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})[0] == 201
    assert json_request("DELETE", f"{server_url}/api/v1/nodes/{node}")[0] == 200
    assert done.wait(10)
    sent = value(scrape(server_url), "apiserver_watch_events_total", resource="nodes") - \
        value(before, "apiserver_watch_events_total", resource="nodes")
    assert sent >= 2  # ADDED and DELETED of the node at least
    wait_for(lambda: value(scrape(server_url), gauge, resource="nodes") == base,
             timeout=5, message="the watch to be uncounted")
