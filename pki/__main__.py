"""``python -m pki init`` (``minik8s-pki``): a cluster's certificates and kubeconfigs in
kubeadm's layout, as ``kubeadm init phase certs all`` and ``phase kubeconfig all`` write
them under /etc/kubernetes::

    DIR/pki/ca.{crt,key}                          the cluster CA (kept once made)
    DIR/pki/apiserver.{crt,key}                   serving: localhost, 127.0.0.1, apiserver,
                                                  kubernetes(.default(.svc(.cluster.local))),
                                                  the first Service IP, --apiserver-san
    DIR/pki/apiserver-kubelet-client.{crt,key}    the API server to the kubelets
                                                  (kube-apiserver-kubelet-client, system:masters)
    DIR/pki/sa.{key,pub}                          ServiceAccount token signing key pair
    DIR/pki/<node>.{crt,key}                      each kubelet's serving certificate (DNS <node>)
    DIR/pki/tokens.csv                            the static token file: an admin token
    DIR/admin.conf                                kubernetes-admin (system:masters)
    DIR/scheduler.conf, controller-manager.conf, proxy.conf, kubelet-<node>.conf

With ``--share OUT``, each component's own files are also copied to ``OUT/<component>/`` in
the same layout (``share``), so a component can mount only what it needs: the scheduler and
the proxy their kubeconfig; the controller-manager its kubeconfig, ca.crt and sa.key; each
kubelet its kubeconfig, serving certificate and key, and ca.crt. The CA key stays in DIR.

Idempotent: what exists and still fits (signed by the CA, the SANs and names asked for, not
about to expire) is kept, so a second run changes nothing; a kubeconfig is rewritten when its
server changes. Files with keys are 0600.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

import pki

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
APISERVER_NAMES = ("localhost", "apiserver", "kubernetes", "kubernetes.default",
                   "kubernetes.default.svc")
RENEW_BEFORE = datetime.timedelta(days=30)


def _subject(cert: x509.Certificate) -> tuple[str, list[str]]:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    os_ = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cn[0].value) if cn else ""), sorted(str(o.value) for o in os_)


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (set(ext.get_values_for_type(x509.DNSName)),
            {str(i) for i in ext.get_values_for_type(x509.IPAddress)})


def _fits(kc: pki.KeyCert, ca: pki.KeyCert, cn: str, orgs: Sequence[str],
          dns: Sequence[str], ips: Sequence[str]) -> bool:
    try:
        cert = kc.cert
        cert.verify_directly_issued_by(ca.cert)
    except Exception:
        return False
    if cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) < RENEW_BEFORE:
        return False
    have_dns, have_ips = _sans(cert)
    return (_subject(cert) == (cn, sorted(orgs)) and set(dns) <= have_dns
            and {str(ipaddress.ip_address(i)) for i in ips} <= have_ips)


class Writer:
    def __init__(self, root: Path, quiet: bool = False) -> None:
        self.root = root
        self.pki = root / "pki"
        self.pki.mkdir(parents=True, exist_ok=True)
        os.chmod(self.pki, 0o755)
        self.quiet = quiet

    def say(self, verb: str, what: str) -> None:
        if not self.quiet:
            print(f"[certs] {verb} {what}")

    def ca(self) -> pki.KeyCert:
        if (self.pki / "ca.crt").exists() and (self.pki / "ca.key").exists():
            self.say("using existing", "ca certificate authority")
            return pki.KeyCert.read(self.pki, "ca")
        ca = pki.new_ca("kubernetes")
        ca.write(self.pki, "ca")
        self.say("generated", "ca certificate authority")
        return ca

    def cert(self, ca: pki.KeyCert, name: str, cn: str, *, orgs: Sequence[str] = (),
             dns: Sequence[str] = (), ips: Sequence[str] = (), server: bool = False,
             client: bool = False) -> pki.KeyCert:
        try:
            existing: pki.KeyCert | None = pki.KeyCert.read(self.pki, name)
        except OSError:
            existing = None
        if existing is not None and _fits(existing, ca, cn, orgs, dns, ips):
            self.say("using existing", f"{name} certificate and key")
            return existing
        kc = pki.issue(ca, cn, organizations=orgs, dns_names=dns, ip_addresses=ips,
                       server=server, client=client)
        kc.write(self.pki, name)
        self.say("generated", f"{name} certificate and key (CN {cn}"
                 + (f", O {','.join(orgs)}" if orgs else "")
                 + (f", SANs {','.join([*dns, *ips])}" if dns or ips else "") + ")")
        return kc

    def sa_keys(self) -> None:
        if (self.pki / "sa.key").exists() and (self.pki / "sa.pub").exists():
            self.say("using existing", "sa key pair")
            return
        key, pub = pki.new_service_account_key()
        _private(self.pki / "sa.key", key)
        (self.pki / "sa.pub").write_bytes(pub)
        self.say("generated", "sa key pair (ServiceAccount token signing)")

    def token_file(self, user: str, groups: Sequence[str]) -> str:
        """The static token file (``--token-auth-file``): ``token,user,uid,"groups"``; the
        admin's existing token is kept."""
        path = self.pki / "tokens.csv"
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split(",")
                if len(parts) >= 3 and parts[1] == user and parts[0]:
                    self.say("using existing", "tokens.csv")
                    return parts[0]
        token = secrets.token_hex(16)
        _private(path, f'{token},{user},{user},"{",".join(groups)}"\n'.encode())
        self.say("generated", f"tokens.csv (a static token for {user})")
        return token

    def kubeconfig(self, name: str, server: str, ca: pki.KeyCert, cn: str,
                   orgs: Sequence[str] = (), token: str | None = None) -> None:
        path = self.root / name
        if path.exists():
            try:
                import yaml

                data: Any = yaml.safe_load(path.read_text())
                cluster = data["clusters"][0]["cluster"]
                user = data["users"][0]["user"]
                client = pki.KeyCert(base64.b64decode(user["client-key-data"]),
                                     base64.b64decode(user["client-certificate-data"]))
                if (cluster["server"] == server
                        and base64.b64decode(cluster["certificate-authority-data"])
                        == ca.cert_pem
                        and user.get("token") == token
                        and _fits(client, ca, cn, orgs, (), ())):
                    self.say("using existing", f"kubeconfig {name}")
                    return
            except Exception:
                pass
        client = pki.issue(ca, cn, organizations=orgs, client=True)
        data = pki.kubeconfig(server, ca.cert_pem, cn, client=client, token=token,
                              cluster="kubernetes")
        import yaml

        _private(path, yaml.safe_dump(data, sort_keys=False).encode())
        self.say("wrote", f"kubeconfig {name} ({cn} at {server})")


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for group in values for v in group.split(",") if v.strip()]


def init(args: argparse.Namespace) -> int:
    w = Writer(Path(args.dir), args.quiet)
    nodes = _split(args.nodes)
    dns = [*APISERVER_NAMES, f"kubernetes.default.svc.{args.cluster_domain}"]
    ips = ["127.0.0.1", str(next(ipaddress.ip_network(args.service_cidr).hosts()))]
    for san in _split(args.apiserver_san):
        try:
            ips.append(str(ipaddress.ip_address(san)))
        except ValueError:
            dns.append(san)
    ca = w.ca()
    w.cert(ca, "apiserver", "kube-apiserver", dns=dns, ips=ips, server=True)
    w.cert(ca, "apiserver-kubelet-client", "kube-apiserver-kubelet-client",
           orgs=["system:masters"], client=True)
    w.sa_keys()
    for node in nodes:  # as the kubelet's serving CSR names it
        w.cert(ca, node, f"system:node:{node}", orgs=["system:nodes"], dns=[node], server=True)
    token = w.token_file("kubernetes-admin", ["system:masters"])
    w.kubeconfig("admin.conf", args.admin_server or args.server, ca, "kubernetes-admin",
                 ["system:masters"], token=token)
    w.kubeconfig("scheduler.conf", args.server, ca, "system:kube-scheduler")
    w.kubeconfig("controller-manager.conf", args.server, ca, "system:kube-controller-manager")
    w.kubeconfig("proxy.conf", args.server, ca, "system:kube-proxy")
    for node in nodes:
        w.kubeconfig(f"kubelet-{node}.conf", args.server, ca, f"system:node:{node}",
                     ["system:nodes"])
    if args.share:
        share(Path(args.dir), Path(args.share), nodes, args.quiet)
    return 0


def component_files(nodes: Sequence[str]) -> dict[str, list[str]]:
    """Each component's files, relative to DIR (what its container needs, nothing more)."""
    files = {"scheduler": ["scheduler.conf"],
             "controller-manager": ["controller-manager.conf", "pki/ca.crt", "pki/sa.key"],
             "proxy": ["proxy.conf"],
             # the dashboard has no identity of its own: it acts with its users' credentials
             "dashboard": ["pki/ca.crt"]}
    for node in nodes:
        files[node] = [f"kubelet-{node}.conf", f"pki/{node}.crt", f"pki/{node}.key",
                       "pki/ca.crt"]
    return files


def share(root: Path, out: Path, nodes: Sequence[str], quiet: bool = False) -> None:
    """Copy each component's files to ``out/<component>/`` (kept when unchanged; keys and
    kubeconfigs 0600)."""
    for component, names in component_files(nodes).items():
        for name in names:
            data = (root / name).read_bytes()
            dest = out / component / name
            if dest.exists() and dest.read_bytes() == data:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".crt"):
                dest.write_bytes(data)
            else:
                _private(dest, data)
            if not quiet:
                print(f"shared {name} with {component}")


def merge(args: argparse.Namespace) -> int:
    """``merge-kubeconfig``: the source's current context, its cluster and user all renamed
    NAME, merged into each target file (entries of that name replaced, others kept) with NAME
    the current context, as ``kind`` writes a cluster's context into ~/.kube/config."""
    import yaml

    src: Any = yaml.safe_load(Path(args.source).read_text())
    ctx_name = src.get("current-context")
    ctx = next(c["context"] for c in src["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in src["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in src["users"] if u["name"] == ctx["user"])
    name = args.name
    new_ctx = {**ctx, "cluster": name, "user": name}
    for target in args.into:
        path = Path(os.path.expanduser(target))
        data: Any = {}
        if path.exists():
            data = yaml.safe_load(path.read_text()) or {}
        data.setdefault("apiVersion", "v1")
        data.setdefault("kind", "Config")
        data.setdefault("preferences", {})
        for section, inner, body in (("clusters", "cluster", cluster), ("users", "user", user),
                                     ("contexts", "context", new_ctx)):
            entries = [e for e in (data.get(section) or []) if e.get("name") != name]
            entries.append({"name": name, inner: body})
            data[section] = entries
        data["current-context"] = name
        path.parent.mkdir(parents=True, exist_ok=True)
        _private(path, yaml.safe_dump(data, sort_keys=False).encode())
        if not args.quiet:
            print(f'merged context "{name}" into {path} (current-context)')
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minik8s-pki", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="write (or complete) a cluster's PKI and kubeconfigs")
    i.add_argument("--dir", required=True, help="where (kubeadm's /etc/kubernetes)")
    i.add_argument("--nodes", action="append", default=[],
                   help="node names, comma-separated (a kubeconfig and serving cert each)")
    i.add_argument("--apiserver-san", action="append", default=[],
                   help="more names or IPs for the API server's certificate")
    i.add_argument("--server", default="https://apiserver:6443",
                   help="the API server URL in the components' kubeconfigs")
    i.add_argument("--admin-server", default=None,
                   help="the API server URL in admin.conf (default: --server)")
    i.add_argument("--service-cidr", default=DEFAULT_SERVICE_CIDR)
    i.add_argument("--cluster-domain", default="cluster.local")
    i.add_argument("--share", default=None, metavar="OUT",
                   help="also copy each component's own files to OUT/<component>/")
    i.add_argument("-q", "--quiet", action="store_true")
    m = sub.add_parser("merge-kubeconfig",
                       help="merge a kubeconfig's context into kubeconfig files as NAME")
    m.add_argument("source")
    m.add_argument("--name", default="minik8s", help="the context, cluster and user name")
    m.add_argument("--into", action="append", required=True, help="a kubeconfig to update")
    m.add_argument("-q", "--quiet", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return merge(args) if args.cmd == "merge-kubeconfig" else init(args)
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        print(f"minik8s-pki: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
