"""Pure pieces of the TLS bootstrap, without a server: the bootstrap signer's detached JWS
(Kubernetes' own test vectors, k8s.io/cluster-bootstrap/token/jws), kubeadm's CA pin, the
signers' rules for kubelet client and serving requests, what a signed certificate holds, and
the kubelet's rotation deadline."""

from __future__ import annotations

import datetime
import hashlib
import random

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pki
from api import bootstraptoken as bt
from controllers.certificates import (
    apiserver_client_error,
    kubelet_client_error,
    kubelet_serving_error,
)
from kubelet.bootstrap import rotation_deadline
from pki.csr import ca_cert_hash, lifetime, new_key_pem, new_request, sign_request

CONTENT = "Hello from the other side. I must have called a thousand times."


def test_detached_jws_matches_kubernetes() -> None:
    assert bt.detached_jws(CONTENT, "joshua", "my voice is my passcode") == (
        "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8")
    assert bt.detached_jws("", "joshua", "my voice is my passcode") == (
        "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk")
    sig = bt.detached_jws(CONTENT, "abcdef", "0123456789abcdef")
    assert bt.verify_detached_jws(CONTENT, sig, "abcdef", "0123456789abcdef")
    assert not bt.verify_detached_jws(CONTENT + " ", sig, "abcdef", "0123456789abcdef")
    assert not bt.verify_detached_jws(CONTENT, sig, "abcdef", "0123456789abcdeg")


def test_generated_tokens() -> None:
    tokens = {bt.generate() for _ in range(50)}
    assert len(tokens) == 50 and all(bt.TOKEN_RE.match(t) for t in tokens)


def test_ca_cert_hash_is_sha256_of_spki() -> None:
    ca = pki.new_ca()
    spki = ca.cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    assert ca_cert_hash(ca.cert_pem) == "sha256:" + hashlib.sha256(spki).hexdigest()
    assert ca_cert_hash(pki.new_ca().cert_pem) != ca_cert_hash(ca.cert_pem)


def _req(cn: str, orgs: tuple[str, ...] = ("system:nodes",), dns: tuple[str, ...] = (),
         ips: tuple[str, ...] = ()) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(new_request(new_key_pem(), cn, orgs, dns, ips))


def test_signer_rules() -> None:
    client = ["digital signature", "client auth"]
    assert kubelet_client_error(_req("system:node:a"), client) is None
    assert kubelet_client_error(_req("system:node:a"), [*client, "key encipherment"]) is None
    assert kubelet_client_error(_req("system:node:a", ("x",)), client) == \
        "subject organization is not system:nodes"
    assert kubelet_client_error(_req("a"), client) == \
        'subject common name does not begin with "system:node:"'
    assert kubelet_client_error(_req("system:node:a", dns=("a",)), client) == \
        "dnsNames are not allowed"
    assert kubelet_client_error(_req("system:node:a"), ["client auth"]) is not None
    assert kubelet_client_error(_req("system:node:a"), [*client, "server auth"]) is not None
    serving = ["digital signature", "server auth"]
    assert kubelet_serving_error(_req("system:node:a", dns=("a",)), serving) is None
    assert kubelet_serving_error(_req("system:node:a", ips=("10.0.0.1",)), serving) is None
    assert kubelet_serving_error(_req("system:node:a"), serving) == \
        "at least one of dnsNames or ipAddresses must be specified"
    assert apiserver_client_error(_req("u", ()), ["client auth"]) is None
    assert apiserver_client_error(_req("u", ()), ["client auth", "server auth"]) == \
        "invalid usage for client certificate: server auth"


def test_signed_certificate() -> None:
    ca = pki.new_ca()
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    pem = sign_request(ca, _req("system:node:a", dns=("a",)), ["digital signature",
                                                               "server auth"],
                       datetime.timedelta(hours=1), now=now)
    cert = x509.load_pem_x509_certificate(pem)
    cert.verify_directly_issued_by(ca.cert)
    nb, na = lifetime(pem)
    # an hour-long certificate is backdated by a tenth of it at most (5 min at most)
    assert na - now == datetime.timedelta(hours=1)
    assert now - nb == datetime.timedelta(minutes=5)
    short = sign_request(ca, _req("system:node:a"), ["client auth"],
                         datetime.timedelta(seconds=20), now=now)
    nb, na = lifetime(short)
    assert (now - nb, na - now) == (datetime.timedelta(seconds=2),
                                    datetime.timedelta(seconds=20))
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [u.dotted_string for u in eku] == ["1.3.6.1.5.5.7.3.1"]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a"]


def test_rotation_deadline_between_70_and_90_percent() -> None:
    ca = pki.new_ca()
    pem = sign_request(ca, _req("system:node:a"), ["client auth"],
                       datetime.timedelta(hours=10))
    nb, na = lifetime(pem)
    rng = random.Random(7)
    for _ in range(50):
        frac = (rotation_deadline(pem, rng) - nb) / (na - nb)
        assert 0.7 <= frac <= 0.9
