"""admin_router(): the router an application mounts, its endpoints (routes/) served under a
route class that checks the router's tokens, next to the Cache Management page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from cachectl.cache import AsyncCache, Cache
from cachectl.contrib.fastapi.auth import Tokens
from cachectl.contrib.fastapi.bounded import route_class
from cachectl.contrib.fastapi.page import with_page
from cachectl.contrib.fastapi.routes import ROUTERS
from cachectl.contrib.fastapi.state import AdminState


def admin_router(
    cache: Cache | AsyncCache, *, token: str, read_only_token: str | None = None
) -> APIRouter:
    """Endpoints to see and operate the cache, behind bearer tokens.

    The admin token may do everything; the read-only token may GET, probe latency and plan a
    flush. Every error is a 4xx/5xx with a small JSON body {"detail": ...} that never echoes
    the request (cachectl.contrib.fastapi.bounded); a body is at most 1 MiB of finite, shallow
    JSON (413, 400), every number in a body or a query is finite and within its bounds (422);
    Redis unreachable: 503. Every JSON answer carries Cache-Control: no-store and nosniff.

    A flush is confirmed by typing: the prefix, pattern or tag, or the namespace's name when
    the selection covers the whole namespace (all, or a glob such as '*').

    The audit log records the client address the server gives (the ASGI scope's client): behind
    a proxy, let the server take it from X-Forwarded-For for that proxy only (uvicorn
    --forwarded-allow-ips).

    GET  /health   Redis latency and breaker state (503 when Redis is unreachable)
    GET  /stats    this process's figures and those every process published, per prefix
    GET  /latency  a short PING probe (min/p50/p99/max in ms)
    POST /flush    ?prefix=P | ?tag=T | ?pattern=GLOB: how many keys were removed (admin);
                   a selection of the whole namespace also needs ?confirm=<namespace>
    GET  /api/whoami, /api/overview, /api/keys, /api/keys/top, /api/key, /api/audit,
         /api/flush/progress, /api/doctor (?prefix=, ?sample=: `cachectl doctor --json`)
    POST /api/latency, /api/flush/plan, /api/flush (admin), /api/key/ttl (admin)
    DELETE /api/key (admin)
    """
    state = AdminState(cache, Tokens(token, read_only_token))
    api = APIRouter(tags=["cache"], route_class=route_class(state.guard))
    for routes in ROUTERS:
        for route in routes.routes:
            _serve(api, route)
    return with_page(api)


def _serve(api: APIRouter, route: object) -> None:
    """Serve route (one of a module's) on api, under api's route class: include_router would
    keep the class of the module's router, which knows no tokens."""
    if not isinstance(route, APIRoute):
        raise TypeError(f"the admin routes are APIRoutes, not {route!r}")
    api.add_api_route(
        route.path,
        route.endpoint,
        methods=sorted(route.methods or ()),
        dependencies=route.dependencies,
        name=route.name,
        status_code=route.status_code,
        response_model=route.response_model,
    )
