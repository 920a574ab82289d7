"""Auditing (staging/src/k8s.io/apiserver/pkg/audit, plugin/pkg/audit/log): with
``--audit-log-path`` and ``--audit-policy-file``, each request the policy selects is written
as audit.k8s.io/v1 Event JSON lines.

The policy (audit.k8s.io/v1 Policy) is a list of rules; the first whose users, userGroups,
verbs, resources (group, resources with ``*``, ``*/sub`` and ``res/*``, resourceNames),
namespaces or nonResourceURLs (a trailing ``*`` is a prefix) match the request gives its
level: None (not audited), Metadata (who did what to which object, and the outcome),
Request (+ the request body) or RequestResponse (+ the response body). Stages: RequestReceived
and ResponseComplete for every request, ResponseStarted when a watch starts streaming or
when authentication failed (no user, Kubernetes' WithFailedAuthenticationAudit); a rule's
or the policy's omitStages leave stages out.

The middleware sits outside authentication, so refused requests (401, 403) are audited too;
it reads the user, the impersonated user and the authorization decision that
``auth.middleware`` leaves in the scope. Events go to a buffer that a task writes to the file
a few times a second, off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import yaml
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apiserver import warning
from apiserver.auth import attributes
from apiserver.auth.middleware import AUTHN_USER_KEY, AUTHZ_KEY
from apiserver.auth.user import UserInfo

log = logging.getLogger("apiserver.audit")

JSONDict = dict[str, Any]

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
_RANK = {name: i for i, name in enumerate(LEVELS)}

_MAX_BODY = 1 << 20  # request/response bodies above this size are not logged


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    level: str
    users: frozenset[str] = frozenset()
    user_groups: frozenset[str] = frozenset()
    verbs: frozenset[str] = frozenset()
    resources: tuple[GroupResources, ...] = ()
    namespaces: frozenset[str] = frozenset()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()

    def matches(self, user: UserInfo | None, attrs: attributes.Attributes) -> bool:
        """ruleMatches (policy/checker.go)."""
        if self.users and (user is None or user.name not in self.users):
            return False
        if self.user_groups and (user is None or not any(
                g in self.user_groups for g in user.groups)):
            return False
        if self.verbs and attrs.verb not in self.verbs:
            return False
        if self.namespaces or self.resources:
            return self._matches_resource(attrs)
        if self.non_resource_urls:
            return not attrs.resource_request and any(
                _path_matches(attrs.path, spec) for spec in self.non_resource_urls)
        return True

    def _matches_resource(self, attrs: attributes.Attributes) -> bool:
        if not attrs.resource_request:
            return False
        if self.namespaces and attrs.namespace not in self.namespaces:
            return False
        if not self.resources:
            return True
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource \
            else attrs.resource
        for gr in self.resources:
            if gr.group != attrs.api_group:
                continue
            if not gr.resources:
                return True
            if gr.resource_names and attrs.name not in gr.resource_names:
                continue
            for res in gr.resources:
                if res == combined or res == "*":
                    return True
                if attrs.subresource and res.startswith("*/") and \
                        attrs.subresource == res[2:]:
                    return True
                if res.endswith("/*") and attrs.resource == res[:-2]:
                    return True
        return False


def _path_matches(path: str, spec: str) -> bool:
    if spec == "*" or spec == path:
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...] = ()
    omit_stages: frozenset[str] = frozenset()

    def evaluate(self, user: UserInfo | None,
                 attrs: attributes.Attributes) -> tuple[str, frozenset[str]]:
        """(level, stages to omit) of the first matching rule; None when none matches."""
        for r in self.rules:
            if r.matches(user, attrs):
                return r.level, r.omit_stages | self.omit_stages
        return "None", self.omit_stages


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: a list of strings is required")
    return tuple(value)


def _stages(value: Any, where: str) -> frozenset[str]:
    stages = _strings(value, where)
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise PolicyError(f"{where}: unknown stage(s) {bad}; known: {list(STAGES)}")
    return frozenset(stages)


def parse_policy(doc: Any) -> Policy:
    """An audit.k8s.io/v1 Policy document (validation.ValidatePolicy's checks)."""
    if not isinstance(doc, dict):
        raise PolicyError("the policy is not a mapping")
    if doc.get("kind") != "Policy" or doc.get("apiVersion") not in (
            "audit.k8s.io/v1", "audit.k8s.io/v1beta1"):
        raise PolicyError("kind must be Policy, apiVersion audit.k8s.io/v1")
    rules = []
    for i, r in enumerate(doc.get("rules") or []):
        where = f"rules[{i}]"
        if not isinstance(r, dict):
            raise PolicyError(f"{where}: not a mapping")
        level = r.get("level")
        if level not in LEVELS:
            raise PolicyError(f"{where}.level: Unsupported value: {level!r}: supported "
                              f"values: {', '.join(repr(x) for x in LEVELS)}")
        grs = []
        for j, gr in enumerate(r.get("resources") or []):
            if not isinstance(gr, dict):
                raise PolicyError(f"{where}.resources[{j}]: not a mapping")
            grs.append(GroupResources(
                str(gr.get("group") or ""),
                _strings(gr.get("resources"), f"{where}.resources[{j}].resources"),
                _strings(gr.get("resourceNames"), f"{where}.resources[{j}].resourceNames")))
        urls = _strings(r.get("nonResourceURLs"), f"{where}.nonResourceURLs")
        if urls and (grs or r.get("namespaces")):
            raise PolicyError(f"{where}.nonResourceURLs: rules cannot apply to both "
                              "regular resources and non-resource URLs")
        rules.append(Rule(
            level=level, users=frozenset(_strings(r.get("users"), f"{where}.users")),
            user_groups=frozenset(_strings(r.get("userGroups"), f"{where}.userGroups")),
            verbs=frozenset(_strings(r.get("verbs"), f"{where}.verbs")),
            resources=tuple(grs),
            namespaces=frozenset(_strings(r.get("namespaces"), f"{where}.namespaces")),
            non_resource_urls=urls,
            omit_stages=_stages(r.get("omitStages"), f"{where}.omitStages")))
    return Policy(tuple(rules), _stages(doc.get("omitStages"), "omitStages"))


def load_policy(path: str) -> Policy:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"--audit-policy-file {path}: {e}") from e
    try:
        return parse_policy(doc)
    except PolicyError as e:
        raise PolicyError(f"--audit-policy-file {path}: {e}") from e


def _timestamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LogBackend:
    """Buffered JSON lines: ``add`` appends to a list, a task writes it out every
    ``interval`` seconds (and at ``close``). ``path`` "-" is standard output."""

    def __init__(self, path: str, interval: float = 0.2) -> None:
        self.path = path
        self.interval = interval
        self._pending: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._file: IO[bytes] | None = None
        self._wake: asyncio.Event | None = None

    def open(self) -> None:
        if self.path == "-":
            self._file = sys.stdout.buffer
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")

    def add(self, event: JSONDict) -> None:
        self._pending.append(orjson.dumps(event) + b"\n")
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="audit-log")

    def flush(self) -> None:
        if not self._pending or self._file is None:
            return
        lines, self._pending = self._pending, []
        try:
            self._file.write(b"".join(lines))
            self._file.flush()
        except OSError as e:
            log.error("audit log %s: %s (%d events lost)", self.path, e, len(lines))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.flush()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()
        if self._file is not None and self._file is not sys.stdout.buffer:
            self._file.close()
        self._file = None


@dataclass
class _Request:
    """What the middleware learns about one request while it is served."""

    scope: Scope
    received: float
    audit_id: str
    level: str | None = None
    omit: frozenset[str] = frozenset()
    attrs: attributes.Attributes | None = None
    body: list[bytes] = field(default_factory=list)
    body_size: int = 0
    response: list[bytes] = field(default_factory=list)
    response_size: int = 0
    code: int = 0
    content_type: str = ""
    received_logged: bool = False


class AuditMiddleware:
    def __init__(self, app: ASGIApp, policy: Policy, backend: LogBackend) -> None:
        self.app = app
        self.policy = policy
        self.backend = backend

    def _evaluate(self, r: _Request) -> str:
        if r.level is None:
            user: UserInfo | None = r.scope.get(AUTHN_USER_KEY)
            r.attrs = attributes.from_request(
                user or UserInfo(""), r.scope.get("method", "GET"), r.scope["path"],
                bytes(r.scope.get("query_string") or b"").decode("latin-1"))
            r.level, r.omit = self.policy.evaluate(user, r.attrs)
        return r.level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        audit_id = ""
        for k, v in scope.get("headers") or ():
            if k == b"audit-id":
                audit_id = v.decode("latin-1").strip()
        r = _Request(scope, time.time(), audit_id or str(uuid.uuid4()))
        audit_header = (b"audit-id", r.audit_id.encode("latin-1"))

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request" and \
                    _RANK[self._evaluate(r)] >= _RANK["Request"]:
                chunk = message.get("body", b"")
                r.body_size += len(chunk)
                if r.body_size <= _MAX_BODY:
                    r.body.append(chunk)
            return message

        async def send_wrapper(message: Message) -> None:
            t = message["type"]
            if t in ("http.response.start", "websocket.http.response.start"):
                r.code = int(message["status"])
                headers = list(message.get("headers") or ())
                for k, v in headers:
                    if k == b"content-type":
                        r.content_type = v.decode("latin-1")
                message = {**message, "headers": [*headers, audit_header]}
                self._evaluate(r)
                if scope.get(AUTHN_USER_KEY) is None and r.code == 401:
                    self._emit(r, "ResponseStarted")  # failed authentication: this only
                elif r.attrs is not None and r.attrs.verb == "watch":
                    self._emit(r, "RequestReceived")
                    r.received_logged = True
                    self._emit(r, "ResponseStarted")
            elif t in ("http.response.body", "websocket.http.response.body") and \
                    self._evaluate(r) == "RequestResponse" and \
                    (r.attrs is None or r.attrs.verb != "watch"):
                chunk = message.get("body", b"")
                r.response_size += len(chunk)
                if r.response_size <= _MAX_BODY:
                    r.response.append(chunk)
            elif t == "websocket.accept":
                r.code = 101
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except BaseException:
            if not r.code:
                r.code = 500
            raise
        finally:
            unauthenticated = scope.get(AUTHN_USER_KEY) is None and r.code == 401
            if not unauthenticated:
                if not r.received_logged:
                    self._emit(r, "RequestReceived")
                self._emit(r, "ResponseComplete")

    def _emit(self, r: _Request, stage: str) -> None:
        level = self._evaluate(r)
        if level == "None" or stage in r.omit:
            return
        try:
            self.backend.add(self._event(r, level, stage))
        except Exception:  # an audit failure never fails the request
            log.exception("audit event for %s", r.scope.get("path"))

    def _event(self, r: _Request, level: str, stage: str) -> JSONDict:
        scope = r.scope
        attrs = r.attrs
        assert attrs is not None
        qs = bytes(scope.get("query_string") or b"").decode("latin-1")
        authn: UserInfo | None = scope.get(AUTHN_USER_KEY)
        ev: JSONDict = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level,
            "auditID": r.audit_id, "stage": stage,
            "requestURI": _request_uri(scope, qs), "verb": attrs.verb,
            "user": authn.to_wire() if authn is not None else {},
        }
        effective: UserInfo | None = scope.get("minik8s.user")
        if authn is not None and effective is not None and effective is not authn:
            ev["impersonatedUser"] = effective.to_wire()
        client = scope.get("client")
        ev["sourceIPs"] = _source_ips(scope, client[0] if client else "")
        for k, v in scope.get("headers") or ():
            if k == b"user-agent":
                ev["userAgent"] = v.decode("latin-1")
                break
        if attrs.resource_request:
            ref: JSONDict = {"resource": attrs.resource}
            if attrs.namespace:
                ref["namespace"] = attrs.namespace
            name = attrs.name
            req_obj = _json(r.body) if r.body else None
            if not name and attrs.verb == "create" and isinstance(req_obj, dict):
                name = str((req_obj.get("metadata") or {}).get("name") or "")
            if name:
                ref["name"] = name
            if attrs.api_group:
                ref["apiGroup"] = attrs.api_group
            ref["apiVersion"] = attrs.api_version
            if attrs.subresource:
                ref["subresource"] = attrs.subresource
            ev["objectRef"] = ref
        if stage != "RequestReceived":
            ev["responseStatus"] = self._response_status(r)
        if _RANK[level] >= _RANK["Request"] and stage != "RequestReceived" and r.body and \
                r.body_size <= _MAX_BODY:  # (the handler has not decoded it yet)
            obj = _json(r.body)
            if obj is not None:
                ev["requestObject"] = obj
        if level == "RequestResponse" and stage == "ResponseComplete" and r.response and \
                r.response_size <= _MAX_BODY and "json" in r.content_type:
            obj = _json(r.response)
            if obj is not None:
                ev["responseObject"] = obj
        ev["requestReceivedTimestamp"] = _timestamp(r.received)
        ev["stageTimestamp"] = _timestamp(r.received if stage == "RequestReceived"
                                          else time.time())
        authz = scope.get(AUTHZ_KEY)
        if authz is not None and stage != "RequestReceived":
            ev["annotations"] = {"authorization.k8s.io/decision": authz[0],
                                 "authorization.k8s.io/reason": authz[1]}
        notes = scope.get(warning.SCOPE_KEY)
        if notes is not None and notes.annotations and stage != "RequestReceived":
            ev["annotations"] = {**notes.annotations, **(ev.get("annotations") or {})}
        return ev

    def _response_status(self, r: _Request) -> JSONDict:
        status: JSONDict = {"metadata": {}, "code": r.code}
        if r.code >= 400 and r.response and "json" in r.content_type:
            body = _json(r.response)
            if isinstance(body, dict) and body.get("kind") == "Status":
                for k in ("status", "message", "reason", "details"):
                    if body.get(k):
                        status[k] = body[k]
        return status


def _request_uri(scope: Scope, qs: str) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    return f"{path}?{qs}" if qs else path


def _json(chunks: Sequence[bytes]) -> Any:
    data = b"".join(chunks)
    if not data:
        return None
    if data.startswith(b"k8s\x00"):
        from apiserver import protobuf

        try:
            return protobuf.decode(data)
        except Exception:
            return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _source_ips(scope: Scope, peer: str) -> list[str]:
    """X-Forwarded-For's addresses, then X-Real-Ip, then the peer (utilnet.SourceIPs)."""
    ips: list[str] = []
    for k, v in scope.get("headers") or ():
        if k == b"x-forwarded-for":
            ips += [p.strip() for p in v.decode("latin-1").split(",") if p.strip()]
        elif k == b"x-real-ip" and not ips:
            ips.append(v.decode("latin-1").strip())
    if peer and peer not in ips:
        ips.append(peer)
    return ips


class Audit:
    """The configured audit: policy + backend; ``middleware`` wraps the app."""

    def __init__(self, policy: Policy, backend: LogBackend) -> None:
        self.policy = policy
        self.backend = backend

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return AuditMiddleware(app, self.policy, self.backend)

    def start(self) -> None:
        self.backend.open()

    async def close(self) -> None:
        await self.backend.close()


def configure(log_path: str | None, policy_file: str | None) -> Audit | None:
    """The audit the flags ask for: both a log path and a policy, else none."""
    if not log_path or not policy_file:
        return None
    return Audit(load_policy(policy_file), LogBackend(log_path))
