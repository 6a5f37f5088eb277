"""API docs that work offline, and an OpenAPI schema that says how to authenticate.

- ``/docs`` (Swagger UI) and ``/redoc`` load their JavaScript and CSS from this service, under
  ``/static/docs/``: the assets come packaged in the ``fastapi-offline`` distribution (Swagger UI and ReDoc,
  MIT / Apache-2.0 licences shipped inside their files), so the pages work on a network with no internet.
- The schema declares the ``ApiKey`` security scheme (the ``X-API-Key`` header that
  :class:`serving.deps.KeyRing` reads) and, on every operation behind a key, the requirement and the scope
  it needs, so Swagger UI's *Authorize* + *Try it out* sends the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

STATIC_URL = "/static/docs"
SCHEME = "ApiKey"
SECURITY_SCHEMES = {
    SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "an API key from METERWISE_API_KEYS (demo keys: billing-key, planner-key, service-key, "
        "admin-key); each key carries scopes, and each operation names the scope it needs",
    }
}


def assets_dir() -> str:
    """Folder of the packaged Swagger UI and ReDoc assets (swagger-ui-bundle.js, swagger-ui.css, ...)."""
    return str(resources.files("fastapi_offline") / "static")


def route_scopes(route: APIRoute) -> set[str] | None:
    """Scopes an operation's key must carry ("" = any valid key); None when it needs no key.

    Read from the names :func:`serving.deps.require_scope` / :func:`~serving.deps.require_service` give
    their dependencies (``require_billing``, ``require_billing_service``, ``require_any_key``).
    """
    found: set[str] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        name, qualname = getattr(dep.call, "__name__", ""), getattr(dep.call, "__qualname__", "")
        if name.startswith("require_"):
            scope = name.removeprefix("require_")
            if qualname.startswith("require_service."):  # require_service adds "_service" to the scope's name
                scope = scope.removesuffix("_service")
            found.add("" if scope == "any_key" else scope)
        stack.extend(dep.dependencies)
    return found or None


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """(path, route) of every API route, through included routers (FastAPI >= 0.160 keeps them lazy)."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts = iter_contexts(app.routes) if iter_contexts is not None else app.routes
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute):
            yield getattr(context, "path_format", route.path_format), route


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the API-key scheme and, per operation, its security requirement and scope."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, route in api_routes(app):
        scopes = route_scopes(route)
        if scopes is None or not route.include_in_schema:
            continue
        named = sorted(s for s in scopes if s)
        for method in route.methods:
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            operation["security"] = [{SCHEME: []}]
            operation["x-required-scopes"] = named
            need = f"Needs an API key with the `{'`, `'.join(named)}` scope." if named else "Needs any valid API key."
            operation["description"] = f"{operation.get('description', '')}\n\n{need}".strip()
    return schema


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from packaged assets and the schema from :func:`build_openapi`.

    Create the app with ``docs_url=None, redoc_url=None`` and call this after the routers are included.
    """
    app.mount(STATIC_URL, StaticFiles(directory=assets_dir()), name="docs-assets")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True, "tryItOutEnabled": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
