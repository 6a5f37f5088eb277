"""JSON bytes straight from orjson (numpy columns included; NaN becomes null) and the error envelope."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content, option=OPTIONS), status_code, headers, media_type="application/json")


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "-")


def envelope(code: str, message: str, field: str | None, rid: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "field": field, "request_id": rid}})


def error_response(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    rid = request_id(request)
    return Response(
        envelope(code, message, field, rid),
        status_code,
        {**(headers or {}), "X-Request-ID": rid},
        media_type="application/json",
    )
