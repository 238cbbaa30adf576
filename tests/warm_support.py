"""A small cached-looking FastAPI app for the warm tests, and a uvicorn server to serve it.

The app answers X-Cache: MISS the first time a path is requested and HIT afterwards, like a
cache in front of a slow origin; /boom is always 500, /slow takes SLOW_SECONDS, /flaky fails
once with 503, /gone is a 404 that the cache missed (slower the first time, as from the
origin). `asgi_app` is the same app for `--app warm_support:asgi_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response

from cachectl.demo.environment import serve_asgi

SLOW_SECONDS = 0.3


@dataclass
class Seen:
    """What the app was sent, for assertions."""

    paths: Counter[str] = field(default_factory=Counter)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    client_ports: set[int] = field(default_factory=set)
    lifespan: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.paths.clear()
        self.headers.clear()
        self.bodies.clear()
        self.client_ports.clear()


def make_app() -> tuple[FastAPI, Seen]:
    """A fresh app and the record of what it received."""
    seen = Seen()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        seen.lifespan.append("startup")
        yield {"greeting": "started"}
        seen.lifespan.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    def cached(request: Request, body: str) -> Response:
        key = request.url.path + ("?" + request.url.query if request.url.query else "")
        seen.paths[key] += 1
        seen.headers.append(dict(request.headers))
        if request.client is not None:
            seen.client_ports.add(request.client.port)
        status = "MISS" if seen.paths[key] == 1 else "HIT"
        return Response(body, headers={"X-Cache": status}, media_type="text/plain")

    @app.get("/api/items")
    async def items(request: Request, page: int = 1) -> Response:
        if seen.paths[f"/api/items?page={page}"] == 0:
            await asyncio.sleep(0.01)  # a cold request is slower, as from the origin
        return cached(request, f"page {page}")

    @app.get("/cached/{name}")
    async def cached_name(request: Request, name: str) -> Response:
        return cached(request, name)

    @app.get("/uncached")
    async def uncached(request: Request) -> Response:
        seen.paths["/uncached"] += 1
        seen.headers.append(dict(request.headers))
        return Response("no cache headers", media_type="text/plain")

    @app.get("/boom")
    async def boom() -> Response:
        seen.paths["/boom"] += 1
        return Response("broken", status_code=500)

    @app.get("/missing")
    async def missing() -> Response:
        return Response("gone", status_code=404)

    @app.get("/gone")
    async def gone() -> Response:
        seen.paths["/gone"] += 1
        if seen.paths["/gone"] == 1:
            await asyncio.sleep(0.05)
        return Response("not here", status_code=404, headers={"X-Cache": "MISS"})

    @app.get("/flaky")
    async def flaky(request: Request) -> Response:
        seen.paths["/flaky (attempts)"] += 1
        if seen.paths["/flaky (attempts)"] == 1:
            return Response("try again", status_code=503)
        return cached(request, "recovered")

    @app.get("/slow")
    async def slow() -> Response:
        seen.paths["/slow"] += 1
        await asyncio.sleep(SLOW_SECONDS)
        return Response("slow", headers={"Age": "3"})

    @app.get("/state")
    async def state(request: Request) -> Response:
        return cached(request, str(request.state.greeting))

    @app.post("/submit")
    async def submit(request: Request) -> Response:
        seen.bodies.append(await request.body())
        return cached(request, "ok")

    return app, seen


asgi_app, asgi_seen = make_app()


@dataclass
class LiveServer:
    """A uvicorn server running the app on 127.0.0.1 in a background thread."""

    base_url: str
    seen: Seen


@contextlib.contextmanager
def serve() -> Iterator[LiveServer]:
    """Serve a fresh app on a free port until the block ends, then stop the server."""
    app, seen = make_app()
    with serve_asgi(app, start_timeout=10) as base_url:
        yield LiveServer(base_url, seen)


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def no_lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app that does not speak the lifespan protocol."""
    assert scope["type"] == "http", "no lifespan support"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-cache", b"HIT")]})
    await send({"type": "http.response.body", "body": b"bare"})


@contextlib.asynccontextmanager
async def _failing_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    raise RuntimeError("database is down")
    yield  # pragma: no cover


failing_app = FastAPI(lifespan=_failing_lifespan)
not_an_app = 42
