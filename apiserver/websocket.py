"""uvicorn's sans-I/O WebSocket protocol, taking the subprotocol names Kubernetes clients send.

kubectl port-forward (1.30+) offers ``SPDY/3.1+portforward.k8s.io``; the ``/`` is not a
token character of RFC 6455's Sec-WebSocket-Protocol grammar, and the ``websockets``
library's handshake refuses the whole upgrade with 400 "invalid Sec-WebSocket-Protocol
header" before the application sees it (Go's gorilla/websocket, which kube-apiserver
uses, only splits the header on commas). uvicorn already splits the header on commas
for the ASGI scope and sets the response's Sec-WebSocket-Protocol from the
application's ``websocket.accept``, so the library's own parsing and selection are
skipped here: the application chooses among what the client offered, as before.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol


class _ServerProtocol(ServerProtocol):
    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        return None  # chosen by the application (websocket.accept's subprotocol)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _ServerProtocol(extensions=self.conn.available_extensions,
                                    max_size=self.config.ws_max_size,
                                    logger=logging.getLogger("uvicorn.error"))
