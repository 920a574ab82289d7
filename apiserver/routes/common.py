"""Request plumbing shared by the route modules: bodies, query flags, JSON responses."""

from __future__ import annotations

import math
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from apiserver import errors
from apiserver.decoding import INT64_MAX, DecodeError, check_json_depth, load_yaml

JSONDict = dict[str, Any]

MAX_BODY = 3 * 1024 * 1024
JSON_TYPES = ("application/json", "application/yaml")


class JSONBytes(Response):
    media_type = "application/json"


def json_response(body: bytes | JSONDict, status: int = 200) -> Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return JSONBytes(data, status_code=status)


def media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


async def read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            if int(length) > MAX_BODY:
                raise errors.too_large()
        except ValueError:
            raise errors.bad_request("invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _finite(v: Any) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, dict):
        return all(_finite(x) for x in v.values())
    if isinstance(v, list):
        return all(_finite(x) for x in v)
    return True


def json_native(doc: Any) -> Any:
    """A YAML document as the JSON it stands for (as Kubernetes converts YAML to JSON
    first): timestamps become strings; NaN, infinities and binary are rejected. After
    this, an object is exactly what decoding its stored JSON gives back."""
    if not _finite(doc):
        raise errors.bad_request("couldn't decode YAML: NaN and infinite numbers are not "
                                 "valid JSON")
    try:
        return orjson.loads(orjson.dumps(doc))
    except (TypeError, orjson.JSONEncodeError) as e:
        raise errors.bad_request(f"couldn't decode YAML: {e}") from None


def decode_object_body(request: Request, body: bytes) -> JSONDict:
    """A create/update body as a dict: JSON (or YAML, which kubectl may send)."""
    mt = media_type(request)
    if mt in ("", "application/json", "*/*", "text/plain"):
        try:
            obj = orjson.loads(body)
            check_json_depth(body, obj)
        except (orjson.JSONDecodeError, DecodeError) as e:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: {e}") from None
    elif mt in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            obj = json_native(load_yaml(body))
        except DecodeError as e:
            raise errors.bad_request(f"couldn't decode YAML: {e}") from None
    else:
        raise errors.unsupported_media_type(mt, ("application/json", "application/yaml"))
    if not isinstance(obj, dict):
        raise errors.bad_request(
            "couldn't get version/kind; json parse error: the body must be a JSON object")
    return obj


def flag(request: Request, name: str) -> bool:
    v = request.query_params.get(name)
    return v is not None and v.lower() in ("1", "true", "t", "yes", "y")


def int_param(request: Request, name: str) -> int | None:
    v = request.query_params.get(name)
    if v is None or v == "":
        return None
    try:
        n = int(v)
        if not -INT64_MAX - 1 <= n <= INT64_MAX:  # as Go's int64 query parameters
            raise ValueError(v)
        return n
    except ValueError:
        raise errors.bad_request(f'invalid value for {name}: "{v}"') from None
