"""minictl create configmap / create secret generic, get and describe, compared with
the real kubectl where it reads the same objects."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from testing import kubectl as kubectl_cli
from testing.support import unique
from tests.cli.helpers import cells, fails, get, ok


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


@pytest.fixture
def nsname(server_url: str) -> str:
    name = unique("cli")
    ok(server_url, "create", "namespace", name)
    return name


def kubectl(server_url: str, tmp_path: Path, *args: str) -> str:
    """What the real kubectl prints for ``args``."""
    return kubectl_cli.Kubectl(server_url, tmp_path / "kubectl")(*args).stdout


def test_create_configmap_get_and_describe(server_url: str, nsname: str,
                                          tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("port=80\nhost=x\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xff\x00\x01")
    out = ok(server_url, "-n", nsname, "create", "configmap", "web", "--from-literal=mode=prod",
             f"--from-file={conf}", f"--from-file=raw={blob}")
    assert out == "configmap/web created\n"
    obj = get(server_url, f"/api/v1/namespaces/{nsname}/configmaps/web")
    assert obj["data"] == {"mode": "prod", "app.conf": "port=80\nhost=x\n"}
    assert obj["binaryData"] == {"raw": b64(b"\xff\x00\x01")}

    lines = ok(server_url, "-n", nsname, "get", "cm").splitlines()
    assert cells(lines[0]) == ["NAME", "DATA", "AGE"] and cells(lines[1])[:2] == ["web", "3"]
    mine = ok(server_url, "-n", nsname, "describe", "configmap", "web")
    if kubectl_cli.installed():
        assert mine == kubectl(server_url, tmp_path, "-n", nsname, "describe", "cm", "web")
    assert "mode:\n----\nprod\n" in mine and "raw: 3 bytes" in mine


def test_create_secret_generic_get_and_describe(server_url: str, nsname: str,
                                               tmp_path: Path) -> None:
    key = tmp_path / "id_rsa"
    key.write_text("PRIVATE")
    out = ok(server_url, "-n", nsname, "create", "secret", "generic", "db",
             "--from-literal=password=s3cret", "--from-literal=user=admin",
             f"--from-file=ssh={key}")
    assert out == "secret/db created\n"
    obj = get(server_url, f"/api/v1/namespaces/{nsname}/secrets/db")
    assert obj["type"] == "Opaque"
    assert obj["data"] == {"password": b64("s3cret"), "user": b64("admin"), "ssh": b64("PRIVATE")}
    lines = ok(server_url, "-n", nsname, "get", "secrets").splitlines()
    assert cells(lines[0]) == ["NAME", "TYPE", "DATA", "AGE"]
    assert cells(lines[1])[:3] == ["db", "Opaque", "3"]
    mine = ok(server_url, "-n", nsname, "describe", "secret", "db")
    assert "s3cret" not in mine and "password:  6 bytes" in mine
    if kubectl_cli.installed():
        assert mine == kubectl(server_url, tmp_path, "-n", nsname, "describe", "secret", "db")


def test_dry_run_yaml_and_directory(server_url: str, nsname: str, tmp_path: Path) -> None:
    d = tmp_path / "conf"
    d.mkdir()
    (d / "a.txt").write_text("A")
    (d / "b.txt").write_text("B")
    out = ok(server_url, "-n", nsname, "create", "configmap", "dry", f"--from-file={d}",
             "--dry-run=client", "-o", "yaml")
    doc = yaml.safe_load(out)
    assert doc["kind"] == "ConfigMap" and doc["apiVersion"] == "v1"
    assert doc["metadata"]["name"] == "dry" and doc["data"] == {"a.txt": "A", "b.txt": "B"}
    assert fails(server_url, "-n", nsname, "get", "cm", "dry").startswith("Error from server")
    out = ok(server_url, "-n", nsname, "create", "secret", "generic", "s", "--from-literal=k=v",
             "--dry-run=client", "-o", "yaml")
    doc = yaml.safe_load(out)
    assert doc["kind"] == "Secret" and doc["data"] == {"k": b64("v")} and doc["type"] == "Opaque"


def test_errors_are_one_line(server_url: str, nsname: str, tmp_path: Path) -> None:
    err = fails(server_url, "-n", nsname, "create", "configmap", "x", "--from-literal=novalue")
    assert err == "error: invalid literal source novalue, expected key=value"
    err = fails(server_url, "-n", nsname, "create", "configmap", "x", "--from-literal=a b=1")
    assert err.startswith('error: "a b" is not a valid key name for a ConfigMap: ')
    assert "\n" not in err
    err = fails(server_url, "-n", nsname, "create", "configmap", "x", "--from-literal=k=1",
                "--from-literal=k=2")
    assert "cannot add key k, another key by that name already exists" in err
    err = fails(server_url, "-n", nsname, "create", "secret", "generic", "x",
                f"--from-file={tmp_path / 'missing'}")
    assert err.startswith("error: error reading") and "\n" not in err
    ok(server_url, "-n", nsname, "create", "configmap", "dup", "--from-literal=k=v")
    err = fails(server_url, "-n", nsname, "create", "configmap", "dup", "--from-literal=k=v")
    assert err == 'Error from server (AlreadyExists): configmaps "dup" already exists'
