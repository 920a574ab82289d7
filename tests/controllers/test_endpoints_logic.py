"""The Endpoints and EndpointSlice controllers' pure functions (no server): which pods
belong, named targetPorts per pod, RepackSubsets, truncation, slice packing at 100 and
minimal churn."""

from __future__ import annotations

from typing import Any

from api import wellknown as wk
from api.models import Pod, Service
from api.models.core import EndpointAddress, EndpointPort, EndpointSubset, ObjectReference
from api.models.discovery import EndpointSlice
from controllers import endpoints_util as eu
from controllers import endpointslice_util as su

NOW = "2026-01-01T00:00:00Z"


def svc(name: str = "web", ports: list[dict[str, Any]] | None = None, *,
        selector: dict[str, str] | None = None, cluster_ip: str = "10.96.0.20",
        publish: bool = False, labels: dict[str, str] | None = None) -> Service:
    spec: dict[str, Any] = {
        "selector": {"app": "web"} if selector is None else selector,
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        if ports is None else ports,
        "clusterIP": cluster_ip, "ipFamilies": ["IPv4"]}
    if publish:
        spec["publishNotReadyAddresses"] = True
    return Service.from_dict({"metadata": {"name": name, "namespace": "ns", "uid": "svc-uid",
                                           "labels": labels or {}}, "spec": spec})


def pod(name: str, ip: str | None, *, ready: bool = True, phase: str = "Running",
        ports: list[dict[str, Any]] | None = None, deleting: bool = False,
        labels: dict[str, str] | None = None, node: str = "n1",
        hostname: str | None = None, subdomain: str | None = None, rv: str = "1") -> Pod:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                            "labels": {"app": "web"} if labels is None else labels,
                            "resourceVersion": rv}
    if deleting:
        meta["deletionTimestamp"] = NOW
    spec: dict[str, Any] = {"nodeName": node, "containers": [
        {"name": "c", "image": "nginx", "ports": ports or []}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    status: dict[str, Any] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return Pod.from_dict({"metadata": meta, "spec": spec, "status": status})


def addr(ip: str, name: str) -> EndpointAddress:
    return EndpointAddress(ip=ip, node_name="n1", target_ref=ObjectReference(
        kind="Pod", namespace="ns", name=name, uid=f"uid-{name}"))


# ---- membership and ports -----------------------------------------------------


def test_should_pod_be_in_endpoints() -> None:
    assert eu.should_pod_be_in_endpoints(pod("a", "10.0.0.1"), False)
    assert not eu.should_pod_be_in_endpoints(pod("a", None), True)
    assert not eu.should_pod_be_in_endpoints(pod("a", "10.0.0.1", phase="Succeeded"), True)
    assert not eu.should_pod_be_in_endpoints(pod("a", "10.0.0.1", deleting=True), False)
    assert eu.should_pod_be_in_endpoints(pod("a", "10.0.0.1", deleting=True), True)


def test_find_port_number_name_and_protocol() -> None:
    s = svc(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"},
                   {"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"},
                   {"name": "plain", "port": 81}])
    p = pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080},
                                   {"name": "dns", "containerPort": 5353, "protocol": "TCP"}])
    http, dns, plain = s.spec.ports or []
    assert eu.find_port(p, http) == 8080
    assert eu.find_port(p, plain) == 81  # no targetPort: the port itself
    try:
        eu.find_port(p, dns)  # the name exists, but for TCP only
        raise AssertionError("expected PortNotFound")
    except eu.PortNotFound:
        pass


def test_named_target_port_resolved_per_pod_in_endpoints() -> None:
    s = svc(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    a = pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080}])
    b = pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 9090}])
    c = pod("c", "10.0.0.3")  # no such port: not an endpoint of that port
    subsets, counts = eu.compute_subsets(s, [a, b, c])
    assert counts.ready == 2
    got = sorted(((ss.addresses or [])[0].ip, (ss.ports or [])[0].port) for ss in subsets)
    assert got == [("10.0.0.1", 8080), ("10.0.0.2", 9090)]
    plan = su.plan_slices(s, [a, b, c], [])
    # one slice per port list, as Kubernetes: c, which lacks the port, in a port-less one
    got_slices = sorted(([p.port for p in sl.ports or []], [e.addresses[0] for e in sl.endpoints])
                        for sl in plan.to_create)
    assert got_slices == [([], ["10.0.0.3"]), ([8080], ["10.0.0.1"]), ([9090], ["10.0.0.2"])]


def test_ready_not_ready_terminating_and_publish() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False),
            pod("c", "10.0.0.3", deleting=True)]
    subsets, counts = eu.compute_subsets(svc(), pods)
    assert (counts.ready, counts.not_ready) == (1, 1)
    assert len(subsets) == 1
    assert [a.ip for a in subsets[0].addresses or []] == ["10.0.0.1"]
    assert [a.ip for a in subsets[0].not_ready_addresses or []] == ["10.0.0.2"]
    subsets, counts = eu.compute_subsets(svc(publish=True), pods)
    assert (counts.ready, counts.not_ready) == (3, 0)  # terminating too, all ready

    plan = su.plan_slices(svc(), pods, [])
    (sl,) = plan.to_create
    conds = {(e.target_ref.name if e.target_ref else ""): e.conditions for e in sl.endpoints}
    assert conds["a"] is not None and conds["a"].ready and conds["a"].serving
    assert conds["b"] is not None and not conds["b"].ready and not conds["b"].serving
    c = conds["c"]
    assert c is not None and (c.ready, c.serving, c.terminating) == (False, True, True)


def test_hostname_only_when_subdomain_is_the_service() -> None:
    a = pod("a", "10.0.0.1", hostname="h0", subdomain="web")
    b = pod("b", "10.0.0.2", hostname="h1", subdomain="other")
    subsets, _ = eu.compute_subsets(svc(), [a, b])
    hosts = {x.ip: x.hostname for x in subsets[0].addresses or []}
    assert hosts == {"10.0.0.1": "h0", "10.0.0.2": None}
    eps = {e.addresses[0]: e.hostname for e in su.plan_slices(svc(), [a, b], []).to_create[0]
           .endpoints}
    assert eps == {"10.0.0.1": "h0", "10.0.0.2": None}


def test_headless_without_ports_and_labels() -> None:
    s = svc(ports=[], cluster_ip="None")
    subsets, counts = eu.compute_subsets(s, [pod("a", "10.0.0.1")])
    assert counts.ready == 1 and subsets[0].ports is None
    (sl,) = su.plan_slices(s, [pod("a", "10.0.0.1")], []).to_create
    assert sl.metadata.labels is not None
    assert sl.metadata.labels[wk.IS_HEADLESS_SERVICE_LABEL] == ""
    # without a ClusterIP nor ports, a non-headless Service gets nothing
    assert eu.compute_subsets(svc(ports=[]), [pod("a", "10.0.0.1")])[0] == []


# ---- RepackSubsets -----------------------------------------------------------------


def test_repack_groups_addresses_by_port_set() -> None:
    p80 = EndpointPort(name="http", port=80, protocol="TCP")
    p443 = EndpointPort(name="https", port=443, protocol="TCP")
    subsets = [
        EndpointSubset(addresses=[addr("10.0.0.2", "b")], ports=[p80]),
        EndpointSubset(addresses=[addr("10.0.0.1", "a")], ports=[p80]),
        EndpointSubset(addresses=[addr("10.0.0.1", "a")], ports=[p443]),
        EndpointSubset(addresses=[addr("10.0.0.2", "b")], ports=[p443]),
        EndpointSubset(addresses=[addr("10.0.0.3", "c")], ports=[p80]),
    ]
    out = eu.repack_subsets(subsets)
    shape = [([a.ip for a in s.addresses or []], [p.port for p in s.ports or []]) for s in out]
    assert shape == [(["10.0.0.1", "10.0.0.2", "10.0.0.3"], [80]),
                     (["10.0.0.1", "10.0.0.2"], [443])]
    # two addresses serving the same two ports share one subset
    out = eu.repack_subsets(subsets[:4])
    shape = [([a.ip for a in s.addresses or []], [p.port for p in s.ports or []]) for s in out]
    assert shape == [(["10.0.0.1", "10.0.0.2"], [80, 443])]
    # same input in another order, same output
    assert eu.subsets_equal(out, eu.repack_subsets(list(reversed(subsets[:4]))))


def test_repack_not_ready_trumps_ready() -> None:
    p80 = EndpointPort(port=80, protocol="TCP")
    out = eu.repack_subsets([
        EndpointSubset(addresses=[addr("10.0.0.1", "a")], ports=[p80]),
        EndpointSubset(not_ready_addresses=[addr("10.0.0.1", "a")], ports=[p80]),
    ])
    assert len(out) == 1 and out[0].addresses is None
    assert [a.ip for a in out[0].not_ready_addresses or []] == ["10.0.0.1"]


def test_repack_sorts_ips_numerically() -> None:
    p = EndpointPort(port=80)
    out = eu.repack_subsets([EndpointSubset(addresses=[addr(f"10.0.0.{i}", str(i))], ports=[p])
                             for i in (10, 9, 100, 1)])
    assert [a.ip for a in out[0].addresses or []] == ["10.0.0.1", "10.0.0.9", "10.0.0.10",
                                                      "10.0.0.100"]


def test_subsets_equal_ignores_target_ref_resource_version() -> None:
    a = addr("10.0.0.1", "a")
    b = addr("10.0.0.1", "a")
    assert b.target_ref is not None
    b.target_ref.resource_version = "99"
    assert eu.subsets_equal([EndpointSubset(addresses=[a])], [EndpointSubset(addresses=[b])])
    b.node_name = "n2"
    assert not eu.subsets_equal([EndpointSubset(addresses=[a])], [EndpointSubset(addresses=[b])])


def test_truncate_keeps_ready_first() -> None:
    ready = [addr(f"10.0.{i // 250}.{i % 250}", f"r{i}") for i in range(900)]
    not_ready = [addr(f"10.1.{i // 250}.{i % 250}", f"n{i}") for i in range(300)]
    subsets = [EndpointSubset(addresses=ready, not_ready_addresses=not_ready,
                              ports=[EndpointPort(port=80)])]
    assert eu.truncate_subsets(subsets)
    assert len(subsets[0].addresses or []) == 900
    assert len(subsets[0].not_ready_addresses or []) == 100
    assert not eu.truncate_subsets(subsets)


# ---- pod -> Services -----------------------------------------------------------------


def test_services_to_update() -> None:
    table = {"app=web": {"ns/web"}, "app=api": {"ns/api"}}

    def services_for(ns: str, labels: Any) -> set[str]:
        out: set[str] = set()
        for k, v in (labels or {}).items():
            out |= table.get(f"{k}={v}", set())
        return out

    a = pod("a", "10.0.0.1", rv="1")
    assert eu.services_to_update(services_for, None, a) == {"ns/web"}
    assert eu.services_to_update(services_for, a, None) == {"ns/web"}
    assert eu.services_to_update(services_for, a, a) == set()  # a resync
    annotated = pod("a", "10.0.0.1", rv="2")
    annotated.metadata.annotations = {"x": "y"}
    assert eu.services_to_update(services_for, a, annotated) == set()
    unready = pod("a", "10.0.0.1", ready=False, rv="2")
    assert eu.services_to_update(services_for, a, unready) == {"ns/web"}
    moved = pod("a", "10.0.0.1", labels={"app": "api"}, rv="2")
    assert eu.services_to_update(services_for, a, moved) == {"ns/web", "ns/api"}
    relabelled = pod("a", "10.0.0.1", labels={"app": "web", "tier": "x"}, rv="2")
    assert eu.services_to_update(services_for, a, relabelled) == set()  # same Services


def test_selector_index() -> None:
    s = svc(selector={"b": "2", "a": "1"})
    assert eu.selector_index(s) == ["ns/a=1"]
    assert eu.selector_index(svc(selector={})) == ["ns/"]
    none = svc()
    none.spec.selector = None
    assert eu.selector_index(none) == []
    keys = eu.selector_index_keys_for_pod("ns", {"a": "1", "b": "2"})
    assert "ns/a=1" in keys and "ns/" in keys
    assert eu.selects(s, {"a": "1", "b": "2", "c": "3"}) and not eu.selects(s, {"a": "1"})
    assert not eu.selects(none, {"a": "1"})


# ---- slice packing and churn --------------------------------------------------------


def _apply(plan: su.SlicePlan, existing: list[EndpointSlice]) -> list[EndpointSlice]:
    """What the API would hold after the plan (creates get names and uids)."""
    by_name = {s.metadata.name: s for s in existing}
    for s in plan.to_delete:
        by_name.pop(s.metadata.name, None)
    for s in plan.to_update:
        by_name[s.metadata.name] = s
    for i, s in enumerate(plan.to_create):
        s = s.copy_deep()
        s.metadata.name = f"{s.metadata.generate_name}{len(by_name)}x{i}"
        by_name[s.metadata.name] = s
    return list(by_name.values())


def many(n: int, ready: bool = True, start: int = 0) -> list[Pod]:
    return [pod(f"p{i}", f"10.1.{i // 250}.{i % 250 + 1}", ready=ready)
            for i in range(start, start + n)]


def test_250_pods_make_three_slices_of_at_most_100() -> None:
    s = svc(labels={"team": "x"})
    plan = su.plan_slices(s, many(250), [])
    assert sorted(len(x.endpoints) for x in plan.to_create) == [50, 100, 100]
    for x in plan.to_create:
        assert x.metadata.generate_name == "web-"
        assert x.metadata.labels == {"team": "x", wk.LABEL_SERVICE_NAME: "web",
                                     wk.LABEL_MANAGED_BY: wk.ENDPOINTSLICE_CONTROLLER_NAME}
        (ref,) = x.metadata.owner_references or []
        assert (ref.kind, ref.name, ref.uid, ref.controller) == ("Service", "web", "svc-uid",
                                                                 True)
        assert x.address_type == "IPv4"
        assert [(p.name, p.port, p.protocol) for p in x.ports or []] == [("http", 8080, "TCP")]
    slices = _apply(plan, [])
    assert su.plan_slices(s, many(250), slices).empty  # converged: nothing to write


def test_churn_one_pod_changes_one_slice() -> None:
    s = svc()
    slices = _apply(su.plan_slices(s, many(250), []), [])
    pods = many(250)
    pods[7] = pod("p7", "10.1.0.8", ready=False)
    plan = su.plan_slices(s, pods, slices)
    assert (len(plan.to_create), len(plan.to_update), len(plan.to_delete)) == (0, 1, 0)
    slices = _apply(plan, slices)
    # a new pod goes into the slice that has room, not a new one
    plan = su.plan_slices(s, [*pods, *many(1, start=250)], slices)
    assert (len(plan.to_create), len(plan.to_update), len(plan.to_delete)) == (0, 1, 0)
    assert len(plan.to_update[0].endpoints) == 51


def test_scale_down_to_zero_leaves_a_placeholder_by_updating() -> None:
    s = svc()
    slices = _apply(su.plan_slices(s, many(5), []), [])
    assert len(slices) == 1
    plan = su.plan_slices(s, [], slices)
    # finalize turns "delete the slice, create a placeholder" into one update
    assert (len(plan.to_create), len(plan.to_update), len(plan.to_delete)) == (0, 1, 0)
    (ph,) = plan.to_update
    assert ph.endpoints == [] and not ph.ports and ph.metadata.name == slices[0].metadata.name
    slices = _apply(plan, slices)
    assert su.plan_slices(s, [], slices).empty  # the placeholder stays


def test_no_pods_no_slices_creates_placeholder() -> None:
    (ph,) = su.plan_slices(svc(), [], []).to_create
    assert ph.endpoints == [] and ph.ports == []


def test_slices_of_another_service_uid_are_replaced() -> None:
    s = svc()
    slices = _apply(su.plan_slices(s, many(3), []), [])
    s2 = svc()
    s2.metadata.uid = "new-uid"
    plan = su.plan_slices(s2, many(3), slices)
    # a namesake's slice is deleted, not taken over
    assert len(plan.to_delete) == 1 and len(plan.to_create) == 1
    assert (plan.to_create[0].metadata.owner_references or [])[0].uid == "new-uid"


def test_label_change_updates_slices() -> None:
    s = svc()
    slices = _apply(su.plan_slices(s, many(3), []), [])
    plan = su.plan_slices(svc(labels={"v": "2"}), many(3), slices)
    assert len(plan.to_update) == 1
    assert (plan.to_update[0].metadata.labels or {})["v"] == "2"


def test_get_slice_to_fill_picks_the_closest_to_full() -> None:
    def sl(n: int) -> EndpointSlice:
        return EndpointSlice(endpoints=[su.pod_to_endpoint(p, svc()) for p in many(n)])
    a, b, c = sl(10), sl(95), sl(60)
    assert su.get_slice_to_fill([a, b, c], 5, 100) is b
    assert su.get_slice_to_fill([a, b, c], 30, 100) is c
    assert su.get_slice_to_fill([b], 6, 100) is None


# ---- trackers -----------------------------------------------------------------------


def test_write_tracker_stale_until_observed() -> None:
    now = [0.0]
    t = eu.WriteTracker(ttl=10, clock=lambda: now[0])
    t.wrote("ns/web", "web-abc", "5", None)
    assert t.stale("ns/web") and not t.stale("ns/other")
    assert not t.observed("ns/web", "web-abc", "4", False)  # an older event: still stale
    assert t.stale("ns/web")
    assert t.observed("ns/web", "web-abc", "5", False)  # our write came back
    assert not t.stale("ns/web")
    # a delete is stale until the delete event; a write the watch already showed is not
    cached = su.new_endpoint_slice(svc(), [], "IPv4")
    cached.metadata.resource_version = "7"
    t.wrote("ns/web", "web-abc", None, cached)
    assert t.stale("ns/web")
    assert t.observed("ns/web", "web-abc", None, True) and not t.stale("ns/web")
    t.wrote("ns/web", "web-def", "7", cached)
    assert not t.stale("ns/web")
    # someone else's change is not ours; an unseen write expires
    assert not t.observed("ns/web", "web-xyz", "9", False)
    t.wrote("ns/web", "web-ghi", "11", None)
    now[0] = 11.0
    assert not t.stale("ns/web")


def test_trigger_time_tracker() -> None:
    t = eu.TriggerTimeTracker()
    s = svc()
    s.metadata.creation_timestamp = "2026-01-01T00:00:00Z"

    def ready_at(name: str, ts: str) -> Pod:
        p = pod(name, "10.0.0.1")
        assert p.status is not None and p.status.conditions is not None
        p.status.conditions[0].last_transition_time = ts
        return p

    a = ready_at("a", "2026-01-01T00:00:05Z")
    assert t.compute("ns/web", s, [a]) == "2026-01-01T00:00:00Z"  # first sync: creation
    assert t.compute("ns/web", s, [a]) is None  # nothing new
    b = ready_at("b", "2026-01-01T00:00:09Z")
    a2 = ready_at("a", "2026-01-01T00:00:07Z")
    assert t.compute("ns/web", s, [a2, b]) == "2026-01-01T00:00:07Z"  # the earliest change
