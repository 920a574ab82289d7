"""apiserver/warning.py: Warning headers as kube-apiserver writes them, audit annotations.

The middleware is driven as ASGI with a handler of the test's own; the headers a real
client sees are checked with kubectl in tests/apiserver/test_podsecurity*.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from apiserver import warning


def test_header_format_escapes_quotes_and_backslashes() -> None:
    assert warning.warning_header("plain") == '299 - "plain"'
    assert warning.warning_header('say "hi" \\o/') == '299 - "say \\"hi\\" \\\\o/"'


def test_notes_dedupe_and_keep_order() -> None:
    n = warning.Notes()
    for t in ("b", "a", "b", "", "c"):
        n.add_warning(t)
    assert n.headers() == ['299 - "b"', '299 - "a"', '299 - "c"']
    n.add_annotation("k", "1")
    n.add_annotation("k", "2")
    assert n.annotations == {"k": "1"}


def test_truncation_past_4096_characters() -> None:
    n = warning.Notes()
    for i in range(20):
        n.add_warning(f"{i:02d}" + "x" * 400)
    hs = n.headers()
    # every item cut to 256 characters, and no more once 4096 are written
    assert all(len(h) == len('299 - ""') + 256 for h in hs)
    assert len(hs) == 16


def test_outside_a_request_nothing_happens() -> None:
    warning.add_warning("ignored")
    warning.add_audit_annotation("k", "v")
    assert warning.current() is None


def test_middleware_adds_headers_and_exposes_annotations() -> None:
    async def handler(scope: Any, receive: Any, send: Any) -> None:
        warning.add_warning('would violate "x"')
        warning.add_warning('would violate "x"')
        warning.add_audit_annotation("pod-security.kubernetes.io/enforce-policy",
                                     "baseline:latest")
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[MutableMapping[str, Any]] = []

    async def send(m: MutableMapping[str, Any]) -> None:
        sent.append(m)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope: dict[str, Any] = {"type": "http", "path": "/api/v1/pods"}
    asyncio.run(warning.RequestNotesMiddleware(handler)(scope, receive, send))
    assert sent[0]["headers"] == [(b"content-type", b"application/json"),
                                  (b"warning", b'299 - "would violate \\"x\\""')]
    assert scope[warning.SCOPE_KEY].annotations == {
        "pod-security.kubernetes.io/enforce-policy": "baseline:latest"}
    assert warning.current() is None


def test_the_client_reads_what_the_server_writes() -> None:
    from client.rest import parse_warning

    for text in ("plain", 'say "hi" \\o/', 'pods "x": a, b'):
        assert parse_warning(warning.warning_header(text)) == text
    assert parse_warning('199 - "miscellaneous"') is None
    assert parse_warning("299 - unquoted") is None
