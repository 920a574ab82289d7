"""Cost of a custom object's schema work against a built-in kind's, in one run.

A ~2 KB custom object (a Deployment-like spec: containers with env list-maps, ports
int-or-string, labels, patterns, enums, bounds) is validated, pruned and defaulted by its
compiled structural schema, with and without one CEL rule at the spec; the baseline is
the built-in Pod validation (api.validation.pod.validate_pod) of a Pod of the same size,
and a JSON round trip of the custom object (orjson). Prints one JSON document: per-call
microseconds (median of rounds) and the ratios to the Pod baseline.

Usage: python bench/structural.py [--n 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.structural import Structural  # noqa: E402
from api.validation.pod import validate_pod  # noqa: E402

_CONTAINER = {
    "type": "object", "required": ["name", "image"],
    "properties": {
        "name": {"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "image": {"type": "string", "minLength": 1},
        "args": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "value": {"type": "string"}}}},
        "port": {"x-kubernetes-int-or-string": True,
                 "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"],
                       "default": "IfNotPresent"},
        "cpu": {"type": "integer", "minimum": 0, "maximum": 64000},
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"spec": {"type": "object", "required": ["replicas"], "properties": {
        "replicas": {"type": "integer", "minimum": 0, "default": 1},
        "paused": {"type": "boolean"},
        "containers": {"type": "array", "maxItems": 16, "items": _CONTAINER},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    }}},
}
RULE = {"rule": "self.replicas <= 100 && self.containers.all(c, c.name.size() < 64)",
        "message": "too big"}


def custom_object() -> dict[str, Any]:
    return {
        "apiVersion": "bench.example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {
            "replicas": 3, "paused": False,
            "labels": {f"label-{i}": f"value-{i}" for i in range(8)},
            "containers": [{
                "name": f"c{i}", "image": "registry.example.com/app:1.2.3",
                "args": ["--port=8080", "--verbose"], "port": 8080 if i % 2 else "http",
                "env": [{"name": f"ENV_{j}", "value": f"value-{j}"} for j in range(5)],
                "pullPolicy": "IfNotPresent", "cpu": 500,
            } for i in range(5)],
        },
    }


def pod_of_size(size: int) -> dict[str, Any]:
    containers = []
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": "p", "namespace": "default",
                                        "labels": {f"label-{i}": f"value-{i}"
                                                   for i in range(8)}},
                           "spec": {"containers": containers}}
    i = 0
    while len(json.dumps(pod)) < size:
        containers.append({"name": f"c{i}", "image": "registry.example.com/app:1.2.3",
                           "args": ["--port=8080", "--verbose"],
                           "env": [{"name": f"ENV_{j}", "value": f"value-{j}"}
                                   for j in range(5)],
                           "imagePullPolicy": "IfNotPresent",
                           "terminationMessagePolicy": "File"})
        i += 1
    return pod


def per_call(fn: Callable[[], Any], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def run(n: int, rounds: int) -> dict[str, Any]:
    s = Structural.compile(SCHEMA)
    with_cel = copy.deepcopy(SCHEMA)
    with_cel["properties"]["spec"]["x-kubernetes-validations"] = [RULE]
    sc = Structural.compile(with_cel)
    o = custom_object()
    assert s.validate(o) == [] and sc.validate(o) == [], (s.validate(o), sc.validate(o))
    size = len(json.dumps(o))
    pod = pod_of_size(size)
    raw = orjson.dumps(o)
    cases: dict[str, Callable[[], Any]] = {
        "pod_validate": lambda: validate_pod(pod),
        "cr_validate": lambda: s.validate(o),
        "cr_validate_cel": lambda: sc.validate(o),
        "cr_prune": lambda: s.prune(orjson.loads(raw)),
        "cr_default": lambda: s.default(o),
        "json_roundtrip": lambda: orjson.loads(orjson.dumps(o)),
        "compile": lambda: Structural.compile(SCHEMA),
    }
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            samples[k].append(per_call(fn, max(1, n // 20) if k == "compile" else n))
    us = {k: round(statistics.median(v), 2) for k, v in samples.items()}
    base = us["pod_validate"] or 1e-9
    return {
        "object_bytes": size, "pod_bytes": len(json.dumps(pod)), "n": n, "rounds": rounds,
        "us_per_call": us,
        "ratio_to_pod_validate": {k: round(v / base, 2) for k, v in us.items()
                                  if k != "pod_validate"},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    out = run(a.n, a.rounds)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
