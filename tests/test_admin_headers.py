"""The headers of every answer of the admin router, on every route, errors included: nosniff on
all; the page's X-Frame-Options: DENY next to its CSP; Cache-Control: no-store on every JSON
answer (an answer may hold a cached value, as /api/key does). On the router mounted in an
application (one whose own error handler answers text), and on `cachectl ui`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cachectl import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.contrib.fastapi.page import CSP
from cachectl.testing import PATIENT
from tests.test_admin_bounds import _router_inputs

ADMIN, READER = "headers-admin-token", "headers-read-token"

#: One request per route (method, path, httpx arguments) that the admin token has answered.
ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("GET", "/static/app.js", {}),
    ("GET", "/health", {}),
    ("GET", "/stats", {}),
    ("GET", "/latency", {"params": {"samples": 2}}),
    ("POST", "/flush", {"params": {"prefix": "nothing-here"}}),
    ("GET", "/api/whoami", {}),
    ("GET", "/api/overview", {}),
    ("POST", "/api/latency", {"json": {"samples": 2}}),
    ("GET", "/api/keys", {"params": {"prefix": "user"}}),
    ("GET", "/api/keys/top", {}),
    ("GET", "/api/key", {"params": {"key": "user:1"}}),
    ("DELETE", "/api/key", {"params": {"key": "nothing-here"}}),
    ("POST", "/api/key/ttl", {"json": {"key": "user:1", "ttl": 500}}),
    ("POST", "/api/flush/plan", {"json": {"prefix": "user"}}),
    ("POST", "/api/flush", {"json": {"prefix": "nothing-here", "confirm": "nothing-here"}}),
    ("GET", "/api/flush/progress", {}),
    ("GET", "/api/audit", {}),
    ("GET", "/api/doctor", {"params": {"sample": 10}}),
]
#: Errors of every kind a route answers.
ERRORS: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/static/nothing.js", {}, 404),
    ("GET", "/api/key", {"params": {"key": "nothing-here"}}, 404),
    ("GET", "/api/keys", {"params": {"count": "inf"}}, 422),
    ("POST", "/api/flush", {"json": {"prefix": "user", "confirm": "no"}}, 409),
    ("POST", "/api/flush", {"content": b'{"prefix": NaN}'}, 422),
    ("POST", "/api/flush", {"content": b"[" * 100 + b"]" * 100}, 400),
    ("PUT", "/api/key", {}, 405),
    ("GET", "/api/flush", {}, 405),
    ("POST", "/", {}, 405),
    ("GET", "/api/doctor", {"params": {"sample": "1e400"}}, 422),
    ("GET", "/api/doctor", {"params": {"prefix": ":"}}, 422),
    ("POST", "/api/doctor", {}, 405),
]


def is_page(path: str) -> bool:
    return path == "/" or path.startswith("/static/")


def assert_headers(response: httpx.Response, path: str) -> None:
    what = (response.request.method, path, response.status_code)
    assert response.headers.get("x-content-type-options") == "nosniff", what
    if is_page(path) and response.status_code < 400:
        assert response.headers.get("x-frame-options") == "DENY", what
        assert response.headers.get("content-security-policy") == CSP, what
    else:
        assert response.headers.get("cache-control") == "no-store", what
        assert response.headers["content-type"].startswith("application/json"), what
    if is_page(path):
        assert response.headers.get("x-frame-options") == "DENY", what


def test_the_table_names_every_route() -> None:
    named = {(method, path) for method, path, _ in ROUTES}
    named = {(m, "/static/{name}" if p.startswith("/static/") else p) for m, p in named}
    assert named == set(_router_inputs())


def cases(admin: str, reader: str | None) -> Iterator[tuple[str, str, dict[str, Any], int | None]]:
    """Every route with the admin token (200), without one, with a wrong one and with the
    read-only one (any status), then every error (its status)."""
    others: list[dict[str, str]] = [{}, {"Authorization": "Bearer wrong"}]
    if reader is not None:
        others.append({"Authorization": f"Bearer {reader}"})
    for method, path, kwargs in ROUTES:
        yield method, path, {**kwargs, "headers": {"Authorization": f"Bearer {admin}"}}, 200
        for headers in others:
            yield method, path, {**kwargs, "headers": headers}, None
    for method, path, kwargs, status in ERRORS:
        headers = {"Authorization": f"Bearer {admin}"}
        if "content" in kwargs:
            headers["Content-Type"] = "application/json"
        yield method, path, {**kwargs, "headers": headers}, status


def check(response: httpx.Response, path: str, status: int | None) -> None:
    if status is not None:
        assert response.status_code == status, (path, response.status_code, response.text[:300])
    assert_headers(response, path)


@pytest.fixture
def cache(redis_url: str, namespace: str) -> Iterator[Cache]:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        for i in range(5):
            cache.set(f"user:{i}", {"secret": i}, ttl=600)
        yield cache


@pytest.fixture
async def mounted(cache: Cache) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.exception_handler(StarletteHTTPException)
    async def text_errors(request: Request, exc: StarletteHTTPException) -> PlainTextResponse:
        # An application's own error pages: the router's answers must not go through them.
        return PlainTextResponse(f"oops {exc.status_code}", exc.status_code)

    app.include_router(admin_router(cache, token=ADMIN, read_only_token=READER), prefix="/_cache")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/_cache") as client:
        yield client


async def test_every_route_of_the_mounted_router(mounted: httpx.AsyncClient) -> None:
    for method, path, kwargs, status in cases(ADMIN, READER):
        check(await mounted.request(method, path, **kwargs), path, status)


def test_every_route_of_cachectl_ui(
    cli_isolated: Path, cachectl_script: str, redis_url: str, cache: Cache
) -> None:
    from tests.test_cli_ui import ui_process

    args = ["--url", redis_url, "--namespace", cache.namespace, "ui", "--json"]
    with ui_process(cachectl_script, cli_isolated, *args) as (proc, told):
        base = told["url"].rstrip("/")
        with httpx.Client(base_url=base, timeout=30) as http:
            for method, path, kwargs, status in cases(told["token"], None):
                check(http.request(method, path, **kwargs), path, status)
            # Outside the router: the application's own 404, and a refused Host.
            check(http.get("/nothing/here"), "/nothing/here", 404)
            check(http.get("/api/whoami", headers={"Host": "evil.test"}), "/api/whoami", 400)
        proc.terminate()
        assert proc.wait(20) == 0
