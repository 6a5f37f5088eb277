"""``OrjsonRoute``: request bodies parsed by orjson (5x faster than ``json`` on big batches).

orjson is strict RFC 8259: ``NaN``, ``Infinity`` and overflowing numbers such as ``1e999`` are decode
errors, which FastAPI reports as ``json_invalid`` (orjson's error subclasses ``json.JSONDecodeError``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute


class OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class OrjsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def orjson_handler(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return orjson_handler
