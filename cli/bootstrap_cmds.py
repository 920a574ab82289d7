"""Joining nodes with bootstrap tokens, as kubeadm does it:

- ``minictl token create|list|delete``: bootstrap token Secrets ``bootstrap-token-<id>`` in
  kube-system with kubeadm's fields (token-id, token-secret, expiration from ``--ttl``,
  usage-bootstrap-signing/authentication, auth-extra-groups, description); ``create``
  prints ``<id>.<secret>`` (or the whole join command) and publishes the kube-public/
  cluster-info ConfigMap (the server and CA of the current context) when it is missing,
  as ``kubeadm init``'s bootstrap-token phase;
- ``minictl certificate approve|deny NAME...``: as kubectl certificate (PUT .../approval);
- ``minictl join --server URL --token T --discovery-token-ca-cert-hash sha256:<hex>``:
  kubeadm join's discovery: read cluster-info anonymously, check the JWS the bootstrap
  signer made with the token, pin the CA by the sha256 of its SubjectPublicKeyInfo, write the
  bootstrap kubeconfig and start the kubelet with --bootstrap-kubeconfig (or print it).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx
import yaml

from api import bootstraptoken as bt
from api.models import ConfigMap, ObjectMeta, Secret
from api.models.certificates import APPROVED, DENIED, CertificateSigningRequest
from api.resources import CERTIFICATESIGNINGREQUESTS
from api.timeutil import format_time, human_duration, parse_duration, parse_time_or_none
from cli.context import State, state
from cli.errors import CliError
from cli.options import common
from client.errors import AlreadyExists, NotFound
from pki.csr import ca_cert_hash

DEFAULT_TTL = "24h0m0s"
DEFAULT_DIR = "/var/lib/minik8s"


# ---- token ----------------------------------------------------------------------------


@click.group("token")
def token_cmd() -> None:
    """Manage bootstrap tokens (kube-system Secrets of type bootstrap.kubernetes.io/token)."""


def _ca_pem(st: State) -> bytes | None:
    cfg = st.config.client
    if cfg is None:
        return None
    if cfg.ca_data:
        return cfg.ca_data
    if cfg.ca_file:
        return Path(cfg.ca_file).read_bytes()
    return None


def cluster_info_kubeconfig(server: str, ca_pem: bytes | None) -> str:
    """kubeadm's cluster-info kubeconfig: one cluster (server, CA), no credentials."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Config",
                           "clusters": [{"name": "", "cluster": cluster}],
                           "contexts": [], "current-context": "", "preferences": {},
                           "users": []}, sort_keys=True)


def ensure_cluster_info(st: State) -> None:
    try:
        st.client.get(ConfigMap, bt.CLUSTER_INFO, bt.CLUSTER_INFO_NAMESPACE)
        return
    except NotFound:
        pass
    cm = ConfigMap(metadata=ObjectMeta(name=bt.CLUSTER_INFO, namespace=bt.CLUSTER_INFO_NAMESPACE),
                   data={bt.KUBECONFIG_KEY: cluster_info_kubeconfig(st.server, _ca_pem(st))})
    try:
        st.client.create(cm, bt.CLUSTER_INFO_NAMESPACE)
    except AlreadyExists:
        pass


def token_secret(token: str, ttl: float, usages: list[str], groups: list[str],
                 description: str) -> Secret:
    tid, secret = token.split(".")
    data = {bt.TOKEN_ID: tid, bt.TOKEN_SECRET: secret}
    if ttl > 0:
        exp = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=ttl)
        data[bt.EXPIRATION] = format_time(exp)
    for u in usages:
        data[bt.USAGE_PREFIX + u] = "true"
    if groups:
        data[bt.EXTRA_GROUPS] = ",".join(groups)
    if description:
        data[bt.DESCRIPTION] = description
    return Secret(metadata=ObjectMeta(name=bt.SECRET_PREFIX + tid, namespace=bt.NAMESPACE),
                  type=bt.SECRET_TYPE,
                  data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()})


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def join_command(server: str, token: str, ca_pem: bytes | None) -> str:
    out = f"minictl join --server {server} --token {token}"
    if ca_pem:
        out += f" --discovery-token-ca-cert-hash {ca_cert_hash(ca_pem)}"
    return out


@token_cmd.command("create")
@click.argument("token", required=False)
@click.option("--ttl", default=DEFAULT_TTL, show_default=True,
              help="How long the token is valid ('0' for never).")
@click.option("--usages", default="signing,authentication", show_default=True,
              help="Comma-separated: authentication (nodes log in with it), signing (it signs "
                   "cluster-info).")
@click.option("--groups", default=bt.DEFAULT_GROUP, show_default=True,
              help="Extra groups the token authenticates as (system:bootstrappers:...).")
@click.option("--description", default="", help="A human-friendly description.")
@click.option("--print-join-command", is_flag=True,
              help="Print the whole 'minictl join' command instead of the token.")
@common
def token_create_cmd(token: str | None, ttl: str, usages: str, groups: str, description: str,
                     print_join_command: bool) -> None:
    """Create a bootstrap token and print it.

    \b
    Examples:
      minictl token create
      minictl token create --ttl 1h --print-join-command
    """
    st = state()
    if token is None:
        token = bt.generate()
    elif not bt.TOKEN_RE.match(token):
        raise CliError(f'the bootstrap token "{token}" was not of the form '
                       f'"{bt.TOKEN_RE.pattern}"')
    try:
        ttl_s = parse_duration(ttl) if ttl not in ("0", "") else 0.0
    except ValueError:
        raise CliError(f'invalid argument "{ttl}" for "--ttl" flag') from None
    use = _split(usages)
    for u in use:
        if u not in bt.USAGES:
            raise CliError(f'invalid bootstrap token usage string "{u}", valid usage options: '
                           f"{', '.join(bt.USAGES)}")
    grp = _split(groups)
    for g in grp:
        if not bt.GROUP_RE.match(g):
            raise CliError(f'bootstrap group "{g}" is invalid (must match '
                           f"{bt.GROUP_RE.pattern})")
    try:
        st.client.create(token_secret(token, ttl_s, use, grp, description), bt.NAMESPACE)
    except AlreadyExists:
        raise CliError(f'a token with id "{token.split(".")[0]}" already exists') from None
    if "signing" in use:
        ensure_cluster_info(st)
    click.echo(join_command(st.server, token, _ca_pem(st)) if print_join_command else token)


def _data(s: Secret, key: str) -> str:
    raw = (s.data or {}).get(key)
    if not raw:
        return ""
    try:
        return base64.b64decode(raw).decode()
    except ValueError:
        return ""


@token_cmd.command("list")
@common
def token_list_cmd() -> None:
    """List bootstrap tokens: TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS."""
    st = state()
    items = st.client.list_all(Secret, bt.NAMESPACE,
                               field_selector=f"type={bt.SECRET_TYPE}").items
    rows = [["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]]
    now = datetime.datetime.now(datetime.UTC)
    for s in sorted(items, key=lambda s: s.metadata.name or ""):
        tid, sec = _data(s, bt.TOKEN_ID), _data(s, bt.TOKEN_SECRET)
        if not tid or s.metadata.name != bt.SECRET_PREFIX + tid:
            continue
        exp = parse_time_or_none(_data(s, bt.EXPIRATION) or None)
        ttl = "<forever>" if exp is None else (
            "<invalid>" if exp <= now else human_duration((exp - now).total_seconds()))
        usages = sorted(u for u in bt.USAGES if _data(s, bt.USAGE_PREFIX + u) == "true")
        rows.append([f"{tid}.{sec}", ttl, "<never>" if exp is None else format_time(exp),
                     ",".join(usages) or "<none>", _data(s, bt.DESCRIPTION) or "<none>",
                     _data(s, bt.EXTRA_GROUPS) or "<none>"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@token_cmd.command("delete")
@click.argument("tokens", nargs=-1, required=True)
@common
def token_delete_cmd(tokens: tuple[str, ...]) -> None:
    """Delete bootstrap tokens, by id or whole token."""
    st = state()
    for t in tokens:
        m = bt.TOKEN_RE.match(t)
        tid = m.group(1) if m else t
        if not bt.ID_RE.match(tid):
            raise CliError(f'given token didn\'t match pattern "{bt.ID_RE.pattern}" or '
                           f'"{bt.TOKEN_RE.pattern}"')
        try:
            st.client.delete(Secret, bt.SECRET_PREFIX + tid, bt.NAMESPACE)
        except NotFound:
            raise CliError(f'bootstrap token "{tid}" not found') from None
        click.echo(f'bootstrap token "{tid}" deleted')


# ---- certificate ----------------------------------------------------------------------


@click.group("certificate")
def certificate_cmd() -> None:
    """Modify certificate resources (approve or deny CertificateSigningRequests)."""


def _decide(names: tuple[str, ...], type_: str, force: bool) -> None:
    st = state()
    verb = "approved" if type_ == APPROVED else "denied"
    other = DENIED if type_ == APPROVED else APPROVED
    for name in names:
        csr = st.client.get(CertificateSigningRequest, name)
        if csr.condition(other) is not None:
            raise CliError(f'certificate signing request "{name}" is already {other}')
        if csr.condition(type_) is None or force:
            body = csr.to_dict()
            conds = [c for c in (body.get("status") or {}).get("conditions") or []
                     if c.get("type") != type_]
            conds.append({"type": type_, "status": "True",
                          "reason": "KubectlApprove" if type_ == APPROVED else "KubectlDeny",
                          "message": f"This CSR was {verb} by kubectl certificate "
                                     f"{'approve' if type_ == APPROVED else 'deny'}.",
                          "lastUpdateTime": format_time(datetime.datetime.now(datetime.UTC))})
            body["status"] = {**(body.get("status") or {}), "conditions": conds}
            st.client.request("PUT", CERTIFICATESIGNINGREQUESTS.object_path(name) + "/approval",
                              json=body)
        click.echo(f"certificatesigningrequest.certificates.k8s.io/{name} {verb}")


@certificate_cmd.command("approve")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Update the CSR even if it is already approved.")
@common
def certificate_approve_cmd(names: tuple[str, ...], force: bool) -> None:
    """Approve certificate signing requests."""
    _decide(names, APPROVED, force)


@certificate_cmd.command("deny")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Update the CSR even if it is already denied.")
@common
def certificate_deny_cmd(names: tuple[str, ...], force: bool) -> None:
    """Deny certificate signing requests."""
    _decide(names, DENIED, force)


# ---- join -----------------------------------------------------------------------------


def fetch_cluster_info(server: str, timeout: float) -> dict[str, Any]:
    """The kube-public/cluster-info ConfigMap read without credentials (the CA is not known
    yet: the JWS and the pin make it trustworthy), retried until ``timeout``."""
    url = (server.rstrip("/") +
           f"/api/v1/namespaces/{bt.CLUSTER_INFO_NAMESPACE}/configmaps/{bt.CLUSTER_INFO}")
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            with httpx.Client(verify=False, timeout=10, trust_env=False) as c:
                r = c.get(url)
            if r.status_code == 200:
                out: dict[str, Any] = r.json()
                return out
            last = f"{r.status_code} {r.reason_phrase}"
            if r.status_code in (401, 403, 404):
                break
        except httpx.HTTPError as e:
            last = str(e) or type(e).__name__
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    raise CliError(f"unable to fetch the cluster-info ConfigMap from {server}: {last}")


def discover(server: str, token: str, ca_hashes: tuple[str, ...], unsafe_skip: bool,
             timeout: float = 30.0) -> tuple[str, bytes]:
    """kubeadm's token discovery: (the API server URL, its CA PEM)."""
    m = bt.TOKEN_RE.match(token)
    if m is None:
        raise CliError(f'the bootstrap token "{token}" was not of the form '
                       f'"{bt.TOKEN_RE.pattern}"')
    if not ca_hashes and not unsafe_skip:
        raise CliError("using token-based discovery without --discovery-token-ca-cert-hash "
                       "can be unsafe; set --discovery-token-unsafe-skip-ca-verification "
                       "to continue")
    tid, secret = m.groups()
    cm = fetch_cluster_info(server, timeout)
    data = cm.get("data") or {}
    content = data.get(bt.KUBECONFIG_KEY)
    if not content:
        raise CliError("there is no kubeconfig in the cluster-info ConfigMap")
    sig = data.get(bt.JWS_PREFIX + tid)
    if not sig:
        raise CliError(f'there is no JWS signed token in the cluster-info ConfigMap. This '
                       f'token id "{tid}" is invalid for this cluster, or if your control-plane '
                       f"node has left the cluster, can't connect")
    if not bt.verify_detached_jws(content, sig, tid, secret):
        raise CliError("failed to verify JWS signature of received cluster info object, "
                       "can't trust this API Server")
    try:
        kc = yaml.safe_load(content)
        cluster = kc["clusters"][0]["cluster"]
        ca_pem = base64.b64decode(cluster["certificate-authority-data"])
        found = ca_cert_hash(ca_pem)
        url = str(cluster["server"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as e:
        raise CliError(f"the cluster-info kubeconfig is not usable: {e}") from None
    wanted = {h.lower() for h in ca_hashes}
    if not unsafe_skip and found not in wanted:
        raise CliError(f'cluster CA found in cluster-info ConfigMap is invalid: none of the '
                       f'public keys "{found}" are pinned')
    return url, ca_pem


def bootstrap_kubeconfig(server: str, ca_pem: bytes, token: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "kubernetes", "cluster": {
                "server": server,
                "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
            "users": [{"name": "tls-bootstrap-token-user", "user": {"token": token}}],
            "contexts": [{"name": "tls-bootstrap-token-user@kubernetes", "context": {
                "cluster": "kubernetes", "user": "tls-bootstrap-token-user"}}],
            "current-context": "tls-bootstrap-token-user@kubernetes"}


@click.command("join", context_settings={"ignore_unknown_options": True})
@click.option("--server", "join_server", required=True, metavar="URL",
              help="The API server to join (https://HOST:6443).")
@click.option("--token", "join_token", required=True, help="A bootstrap token <id>.<secret>.")
@click.option("--discovery-token-ca-cert-hash", "ca_hashes", multiple=True,
              metavar="sha256:HEX", help="The pin of the cluster CA (sha256 of its "
                                         "SubjectPublicKeyInfo); several may be given.")
@click.option("--discovery-token-unsafe-skip-ca-verification", "unsafe_skip", is_flag=True,
              help="Trust the cluster-info CA without a pin.")
@click.option("--node-name", default=None, help="The node's name (default: the host name).")
@click.option("--dir", "base_dir", default=None, metavar="DIR",
              help=f"The node's files: bootstrap-kubelet.conf, kubelet.conf, pki/ "
                   f"(default {DEFAULT_DIR}/<node>).")
@click.option("--discovery-timeout", default="30s", show_default=True,
              help="How long to try to read cluster-info.")
@click.option("--print-only", is_flag=True,
              help="Write the files and print the kubelet command instead of running it.")
@click.argument("kubelet_args", nargs=-1, type=click.UNPROCESSED)
def join_cmd(join_server: str, join_token: str, ca_hashes: tuple[str, ...], unsafe_skip: bool,
             node_name: str | None, base_dir: str | None, discovery_timeout: str,
             print_only: bool, kubelet_args: tuple[str, ...]) -> None:
    """Join this machine to a cluster as a node, with a bootstrap token (kubeadm join).

    Anything after the options (after --) is passed to the kubelet.

    \b
    Examples:
      minictl join --server https://10.0.0.1:6443 --token abcdef.0123456789abcdef \\
          --discovery-token-ca-cert-hash sha256:1234...
    """
    try:
        timeout = parse_duration(discovery_timeout)
    except ValueError:
        raise CliError(f'invalid argument "{discovery_timeout}" for "--discovery-timeout"'
                       ) from None
    url, ca_pem = discover(join_server, join_token, ca_hashes, unsafe_skip, timeout)
    node = node_name or os.uname().nodename
    d = Path(base_dir or os.path.join(DEFAULT_DIR, node))
    d.mkdir(parents=True, exist_ok=True)
    boot = d / "bootstrap-kubelet.conf"
    fd = os.open(boot, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(bootstrap_kubeconfig(url, ca_pem, join_token), f, indent=2)
    (d / "ca.crt").write_bytes(ca_pem)
    argv = [sys.executable, "-m", "kubelet", "--node-name", node,
            "--bootstrap-kubeconfig", str(boot), "--kubeconfig", str(d / "kubelet.conf"),
            "--cert-dir", str(d / "pki"), "--rotate-certificates", "--root-dir", str(d),
            *kubelet_args]
    click.echo(f"[discovery] cluster-info from {join_server} verified (CA {ca_cert_hash(ca_pem)})",
               err=True)
    if print_only:
        click.echo(shlex.join(argv))
        return
    click.echo(f"[kubelet-start] starting the kubelet for node {node}: it requests its "
               "client certificate with the token and registers", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
