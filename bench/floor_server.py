"""The least a Python API server can do per pod create: the benchmark's floor.

An ASGI app under the same uvicorn (uvloop + httptools) as the API server that, for
each POST, parses the JSON body, makes the one create-if-absent transaction on etcd
that any create needs, and echoes the object. No validation, defaults, metrics or
Status errors. With ``MINIK8S_FLOOR_WATCH=1`` it also keeps what every API server
here must (the issue asks for a watch cache fed by one etcd watch per type): an etcd
watch on the pods, each event decoded into a dict. bench/apiserver.py runs both next
to the real server: what the real server costs beyond them is its own overhead, and
what they cost is this machine's limit for a Python server over gRPC.

Run: ``MINIK8S_FLOOR_ETCD=127.0.0.1:2379 python -m uvicorn bench.floor_server:app
--loop uvloop --http httptools --port 8099``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
from aetcd import rpc

_kv: Any = None
_cache: dict[bytes, Any] = {}
_tasks: list[asyncio.Task[None]] = []


async def _watch(channel: Any) -> None:
    prefix = b"/registry/pods/"

    async def requests() -> AsyncIterator[Any]:
        yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=prefix, range_end=b"/registry/pods0"))
        await asyncio.Event().wait()

    async for resp in rpc.WatchStub(channel).Watch(requests()):
        for ev in resp.events:
            if ev.type == 0:
                _cache[ev.kv.key] = orjson.loads(ev.kv.value)
            else:
                _cache.pop(ev.kv.key, None)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _kv
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                channel = grpc.aio.insecure_channel(os.environ["MINIK8S_FLOOR_ETCD"])
                _kv = rpc.KVStub(channel)
                if os.environ.get("MINIK8S_FLOOR_WATCH"):
                    _tasks.append(asyncio.create_task(_watch(channel)))
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 200
    if scope["method"] == "POST":
        obj = orjson.loads(body)
        md = obj["metadata"]
        key = f"/registry/pods/{md['namespace']}/{md['name']}".encode()
        resp = await _kv.Txn(rpc.TxnRequest(
            compare=[rpc.Compare(key=key, target=rpc.Compare.CREATE,
                                 result=rpc.Compare.EQUAL, create_revision=0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=body))]),
            timeout=10)
        md["resourceVersion"] = str(resp.header.revision)
        body = orjson.dumps(obj)
        status = 201 if resp.succeeded else 409
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
