"""Warnings and audit annotations recorded while a request is served.

Kubernetes' ``k8s.io/apiserver/pkg/warning`` (``warning.AddWarning(ctx, agent, text)``,
whose recorder ``endpoints/filters/warning.go`` WithWarningRecorder installs) and
``audit.AddAuditAnnotation(ctx, key, value)``: code deep in a handler (admission plugins,
deprecation notices, field validation in Warn mode) adds them for the request being
served, without a handle on the response.

``RequestNotesMiddleware`` gives each HTTP request a ``Notes`` (a contextvar, and
``scope[SCOPE_KEY]`` for the audit middleware, which sits outside it) and writes the
warnings as ``Warning: 299 - "text"`` headers when the response starts: deduplicated,
in the order added, at most 4096 characters in all before each one is cut to 256 (the
recorder's truncateAtTotalRunes / truncateItemRunes). Outside a request both calls do
nothing.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "minik8s.notes"

TRUNCATE_AT_TOTAL_RUNES = 4 * 1024
TRUNCATE_ITEM_RUNES = 256


def warning_header(text: str, agent: str = "-", code: int = 299) -> str:
    """net.NewWarningHeader: ``299 - "text"`` with ``"`` and ``\\`` escaped."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'{code:03d} {agent or "-"} "{quoted}"'


class Notes:
    """What one request has recorded: warnings (deduplicated by text) and audit
    annotations (the first value of a key is kept, as audit.AddAuditAnnotation logs and
    ignores a second one)."""

    __slots__ = ("_seen", "annotations", "warnings")

    def __init__(self) -> None:
        self.warnings: list[tuple[str, str]] = []  # (agent, text)
        self._seen: set[str] = set()
        self.annotations: dict[str, str] = {}

    def add_warning(self, text: str, agent: str = "") -> None:
        if not text or text in self._seen:
            return
        self._seen.add(text)
        self.warnings.append((agent, text))

    def add_annotation(self, key: str, value: str) -> None:
        self.annotations.setdefault(key, value)

    def headers(self) -> list[str]:
        """The Warning header values, truncated as the recorder does."""
        texts = [(a, t) for a, t in self.warnings]
        if sum(len(t) for _, t in texts) > TRUNCATE_AT_TOTAL_RUNES:
            out: list[str] = []
            written = 0
            for agent, text in texts:
                text = text[:TRUNCATE_ITEM_RUNES]
                if written >= TRUNCATE_AT_TOTAL_RUNES:
                    break
                written += len(text)
                out.append(warning_header(text, agent))
            return out
        return [warning_header(t, a) for a, t in texts]


_current: ContextVar[Notes | None] = ContextVar("request_notes", default=None)


def current() -> Notes | None:
    return _current.get()


def add_warning(text: str, agent: str = "") -> None:
    """warning.AddWarning: a Warning header on the response of the request being served."""
    n = _current.get()
    if n is not None:
        n.add_warning(text, agent)


def add_audit_annotation(key: str, value: str) -> None:
    """audit.AddAuditAnnotation: an annotation on the request's audit events."""
    n = _current.get()
    if n is not None:
        n.add_annotation(key, value)


class RequestNotesMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        notes = Notes()
        scope[SCOPE_KEY] = notes
        token = _current.set(notes)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and notes.warnings:
                headers = list(message.get("headers") or ())
                headers += [(b"warning", h.encode()) for h in notes.headers()]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            _current.reset(token)
