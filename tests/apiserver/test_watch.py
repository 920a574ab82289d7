"""Watch semantics against the shared API server: order, resumption, selectors,
initial state, watch-list, timeouts, fan-out."""

from __future__ import annotations

from testing.apiclient import Api, Watch, names, pod


def test_initial_state_then_live_in_order(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", base, pod("a"), 201)
    api.ok("POST", base, pod("b"), 201)
    w = Watch(server_url, base, timeoutSeconds=20)
    try:
        first = w.collect(2)
        assert sorted(names(first)) == [("ADDED", "a"), ("ADDED", "b")]
        api.ok("POST", base, pod("c"), 201)
        p = api.ok("GET", f"{base}/a")
        p["metadata"]["labels"]["v"] = "2"
        api.ok("PUT", f"{base}/a", p)
        api.ok("DELETE", f"{base}/b")
        live = w.collect(3)
        assert names(live) == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in live]
        assert rvs == sorted(rvs) and len(set(rvs)) == 3
        assert live[1]["object"]["metadata"]["labels"]["v"] == "2"
        assert w.quiet(0.3)
    finally:
        w.close()


def test_resume_from_resource_version(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    lst = api.ok("GET", base)
    rv0 = lst["metadata"]["resourceVersion"]
    created = [api.ok("POST", base, pod(f"r{i}"), 201) for i in range(5)]
    mid = created[1]["metadata"]["resourceVersion"]
    w = Watch(server_url, base, resourceVersion=rv0, timeoutSeconds=20)
    try:
        evs = w.collect(5)
        assert names(evs) == [("ADDED", f"r{i}") for i in range(5)]
        assert w.quiet(0.3)
    finally:
        w.close()
    # From the middle: exactly the later events, nothing repeated.
    w = Watch(server_url, base, resourceVersion=mid, timeoutSeconds=20)
    try:
        assert names(w.collect(3)) == [("ADDED", f"r{i}") for i in (2, 3, 4)]
        assert w.quiet(0.3)
    finally:
        w.close()


def test_list_then_watch_misses_nothing(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    for i in range(3):
        api.ok("POST", base, pod(f"x{i}"), 201)
    lst = api.ok("GET", base)
    api.ok("POST", base, pod("after"), 201)
    w = Watch(server_url, base, resourceVersion=lst["metadata"]["resourceVersion"],
              timeoutSeconds=20)
    try:
        assert names(w.collect(1)) == [("ADDED", "after")]
        assert w.quiet(0.3)
    finally:
        w.close()


def test_label_selector_enter_and_leave(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", base, pod("s1", {"app": "web"}), 201)
    api.ok("POST", base, pod("s2", {"app": "db"}), 201)
    w = Watch(server_url, base, labelSelector="app=web", timeoutSeconds=20)
    try:
        assert names(w.collect(1)) == [("ADDED", "s1")]
        # s1 leaves the selector: DELETED; s2 enters: ADDED.
        api.ok("PATCH", f"{base}/s1", {"metadata": {"labels": {"app": "db"}}},
               content_type="application/merge-patch+json")
        api.ok("PATCH", f"{base}/s2", {"metadata": {"labels": {"app": "web"}}},
               content_type="application/merge-patch+json")
        api.ok("PATCH", f"{base}/s2", {"metadata": {"annotations": {"k": "v"}}},
               content_type="application/merge-patch+json")
        api.ok("POST", base, pod("s3", {"app": "db"}), 201)  # never matches
        evs = w.collect(3)
        assert names(evs) == [("DELETED", "s1"), ("ADDED", "s2"), ("MODIFIED", "s2")]
        # The DELETED object is the last state that matched, at the new resourceVersion.
        assert evs[0]["object"]["metadata"]["labels"]["app"] == "web"
        assert int(evs[0]["object"]["metadata"]["resourceVersion"]) > 0
        assert w.quiet(0.3)
    finally:
        w.close()


def test_field_selector_node_name(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    w = Watch(server_url, "/api/v1/pods", fieldSelector="spec.nodeName=node-w",
              timeoutSeconds=20)
    try:
        api.ok("POST", base, pod("f1"), 201)
        api.ok("POST", f"{base}/f1/binding", {"target": {"name": "node-w"}}, 201)
        ev = w.next_non_bookmark()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "f1")
        assert ev["object"]["spec"]["nodeName"] == "node-w"
    finally:
        w.close()


def test_watch_single_object_path(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", base, pod("one"), 201)
    api.ok("POST", base, pod("two"), 201)
    w = Watch(server_url, f"{base}/one", timeoutSeconds=20)
    try:
        assert names(w.collect(1)) == [("ADDED", "one")]
        api.ok("DELETE", f"{base}/two")
        api.ok("DELETE", f"{base}/one")
        assert names(w.collect(1)) == [("DELETED", "one")]
    finally:
        w.close()


def test_timeout_seconds_ends_stream(api: Api, ns: str, server_url: str) -> None:
    w = Watch(server_url, f"/api/v1/namespaces/{ns}/pods", timeoutSeconds=1)
    try:
        assert w.closed(timeout=5)
    finally:
        w.close()


def test_send_initial_events_watch_list(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", base, pod("i1"), 201)
    api.ok("POST", base, pod("i2"), 201)
    w = Watch(server_url, base, sendInitialEvents="true", allowWatchBookmarks="true",
              resourceVersionMatch="NotOlderThan", timeoutSeconds=20)
    try:
        evs = [w.next(), w.next(), w.next()]
        assert sorted(names(evs[:2])) == [("ADDED", "i1"), ("ADDED", "i2")]
        bm = evs[2]
        assert bm["type"] == "BOOKMARK"
        assert bm["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert int(bm["object"]["metadata"]["resourceVersion"]) >= max(
            int(e["object"]["metadata"]["resourceVersion"]) for e in evs[:2])
        api.ok("POST", base, pod("i3"), 201)
        assert names([w.next_non_bookmark()]) == [("ADDED", "i3")]
    finally:
        w.close()
    code, body = api.call("GET", base, watch="1", sendInitialEvents="true")
    assert code == 422 and body["reason"] == "Invalid"


def test_fan_out_every_watcher_same_events(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    rv = api.ok("GET", base)["metadata"]["resourceVersion"]
    watchers = [Watch(server_url, base, resourceVersion=rv, timeoutSeconds=20)
                for _ in range(8)]
    try:
        for i in range(10):
            api.ok("POST", base, pod(f"fo{i}"), 201)
        want = [("ADDED", f"fo{i}") for i in range(10)]
        for w in watchers:
            assert names(w.collect(10)) == want
    finally:
        for w in watchers:
            w.close()


def test_deployments_watch_all_namespaces(api: Api, ns: str, server_url: str) -> None:
    from testing.apiclient import deployment

    w = Watch(server_url, "/apis/apps/v1/deployments", labelSelector="team=w",
              timeoutSeconds=20)
    try:
        d = deployment("wd")
        d["metadata"]["labels"] = {"team": "w"}
        api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", d, 201)
        ev = w.next_non_bookmark()
        assert ev["type"] == "ADDED" and ev["object"]["kind"] == "Deployment"
        assert ev["object"]["metadata"]["namespace"] == ns
    finally:
        w.close()


def test_legacy_watch_path(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", base, pod("lw"), 201)
    w = Watch(server_url, f"/api/v1/watch/namespaces/{ns}/pods", watch=None,
              timeoutSeconds=20)
    try:
        assert names(w.collect(1)) == [("ADDED", "lw")]
    finally:
        w.close()


def test_client_disconnect_frees_the_watcher(api: Api, server_url: str) -> None:
    import re

    from testing.support import wait_for

    def open_node_watches() -> float:
        text = api.client.get("/metrics").text
        m = re.search(r'^apiserver_registered_watchers\{resource="nodes"\} (\S+)$', text, re.M)
        return float(m.group(1)) if m else 0.0

    before = open_node_watches()
    w = Watch(server_url, "/api/v1/nodes", fieldSelector="metadata.name=nobody",
              timeoutSeconds=600)
    wait_for(lambda: open_node_watches() == before + 1, timeout=5, message="watch open")
    w.close()
    # Nothing is ever sent on this watch: the server must notice the disconnect itself.
    wait_for(lambda: open_node_watches() == before, timeout=5, message="watch freed")
