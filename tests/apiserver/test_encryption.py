"""Secrets encrypted at rest (--encryption-provider-config): read straight from etcd, a
Secret written through the API is ``k8s:enc:aescbc:v1:key1:...`` with no plaintext in
it, while the API answers it as written; values stored before encryption stay readable
(identity listed), a server with identity first still reads what aescbc wrote, secretbox
and aesgcm keys work, other resources stay plain, and a bad file stops the server."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nacl.secret
import pytest

from apiserver.storage import EtcdStorage
from apiserver.storage.encryption import EncryptionError, Secretbox
from testing.apiclient import Api
from testing.support import ApiServer, Etcd

PLAIN = "s3cret-value-in-plain"
B64 = base64.b64encode(PLAIN.encode()).decode()
KEY1 = base64.b64encode(os.urandom(32)).decode()
KEY2 = base64.b64encode(os.urandom(32)).decode()
KEY3 = base64.b64encode(os.urandom(16)).decode()


def config(tmp: Path, name: str, *providers: str) -> str:
    blocks = {
        "aescbc": f"- aescbc:\n        keys:\n        - name: key1\n          secret: {KEY1}\n",
        "secretbox": f"- secretbox:\n        keys:\n        - name: key2\n          secret: {KEY2}\n",
        "aesgcm": f"- aesgcm:\n        keys:\n        - name: key3\n          secret: {KEY3}\n",
        "identity": "- identity: {}\n",
    }
    text = ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
            "resources:\n- resources:\n  - secrets\n  providers:\n"
            + "".join("    " + blocks[p] for p in providers))
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def raw(etcd_url: str, key: str) -> bytes:
    async def get() -> bytes:
        s = EtcdStorage(etcd_url)
        await s.start()
        try:
            kv = await s.get(key)
            assert kv is not None, key
            return kv.value
        finally:
            await s.close()
    return asyncio.run(get())


@pytest.fixture(scope="module")
def etcd() -> Iterator[Etcd]:
    e = Etcd().start()
    yield e
    e.stop()


def secret(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "data": {"password": B64}}


def serve(etcd: Etcd, *args: str) -> tuple[ApiServer, Api]:
    s = ApiServer(etcd.url, list(args)).start()
    return s, Api(s.url)


def test_secrets_encrypted_at_rest_and_rotations(etcd: Etcd, tmp_path: Path) -> None:
    url = "/api/v1/namespaces/default/secrets"
    # 1. No encryption: the Secret is plain JSON in etcd.
    s, api = serve(etcd)
    try:
        api.ok("POST", url, secret("old"), 201)
    finally:
        s.stop()
    assert B64.encode() in raw(etcd.url, "/registry/secrets/default/old")
    # 2. aescbc first: new writes are encrypted, the old plain value still reads.
    s, api = serve(etcd, "--encryption-provider-config",
                   config(tmp_path, "aescbc", "aescbc", "identity"))
    try:
        api.ok("POST", url, secret("new"), 201)
        api.ok("POST", "/api/v1/namespaces/default/configmaps",
               {"metadata": {"name": "cm"}, "data": {"k": PLAIN}}, 201)
        stored = raw(etcd.url, "/registry/secrets/default/new")
        assert stored.startswith(b"k8s:enc:aescbc:v1:key1:"), stored[:40]
        assert B64.encode() not in stored and PLAIN.encode() not in stored
        assert b'"password"' not in stored and b"Secret" not in stored
        assert api.ok("GET", f"{url}/new")["data"] == {"password": B64}
        assert api.ok("GET", f"{url}/old")["data"] == {"password": B64}
        assert {i["metadata"]["name"] for i in api.ok("GET", url)["items"]} >= {"old", "new"}
        # A write re-encrypts an old value; other resources stay plain.
        api.ok("PATCH", f"{url}/old", {"metadata": {"labels": {"a": "b"}}},
               content_type="application/merge-patch+json")
        assert raw(etcd.url, "/registry/secrets/default/old").startswith(b"k8s:enc:aescbc:")
        assert PLAIN.encode() in raw(etcd.url, "/registry/configmaps/default/cm")
    finally:
        s.stop()
    # 3. identity first, aescbc still listed: encrypted values read, new writes plain.
    s, api = serve(etcd, "--encryption-provider-config",
                   config(tmp_path, "identity", "identity", "aescbc"))
    try:
        assert api.ok("GET", f"{url}/new")["data"] == {"password": B64}
        api.ok("POST", url, secret("plain-again"), 201)
        assert B64.encode() in raw(etcd.url, "/registry/secrets/default/plain-again")
    finally:
        s.stop()
    # 4. secretbox and aesgcm keys; every earlier value still reads.
    for first in ("secretbox", "aesgcm"):
        s, api = serve(etcd, "--encryption-provider-config",
                       config(tmp_path, first, first, "aescbc", "secretbox", "aesgcm",
                              "identity") if first == "secretbox" else
                       config(tmp_path, first, first, "secretbox", "aescbc", "identity"))
        try:
            api.ok("POST", url, secret(f"by-{first}"), 201)
            stored = raw(etcd.url, f"/registry/secrets/default/by-{first}")
            assert stored.startswith(f"k8s:enc:{first}:v1:".encode()), stored[:40]
            assert B64.encode() not in stored
            for name in ("old", "new", "plain-again", "by-secretbox", f"by-{first}"):
                assert api.ok("GET", f"{url}/{name}")["data"] == {"password": B64}, name
        finally:
            s.stop()


def test_secretbox_is_nacls() -> None:
    """The stored value is NaCl's secretbox after the prefix: NaCl's test vector
    (tests/secretbox.c: firstkey, nonce, the message's first block) gives the vector's first
    ciphertext bytes, and what NaCl seals with the key opens here; seal/open round-trips,
    a wrong key is refused."""
    key = bytes.fromhex("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
    nonce = bytes.fromhex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
    m = bytes.fromhex("be075fc53c81f2d5cf141316ebeb0c7b")
    sealed_by_nacl = nacl.secret.SecretBox(key).encrypt(m, nonce)
    assert sealed_by_nacl.ciphertext[16:].hex() == "8e993b9f48681273c29650ba32fc76ce"
    box = Secretbox("k", key)
    assert box.open(b"k8s:enc:secretbox:v1:k:" + bytes(sealed_by_nacl), "/x") == m
    sealed = box.seal(b"hello", "/registry/secrets/a/b")
    assert sealed.startswith(b"k8s:enc:secretbox:v1:k:")
    assert box.open(sealed, "/registry/secrets/a/b") == b"hello"
    with pytest.raises(EncryptionError, match="authentication failed"):
        Secretbox("k", bytes(32)).open(sealed, "/registry/secrets/a/b")


def test_bad_config_stops_the_server(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
                   "resources:\n- resources: [secrets]\n  providers:\n"
                   "  - aescbc:\n      keys:\n      - name: k\n        secret: c2hvcnQ=\n")
    out = subprocess.run([sys.executable, "-m", "apiserver", "--etcd-servers",
                          "http://127.0.0.1:1", "--encryption-provider-config", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "aescbc key 'k': must be 16, 24 or 32 bytes" in out.stderr, out.stderr
