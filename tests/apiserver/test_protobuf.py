"""Unit tests of the protobuf body decoder (kubectl create's wire format)."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import protobuf
from apiserver.protobuf import length_delimited as ld


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"},
                     "creationTimestamp": "2026-01-02T03:04:05Z"},
        "spec": {
            "replicas": 0, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "nginx", "image": "nginx:1.25", "args": ["-g", "daemon off;"],
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "A", "value": "1"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": 80},
                                           "periodSeconds": 5},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "terminationGracePeriodSeconds": 0,
                    "tolerations": [{"key": "k", "operator": "Exists",
                                     "effect": "NoSchedule"}],
                },
            },
        },
    }


def test_round_trip_keeps_modelled_fields() -> None:
    d = deployment()
    assert protobuf.decode(protobuf.encode(d)) == d


def test_go_style_empty_fields_are_dropped_but_pointers_kept() -> None:
    # What Go writes for an unset non-pointer string (name="" etc.) and bools (stdin=false).
    meta = ld(1, b"ns1") + ld(2, b"") + protobuf._key(7, 0) + b"\x00"
    container = (ld(1, b"c") + ld(2, b"busybox") +
                 protobuf._key(16, 0) + b"\x00")
    spec = ld(2, container) + protobuf._key(4, 0) + b"\x00"
    body = (protobuf.MAGIC + ld(1, ld(1, b"v1") + ld(2, b"Pod"))
            + ld(2, ld(1, meta) + ld(2, spec)))
    assert protobuf.decode(body) == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ns1"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}],
                 "terminationGracePeriodSeconds": 0}}


def test_unknown_fields_are_skipped() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    raw = protobuf.encode(ns)
    # Append field 99 (varint) to the Unknown's raw object: ignored, like an unknown JSON key.
    inner = protobuf.encode_message("Namespace", ns) + protobuf._key(99, 0) + b"\x05"
    raw = protobuf.MAGIC + ld(1, ld(1, b"v1") + ld(
        2, b"Namespace")) + ld(2, inner)
    assert protobuf.decode(raw) == ns


@pytest.mark.parametrize("body", [
    b"{}",  # no magic
    protobuf.MAGIC + b"\x0a\x05\x0a\x02v1",  # truncated
    protobuf.MAGIC + ld(1, ld(1, b"v1") + ld(2, b"PersistentVolume")),  # a kind not served
    protobuf.MAGIC + b"\x0f",  # wire type 7
])
def test_bad_bodies(body: bytes) -> None:
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(body)


def test_content_type() -> None:
    assert protobuf.is_protobuf("application/vnd.kubernetes.protobuf")
    assert protobuf.is_protobuf("application/vnd.kubernetes.protobuf; charset=x")
    assert not protobuf.is_protobuf("application/json")
    assert not protobuf.is_protobuf(None)
