"""ingress/render.py alone (no nginx): the plan and the nginx.conf it prints for hosts,
path types, conflicts between Ingresses, backends and annotations."""

from __future__ import annotations

import re
from typing import Any

from ingress.render import Cluster, Settings, build, render


def _svc(name: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name}, "spec": {"ports": ports}}


def _slice(svc: str, ips: list[str], port: int = 8080, name: str = "http",
           ready: bool | None = True) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": svc + "-x",
                         "labels": {"kubernetes.io/service-name": svc}},
            "ports": [{"name": name, "port": port}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip in ips]}


def _ing(name: str, created: str, rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    ann = extra.pop("annotations", {})
    return {"metadata": {"namespace": "ns", "name": name, "creationTimestamp": created,
                         "annotations": ann}, "spec": {"rules": rules, **extra}}


def _p(path: str, ptype: str, svc: str, port: Any = 80) -> dict[str, Any]:
    p = {"number": port} if isinstance(port, int) else {"name": port}
    return {"path": path, "pathType": ptype, "backend": {"service": {"name": svc, "port": p}}}


CLUSTER = Cluster(
    [_svc("a", [{"name": "http", "port": 80}]), _svc("b", [{"name": "web", "port": 81}])],
    [_slice("a", ["10.0.0.1", "10.0.0.2"]), _slice("a", ["10.0.0.9"], ready=False),
     _slice("b", ["10.0.1.1"], port=9090, name="web")])


def test_paths_hosts_and_backends() -> None:
    plan = build([_ing("one", "2026-01-01T00:00:00Z", [
        {"host": "h.example", "http": {"paths": [
            _p("/foo/", "Prefix", "a"), _p("/foobar", "Exact", "b", "web"),
            _p("/impl", "ImplementationSpecific", "a"), _p("/none", "Prefix", "nope")]}},
        {"host": "*.w.example", "http": {"paths": [_p("/", "Prefix", "a")]}}])], CLUSTER)
    h = plan.servers["h.example"].locations
    assert set(h) == {("=", "/foo"), ("^~", "/foo/"), ("=", "/foobar"), ("^~", "/impl"),
                      ("=", "/none"), ("^~", "/none/")}
    assert h[("=", "/none")].backend.upstream is None and h[("=", "/none")].backend.status == 503
    # ready endpoints only, on the slice's port of the Service port's name
    assert plan.upstreams == {"ns-a-80": ["10.0.0.1:8080", "10.0.0.2:8080"],
                              "ns-b-web": ["10.0.1.1:9090"]}
    assert plan.warnings["ns/one"] == ['service "ns/nope" not found']
    conf = render(plan, Settings(run_dir="/r", http_port=8000, https_port=8443))
    assert r"server_name ~^[^.]+\.w\.example$;" in conf
    assert re.search(r"location = /foobar \{  # ns/one\n\s+proxy_pass http://ns-b-web;", conf)
    assert "location / {  # default backend\n            return 404;" in conf


def test_oldest_ingress_wins_and_default_backend() -> None:
    old = _ing("old", "2026-01-01T00:00:00Z", [{"host": "x", "http": {"paths": [
        _p("/", "Prefix", "a")]}}], defaultBackend={"service": {"name": "b",
                                                                "port": {"name": "web"}}})
    new = _ing("new", "2026-02-01T00:00:00Z", [{"host": "x", "http": {"paths": [
        _p("/", "Prefix", "b", "web")]}}], defaultBackend={"service": {"name": "a",
                                                                       "port": {"number": 80}}})
    plan = build([new, old], CLUSTER)
    assert plan.servers["x"].locations[("", "/")].source == "ns/old"
    assert plan.default_backend.upstream == "ns-b-web"
    assert plan.included == ["ns/old", "ns/new"]


def test_annotations_and_tls() -> None:
    bad = _ing("bad", "2026-01-01T00:00:00Z", [{"host": "x", "http": {"paths": [
        _p("/", "Prefix", "a")]}}], annotations={
            "nginx.ingress.kubernetes.io/rewrite-target": "/; return 200"})
    proto = _ing("proto", "2026-01-02T00:00:00Z", [{"host": "y", "http": {"paths": [
        _p("/api", "Prefix", "a")]}}], annotations={
            "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
            "nginx.ingress.kubernetes.io/rewrite-target": "/v2"},
        tls=[{"hosts": ["y"], "secretName": "missing"}])
    sneaky = _ing("sneaky", "2026-01-03T00:00:00Z", [{"host": "z", "http": {"paths": [
        _p("/a;} server { listen 9999;", "ImplementationSpecific", "a")]}}])
    plan = build([bad, proto, sneaky], CLUSTER)
    assert "ns/bad" in plan.problems and "ns/bad" not in plan.included
    assert "ns/sneaky" in plan.problems and "z" not in plan.servers
    assert plan.warnings["ns/proto"] == ['secret "ns/missing" not found: its hosts get no TLS']
    conf = render(plan, Settings(run_dir="/r"))
    assert 'rewrite "(?i)^/api" /v2 break;' in conf and "proxy_pass https://ns-a-80;" in conf
    assert "ssl_certificate" not in conf
