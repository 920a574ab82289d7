"""pods/proxy, services/proxy and nodes/proxy: kube-apiserver's proxy subresources.

``/api/v1/namespaces/NS/pods/ID/proxy[/PATH]`` (and services, and ``/api/v1/nodes/ID/proxy``)
where ID is ``NAME``, ``NAME:PORT`` or ``SCHEME:NAME:PORT`` (Kubernetes'
SplitSchemeNamePort). The target is found as Kubernetes' ResourceLocation does:

- pods: the pod's IP (refused unless a global unicast address), at PORT or else the first
  declared container port;
- services: a ready endpoint of the service port named, or numbered, PORT (from the
  service's EndpointSlices; a number is first mapped to the service port's name, as there);
- nodes: the kubelet's address and port (apiserver/kubelets.py), or another PORT on the
  node's address.

The request is relayed with every method, the query string and the body streamed (not
read whole), hop-by-hop headers dropped and X-Forwarded-* added; the answer is streamed
back chunk by chunk. As in Kubernetes' UpgradeAwareHandler and proxy Transport: a GET or
HEAD of ``ID/proxy`` without a trailing path is a 301 to ``ID/proxy/``; a redirect's
Location that points at the target is rewritten under the proxy path; CORS headers of the
answer are dropped. (Kubernetes also rewrites links inside text/html answers; minik8s
passes bodies unchanged.) An unreachable target is a 503 ServiceUnavailable Status with
the reason ("error trying to reach service: ..."), a connect that times out a 504.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import posixpath
import random
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from api import resources
from api.resources import ResourceInfo
from apiserver import errors, kubelets
from apiserver.kubelets import kubelet_url
from apiserver.registry import Registry

if TYPE_CHECKING:
    import aiohttp

JSONDict = dict[str, Any]

# Kubernetes' proxy dialer gives up after 30 s; a learner's cluster is one machine.
CONNECT_TIMEOUT = 10.0
# An answer with a Content-Length up to this is relayed without a task listening for the
# client's disconnect (it ends by itself soon enough); a longer or chunked one has one.
BOUNDED_ANSWER = 1 << 20

# httputil.ReverseProxy's hop-by-hop headers, plus what the API server consumes itself.
_HOP = frozenset({
    "connection", "proxy-connection", "keep-alive", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
    # the API server authenticated the request; credentials are not passed on
    "authorization",
})
# corsRemovingTransport
_CORS = frozenset({"access-control-allow-credentials", "access-control-allow-headers",
                   "access-control-allow-methods", "access-control-allow-origin",
                   "access-control-expose-headers", "access-control-max-age"})
_SAFE_PATH = "/:@!$&'()*+,;=-._~"


def split_scheme_name_port(id_: str) -> tuple[str, str, str] | None:
    """Kubernetes' utilnet.SplitSchemeNamePort: NAME, NAME:PORT or SCHEME:NAME:PORT."""
    parts = id_.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return None
    if not name or scheme not in ("", "http", "https"):
        return None
    return scheme or "http", name, port


@functools.lru_cache(maxsize=4096)
def _global_unicast(ip: str) -> bool:
    """Go's net.IP.IsGlobalUnicast (private ranges count as global unicast there)."""
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (a.is_loopback or a.is_link_local or a.is_multicast or a.is_unspecified
                or a == ipaddress.ip_address("255.255.255.255"))


def _hostport(host: str, port: str) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


async def pod_location(reg: Registry, namespace: str, id_: str) -> tuple[str, str]:
    parsed = split_scheme_name_port(id_)
    if parsed is None:
        raise errors.bad_request(f'invalid pod request "{id_}"')
    scheme, name, port = parsed
    pod = (await reg.get(resources.PODS, namespace, name)).obj
    if not port:
        for c in (pod.get("spec") or {}).get("containers") or []:
            ports = c.get("ports") or [] if isinstance(c, dict) else []
            if ports:
                port = str(ports[0].get("containerPort"))
                break
    status = pod.get("status") or {}
    ip = status.get("podIP") or next(
        (p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, dict)), "")
    if not _global_unicast(str(ip or "")):
        raise errors.bad_request("address not allowed")
    return scheme, _hostport(str(ip), port)


async def service_location(reg: Registry, namespace: str, id_: str) -> tuple[str, str]:
    parsed = split_scheme_name_port(id_)
    if parsed is None:
        raise errors.bad_request(f'invalid service request "{id_}"')
    scheme, name, port = parsed
    svc = (await reg.get(resources.SERVICES, namespace, name)).obj
    if port.isdigit():
        for sp in (svc.get("spec") or {}).get("ports") or []:
            if isinstance(sp, dict) and str(sp.get("port")) == port:
                port = str(sp.get("name") or "")
                break
        else:
            raise errors.unavailable(f'no service port {port} found for service "{name}"')
    raw = await reg.list_objects(
        resources.ENDPOINTSLICES, namespace,
        lambda o: ((o.get("metadata") or {}).get("labels") or {}).get(
            "kubernetes.io/service-name") == name)
    slices = [s for s in orjson.loads(raw).get("items") or []
              if s.get("addressType") in ("IPv4", "IPv6")]
    random.shuffle(slices)
    for s in slices:
        target = next((p for p in s.get("ports") or []
                       if isinstance(p, dict) and (p.get("name") or "") == port), None)
        if target is None or target.get("port") is None:
            continue
        ready = [ep for ep in s.get("endpoints") or [] if isinstance(ep, dict)
                 and (ep.get("conditions") or {}).get("ready") is not False
                 and ep.get("addresses")]
        if ready:
            ep = random.choice(ready)
            return scheme, _hostport(str(ep["addresses"][0]), str(target["port"]))
    raise errors.unavailable(f'no endpoints available for service "{id_}"')


async def node_location(reg: Registry, id_: str) -> tuple[str, str]:
    parsed = split_scheme_name_port(id_)
    if parsed is None:
        raise errors.bad_request(f'invalid node request "{id_}"')
    scheme, name, port = parsed
    node = (await reg.get(resources.NODES, None, name)).obj
    base = await kubelet_url(node)
    if base is None:
        raise errors.unavailable(f"node {name} reports no kubelet address and port")
    u = urlsplit(base)
    if not port or port == str(u.port):
        return u.scheme, u.netloc
    host = u.hostname or ""
    if not _global_unicast(host):
        raise errors.bad_request(f"address not allowed: {host}")
    return scheme, _hostport(host, port)


def _split_path(raw_path: str, info: ResourceInfo) -> tuple[str, str, str]:
    """(the proxy prefix up to ``.../proxy``, the ID as written, the path after it),
    all from the raw path: ``/api/v1/namespaces/NS/pods/ID/proxy`` + ``/PATH``."""
    segs = raw_path.split("/")
    for i in range(len(segs) - 2):
        if segs[i] == info.plural and segs[i + 2] == "proxy":
            rest = "/".join(segs[i + 3:])
            return "/".join(segs[:i + 3]), segs[i + 1], ("/" + rest) if len(segs) > i + 3 \
                else ""
    raise errors.path_not_found(raw_path)


def _join(path: str) -> str:
    """net.JoinPreservingTrailingSlash("", path), path cleaned as Go's path.Join."""
    if not path:
        return "/"
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def _rewrite_location(location: str, target_host: str, request_host: str,
                      prepend: str) -> str:
    """Kubernetes' proxy Transport.rewriteURL with the server side's empty scheme/host."""
    try:
        u = urlsplit(location)
    except ValueError:
        return location
    if (u.netloc and u.netloc not in (target_host, request_host)) \
            or not u.path.startswith("/"):
        return location
    if u.path.startswith(prepend):
        return urlunsplit(("", "", u.path, u.query, u.fragment))
    path = posixpath.normpath(prepend + "/" + u.path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if u.path.endswith("/") and not path.endswith("/"):
        path += "/"
    return urlunsplit(("", "", path, u.query, u.fragment))


_SESSIONS: dict[int, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    """One pooled client per event loop, made on the first proxy request: aiohttp costs the
    API server ~8 MB of RSS, which a server that proxies nothing need not pay."""
    import aiohttp

    loop = asyncio.get_running_loop()
    s = _SESSIONS.get(id(loop))
    if s is None or s.closed:
        s = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT),
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None))
        _SESSIONS[id(loop)] = s
    return s


async def close() -> None:
    """Close this loop's client (the API server's shutdown)."""
    s = _SESSIONS.pop(id(asyncio.get_running_loop()), None)
    if s is not None:
        await s.close()


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return


async def dispatch(request: Request, info: ResourceInfo, namespace: str | None) -> Response:
    raw_path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode(
        "latin-1").split("?", 1)[0]
    prefix = _split_path(raw_path, info)[0]
    # The ID and the path decoded, as the route's path parameters are.
    _, id_, rest = _split_path(request.url.path, info)
    reg: Registry = request.app.state.registry
    await reg.connect(info, namespace, id_, "proxy", request.query_params)
    if info is resources.PODS:
        scheme, host = await pod_location(reg, namespace or "", id_)
    elif info is resources.SERVICES:
        scheme, host = await service_location(reg, namespace or "", id_)
    else:
        scheme, host = await node_location(reg, id_)
    qs = bytes(request.scope.get("query_string") or b"").decode("latin-1")
    method = request.method
    if not rest and method in ("GET", "HEAD"):
        # proxyRedirectsforRootPath: an empty path is redirected to one ending in "/".
        return Response(status_code=301, headers={
            "Location": prefix + "/" + (f"?{qs}" if qs else "")})
    url = f"{scheme}://{host}{quote(_join(rest), safe=_SAFE_PATH)}" + (f"?{qs}" if qs else "")
    # A node's kubelet is reached with the kubelet client's TLS (apiserver/kubelets.py).
    tls = kubelets.current().aiohttp_ssl() if info is resources.NODES else True
    return await _relay(request, method, url, host, prefix, tls)


async def _relay(request: Request, method: str, url: str, host: str,
                 prefix: str, tls: ssl.SSLContext | bool = True) -> Response:
    import aiohttp
    from multidict import CIMultiDict
    from yarl import URL

    headers: CIMultiDict[str] = CIMultiDict()
    connection = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    for k, v in request.headers.items():
        lk = k.lower()
        if lk in _HOP or lk in connection or lk == "host":
            continue
        headers.add(k, v)
    client = request.client.host if request.client else ""
    prior = request.headers.get("x-forwarded-for")
    if client:
        headers["X-Forwarded-For"] = f"{prior}, {client}" if prior else client
    request_host = request.headers.get("host", "")
    uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    headers["X-Forwarded-Uri"] = uri
    headers["X-Forwarded-Host"] = request_host
    headers["X-Forwarded-Proto"] = request.url.scheme
    has_body = method not in ("GET", "HEAD") and (
        "content-length" in request.headers or "transfer-encoding" in request.headers)
    data = _body(request) if has_body else None
    try:
        upstream = await _session().request(
            method, URL(url, encoded=True), headers=headers, data=data,
            allow_redirects=False, ssl=tls, skip_auto_headers=("Accept-Encoding", "User-Agent",
                                                       "Content-Type"))
    except TimeoutError as e:
        raise errors.timeout(f"error trying to reach service: dial tcp {host}: i/o timeout") \
            from e
    except aiohttp.ClientConnectorError as e:
        code = e.os_error.errno
        reason = os.strerror(code) if code else str(e.os_error)
        raise errors.unavailable(
            f"error trying to reach service: dial tcp {host}: connect: {reason.lower()}") \
            from e
    except (aiohttp.ClientError, OSError) as e:
        raise errors.unavailable(f"error trying to reach service: {e or type(e).__name__}") \
            from e
    out: list[tuple[str, str]] = []
    resp_connection = {t.strip().lower()
                       for t in upstream.headers.get("connection", "").split(",")}
    for k, v in upstream.headers.items():
        lk = k.lower()
        if lk in _HOP or lk in _CORS or lk in resp_connection or (lk == "content-length" \
                and upstream.headers.get("transfer-encoding")):
            continue
        if lk == "location":
            v = _rewrite_location(v, host, request_host, prefix)
        out.append((k, v))

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError):
            return  # the target went away mid-answer: end the answer there
        finally:
            upstream.release()

    if method == "HEAD":
        upstream.release()
        return _Passthrough(upstream.status, out, None, bounded=True)
    length = upstream.headers.get("content-length", "")
    bounded = not upstream.headers.get("transfer-encoding") and length.isdigit() \
        and int(length) <= BOUNDED_ANSWER
    return _Passthrough(upstream.status, out, stream(), bounded=bounded)


class _Passthrough(StreamingResponse):
    """The target's status and headers as they are (repeated headers kept), its body
    streamed."""

    def __init__(self, status: int, headers: list[tuple[str, str]],
                 body: AsyncIterator[bytes] | None, bounded: bool = False) -> None:
        async def empty() -> AsyncIterator[bytes]:
            if False:  # pragma: no cover
                yield b""

        super().__init__(body if body is not None else empty(), status_code=status)
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in headers]
        self.bounded = bounded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.bounded:
            # A short answer of known length: sent without starlette's task group and
            # disconnect listener, which cost about as much as relaying the answer itself.
            await self.stream_response(send)
            return
        await super().__call__(scope, receive, send)
