"""From Ingresses, Services, EndpointSlices and Secrets to one nginx.conf.

Pure functions (no I/O): ``build`` turns the cluster's objects into a ``Plan`` (the
servers, their locations, the upstreams and the certificates to write), and ``render``
prints a plan as nginx configuration. Kubernetes' rules, as
https://kubernetes.io/docs/concepts/services-networking/ingress/ defines them:

- hosts: an exact host is one ``server_name``; ``*.example.com`` matches exactly one
  DNS label in front of ``example.com`` (not ``a.b.example.com``, not ``example.com``),
  a regex server_name; rules without a host are served by the default server.
- paths: ``Exact`` is ``location = /p``; ``Prefix`` matches element-wise (``/foo``
  matches ``/foo`` and ``/foo/bar``, not ``/foobar``; a trailing slash is ignored):
  ``location = /foo`` plus ``location ^~ /foo/``; ``ImplementationSpecific`` is a plain
  string prefix (``location ^~ /p``). The longest match wins; at equal length Exact
  wins over Prefix; between Ingresses, the oldest's rule wins.
- backends: a Service's port by number or name, resolved through its EndpointSlices to
  the ready endpoints' addresses and the slice port of the same name; upstreams go
  straight to the pods. A backend with no Service or no ready endpoint answers 503.
- ``defaultBackend``: the oldest Ingress's, for every request no rule matches (404 when
  none).
- TLS: a ``kubernetes.io/tls`` Secret per ``tls`` entry, one certificate per host (SNI);
  the default HTTPS server refuses handshakes for hosts without one.

Annotations (ingress-nginx's names, a few where they cost little):
``nginx.ingress.kubernetes.io/rewrite-target`` (the request URI becomes the target when
the path matches, ``$1``... refer to nothing unless the path is a regex: not supported),
``nginx.ingress.kubernetes.io/ssl-redirect`` (default "true": plain HTTP to a host with
TLS is redirected with 308; "false" serves it), ``nginx.ingress.kubernetes.io/
backend-protocol`` (HTTP, HTTPS, GRPC, GRPCS).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"
REWRITE_TARGET = ANNOTATION_PREFIX + "rewrite-target"
SSL_REDIRECT = ANNOTATION_PREFIX + "ssl-redirect"
BACKEND_PROTOCOL = ANNOTATION_PREFIX + "backend-protocol"
BACKEND_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "GRPCS")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TLS_SECRET_TYPE = "kubernetes.io/tls"
# Characters that would let a value escape its place in nginx.conf.
_UNSAFE = re.compile(r"[\"'`;{}\\\s#]")
# A path nginx.conf can hold as it is: RFC 3986's path characters less quotes.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9/\-._~%!$&()*+,=:@]*$")


def key(obj: Mapping[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace') or ''}/{md.get('name') or ''}"


@dataclass
class Backend:
    """Where a location sends its requests: an upstream, or a fixed status."""

    upstream: str | None = None  # None: answer ``status``
    status: int = 503
    protocol: str = "HTTP"


@dataclass
class Location:
    match: str  # "=", "^~" or "" (nginx location modifiers)
    path: str
    backend: Backend
    rewrite: str | None = None
    source: str = ""  # the Ingress it came from


@dataclass
class Server:
    host: str  # "" for the default server
    locations: dict[tuple[str, str], Location] = field(default_factory=dict)
    cert: str | None = None  # file name of the PEM (certificate + key)
    ssl_redirect: bool = False

    @property
    def server_name(self) -> str:
        if not self.host:
            return "_"
        if self.host.startswith("*."):
            rest = re.escape(self.host[2:])
            return f"~^[^.]+\\.{rest}$"
        return self.host


@dataclass
class Plan:
    servers: dict[str, Server] = field(default_factory=dict)
    upstreams: dict[str, list[str]] = field(default_factory=dict)  # name -> ["ip:port"]
    default_backend: Backend = field(default_factory=lambda: Backend(status=404))
    files: dict[str, bytes] = field(default_factory=dict)  # certificates to write
    included: list[str] = field(default_factory=list)  # Ingress keys served
    problems: dict[str, list[str]] = field(default_factory=dict)  # Ingress key -> why left out
    warnings: dict[str, list[str]] = field(default_factory=dict)  # served, with a caveat


def _created(obj: Mapping[str, Any]) -> tuple[str, str]:
    md = obj.get("metadata") or {}
    return (str(md.get("creationTimestamp") or ""), key(obj))


class Cluster:
    """The objects ``build`` reads, indexed as it looks them up."""

    def __init__(self, services: Iterable[JSON] = (), slices: Iterable[JSON] = (),
                 secrets: Iterable[JSON] = ()) -> None:
        self.services = {key(s): s for s in services}
        self.slices: dict[str, list[JSON]] = {}
        for s in slices:
            md = s.get("metadata") or {}
            svc = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if svc:
                self.slices.setdefault(f"{md.get('namespace') or ''}/{svc}", []).append(s)
        self.secrets = {key(s): s for s in secrets}

    def endpoints(self, namespace: str, backend: Mapping[str, Any]) -> tuple[str, list[str]]:
        """(upstream name, ["ip:port"...]) of a backend's service; ValueError when the
        Service or its port does not exist."""
        svc_ref = backend.get("service") or {}
        name = str(svc_ref.get("name") or "")
        port_ref = svc_ref.get("port") or {}
        svc = self.services.get(f"{namespace}/{name}")
        if svc is None:
            raise LookupError(f'service "{namespace}/{name}" not found')
        sport = None
        for p in (svc.get("spec") or {}).get("ports") or []:
            if (port_ref.get("number") and p.get("port") == port_ref.get("number")) or \
                    (port_ref.get("name") and p.get("name") == port_ref.get("name")):
                sport = p
                break
        want = port_ref.get("number") or port_ref.get("name")
        if sport is None:
            raise LookupError(f'service "{namespace}/{name}" has no port {want}')
        upstream = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{namespace}-{name}-{want}")
        port_name = sport.get("name") or ""
        addrs: list[str] = []
        for sl in sorted(self.slices.get(f"{namespace}/{name}", []), key=key):
            nums = [p.get("port") for p in sl.get("ports") or []
                    if (p.get("name") or "") == port_name and p.get("port")]
            if not nums:
                continue
            for ep in sl.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                for ip in (ep.get("addresses") or [])[:1]:
                    addrs.append(f"[{ip}]:{nums[0]}" if ":" in ip else f"{ip}:{nums[0]}")
        return upstream, sorted(set(addrs))


def _annotations(ing: Mapping[str, Any]) -> dict[str, str]:
    ann = (ing.get("metadata") or {}).get("annotations") or {}
    return {k: str(v) for k, v in ann.items()} if isinstance(ann, dict) else {}


def _check_annotations(ann: Mapping[str, str]) -> list[str]:
    out = []
    for k in (REWRITE_TARGET, SSL_REDIRECT, BACKEND_PROTOCOL):
        v = ann.get(k)
        if v is not None and (not v or _UNSAFE.search(v)):
            out.append(f"annotation {k}: invalid value {v!r}")
    proto = ann.get(BACKEND_PROTOCOL)
    if proto is not None and proto.upper() not in BACKEND_PROTOCOLS:
        out.append(f"annotation {BACKEND_PROTOCOL}: unsupported value {proto!r} "
                   f"(supported: {', '.join(BACKEND_PROTOCOLS)})")
    if ann.get(SSL_REDIRECT) not in (None, "true", "false"):
        out.append(f"annotation {SSL_REDIRECT}: must be \"true\" or \"false\"")
    if ann.get(REWRITE_TARGET) is not None and not ann[REWRITE_TARGET].startswith("/"):
        out.append(f"annotation {REWRITE_TARGET}: must start with '/'")
    return out


def _check_paths(ing: Mapping[str, Any]) -> list[str]:
    out = []
    for rule in (ing.get("spec") or {}).get("rules") or []:
        for p in (rule.get("http") or {}).get("paths") or []:
            path = str(p.get("path") or "/")
            if not _SAFE_PATH.match(path):
                out.append(f"path {path!r}: characters this controller cannot route by")
    return out


def _backend(cluster: Cluster, plan: Plan, namespace: str, backend: Mapping[str, Any],
             protocol: str, warn: list[str]) -> Backend:
    if not backend.get("service"):
        warn.append("resource backends are not supported: answered with 503")
        return Backend(status=503)
    try:
        upstream, addrs = cluster.endpoints(namespace, backend)
    except LookupError as e:
        warn.append(str(e))
        return Backend(status=503)
    if not addrs:
        return Backend(status=503)
    plan.upstreams[upstream] = addrs
    return Backend(upstream=upstream, protocol=protocol)


def _locations(path: Mapping[str, Any]) -> list[tuple[str, str]]:
    ptype = path.get("pathType")
    p = str(path.get("path") or "/")
    if ptype == "Exact":
        return [("=", p)]
    if ptype == "Prefix":
        p = p.rstrip("/") or "/"
        if p == "/":
            return [("", "/")]
        return [("=", p), ("^~", p + "/")]
    return [("", "/")] if p == "/" else [("^~", p)]


def _tls_certs(cluster: Cluster, plan: Plan, ing: Mapping[str, Any],
               warn: list[str]) -> dict[str, str]:
    """host -> certificate file, for the Ingress's tls entries whose Secret is usable."""
    ns = (ing.get("metadata") or {}).get("namespace") or ""
    out: dict[str, str] = {}
    for t in (ing.get("spec") or {}).get("tls") or []:
        secret_name = t.get("secretName")
        hosts = t.get("hosts") or []
        if not secret_name or not hosts:
            continue
        sec = cluster.secrets.get(f"{ns}/{secret_name}")
        if sec is None:
            warn.append(f'secret "{ns}/{secret_name}" not found: its hosts get no TLS')
            continue
        data = sec.get("data") or {}
        if sec.get("type") != TLS_SECRET_TYPE or "tls.crt" not in data or "tls.key" not in data:
            warn.append(f'secret "{ns}/{secret_name}" is not of type {TLS_SECRET_TYPE} with '
                        "tls.crt and tls.key")
            continue
        try:
            pem = base64.b64decode(data["tls.crt"]) + b"\n" + base64.b64decode(data["tls.key"])
        except (ValueError, TypeError):
            warn.append(f'secret "{ns}/{secret_name}": data is not base64')
            continue
        # The content's hash in the name: a renewed certificate is a new file, so a new
        # configuration and a reload.
        fname = f"{ns}-{secret_name}-{hashlib.sha256(pem).hexdigest()[:12]}.pem"
        plan.files[fname] = pem
        for h in hosts:
            out.setdefault(str(h), fname)
    return out


def build(ingresses: Iterable[JSON], cluster: Cluster, exclude: Iterable[str] = ()) -> Plan:
    """The plan for the Ingresses of our class (oldest first wins a conflict); those in
    ``exclude`` (and those with invalid annotations) are left out and named in
    ``problems``."""
    plan = Plan()
    excluded = set(exclude)
    default_set = False
    for ing in sorted(ingresses, key=_created):
        k = key(ing)
        if k in excluded:
            continue
        ann = _annotations(ing)
        bad = _check_annotations(ann) + _check_paths(ing)
        if bad:
            plan.problems[k] = bad
            continue
        warn: list[str] = []
        ns = (ing.get("metadata") or {}).get("namespace") or ""
        spec = ing.get("spec") or {}
        protocol = (ann.get(BACKEND_PROTOCOL) or "HTTP").upper()
        rewrite = ann.get(REWRITE_TARGET)
        certs = _tls_certs(cluster, plan, ing, warn)
        redirect = ann.get(SSL_REDIRECT, "true") == "true"
        if spec.get("defaultBackend") and not default_set:
            plan.default_backend = _backend(cluster, plan, ns, spec["defaultBackend"],
                                            protocol, warn)
            default_set = True
        for rule in spec.get("rules") or []:
            host = str(rule.get("host") or "")
            server = plan.servers.setdefault(host, Server(host))
            if host and host in certs and server.cert is None:
                server.cert = certs[host]
                server.ssl_redirect = redirect
            for path in (rule.get("http") or {}).get("paths") or []:
                be = _backend(cluster, plan, ns, path.get("backend") or {}, protocol, warn)
                for match, p in _locations(path):
                    server.locations.setdefault((match, p), Location(match, p, be, rewrite, k))
        for host, cert in certs.items():
            server = plan.servers.setdefault(host, Server(host))
            if server.cert is None:
                server.cert = cert
                server.ssl_redirect = redirect
        plan.included.append(k)
        if warn:
            plan.warnings[k] = warn
    return plan


# ---- nginx.conf ----------------------------------------------------------------------

@dataclass
class Settings:
    run_dir: str  # pid, temp paths, certificates
    http_port: int = 80
    https_port: int = 443
    address: str = ""  # "" = all addresses
    worker_processes: str = "auto"
    worker_connections: int = 4096
    access_log: bool = False


def _listen(address: str, port: int) -> str:
    return f"{address}:{port}" if address else str(port)


def _proxy(be: Backend, rewrite: str | None, path: str, match: str) -> list[str]:
    lines: list[str] = []
    if be.upstream is None:
        return [f"return {be.status};"]
    if rewrite:
        lines.append(f'rewrite "(?i)^{_regex(path)}" {rewrite} break;')
    if be.protocol in ("GRPC", "GRPCS"):
        scheme = "grpcs" if be.protocol == "GRPCS" else "grpc"
        lines.append(f"grpc_pass {scheme}://{be.upstream};")
    else:
        scheme = "https" if be.protocol == "HTTPS" else "http"
        lines.append(f"proxy_pass {scheme}://{be.upstream};")
    return lines


def _regex(path: str) -> str:
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", path)


def _location(loc: Location) -> list[str]:
    head = f"location {loc.match} {loc.path}" if loc.match else f"location {loc.path}"
    body = _proxy(loc.backend, loc.rewrite, loc.path.rstrip("/") if loc.match == "^~"
                  and loc.path != "/" else loc.path, loc.match)
    return [f"        {head} {{  # {loc.source}", *(f"            {b}" for b in body),
            "        }"]


def _server_body(plan: Plan, server: Server, https: bool) -> list[str]:
    out: list[str] = []
    if server.ssl_redirect and server.cert and not https:
        out.append("        location / { return 308 https://$host$request_uri; }")
        return out
    have_root = False
    for (match, p), loc in sorted(server.locations.items(), key=lambda kv: kv[0][1]):
        out += _location(loc)
        have_root = have_root or (match == "" and p == "/")
    if not have_root:
        out += _location(Location("", "/", plan.default_backend, None, "default backend"))
    return out


def render(plan: Plan, s: Settings) -> str:
    r = s.run_dir
    lines = [
        "# Written by minik8s-ingress; every change is replaced on the next sync.",
        f"worker_processes {s.worker_processes};",
        f"pid {r}/nginx.pid;",
        f"error_log {r}/error.log notice;",
        "events {", f"    worker_connections {s.worker_connections};", "}",
        "http {",
        f"    access_log {r + '/access.log' if s.access_log else 'off'};",
        f"    client_body_temp_path {r}/client_body;",
        f"    proxy_temp_path {r}/proxy;",
        f"    fastcgi_temp_path {r}/fastcgi;",
        f"    uwsgi_temp_path {r}/uwsgi;",
        f"    scgi_temp_path {r}/scgi;",
        "    server_names_hash_bucket_size 128;",
        "    server_names_hash_max_size 4096;",
        "    server_tokens off;",
        "    keepalive_requests 10000;",
        "    map $http_upgrade $proxy_connection { default upgrade; '' ''; }",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Connection $proxy_connection;",
        "    proxy_set_header Upgrade $http_upgrade;",
        "    proxy_set_header Host $host;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_set_header X-Forwarded-Host $host;",
        "    proxy_connect_timeout 5s;",
        "    proxy_next_upstream error timeout;",
        "    proxy_next_upstream_tries 3;",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
    ]
    for name, addrs in sorted(plan.upstreams.items()):
        lines.append(f"    upstream {name} {{")
        lines += [f"        server {a} max_fails=0;" for a in addrs]
        lines += ["        keepalive 64;", "    }"]
    http, https = _listen(s.address, s.http_port), _listen(s.address, s.https_port)
    default = plan.servers.get("", Server(""))
    lines += ["    server {", f"        listen {http} default_server;",
              f"        listen {https} ssl default_server;",
              "        ssl_reject_handshake on;", "        server_name _;"]
    lines += _server_body(plan, default, False)
    lines.append("    }")
    for host, server in sorted(plan.servers.items()):
        if not host:
            continue
        lines += ["    server {", f"        listen {http};",
                  f"        server_name {server.server_name};"]
        lines += _server_body(plan, server, False)
        lines.append("    }")
        if server.cert:
            lines += ["    server {", f"        listen {https} ssl;",
                      f"        server_name {server.server_name};",
                      f"        ssl_certificate {r}/certs/{server.cert};",
                      f"        ssl_certificate_key {r}/certs/{server.cert};"]
            lines += _server_body(plan, server, True)
            lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"
