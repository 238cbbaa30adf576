"""A server on a loopback port (`cachectl ui`, the demo's shop), and its guard.

A page on another site can resolve a name of its own to 127.0.0.1 (DNS rebinding) and then
load this server as if it were same-origin; the browser still sends that name as Host. Only a
Host naming this server, 127.0.0.1:PORT or localhost:PORT, is answered: anything else is a 400
before the application sees the request. Every answer also carries nosniff, and no-store
unless it says otherwise (a 404 of the application's own, say).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Literal

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachectl.contrib.fastapi.bounded import error_response

if TYPE_CHECKING:
    import uvicorn


def listening(port: int = 0) -> socket.socket:
    """A socket listening on 127.0.0.1:port (0: a free one) before anything is served, so that
    a browser that is quick gets queued, not refused; OSError when the port is taken."""
    # IPPROTO_TCP named, or asyncio leaves Nagle on and every answer waits ~40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_server(app: Any, lifespan: Literal["on", "off"] = "off") -> uvicorn.Server:
    """uvicorn serving app over HTTP/1.1 (h11) alone: no websockets, no access log or Server
    header, and no X-Forwarded-For believed, whoever sends it (uvicorn's default trusts it from
    127.0.0.1): the audit log records the connecting address."""
    import uvicorn

    config = uvicorn.Config(
        app,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        ws="none",
        http="h11",
    )
    return uvicorn.Server(config)


class LoopbackOnly:
    """ASGI middleware: requests whose Host is not this server's own address get a 400."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.hosts = {f"127.0.0.1:{port}".encode(), f"localhost:{port}".encode()}
        if port == 80:  # the default port: browsers leave it out of Host
            self.hosts |= {b"127.0.0.1", b"localhost"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        if len(hosts) != 1 or hosts[0].lower() not in self.hosts:
            # The Host given is not quoted back: it is the attacker's text.
            names = " or ".join(sorted(h.decode() for h in self.hosts if b":" in h))
            response = error_response(400, f"this server answers to Host {names} only")
            response.headers["X-Content-Type-Options"] = "nosniff"
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["LoopbackOnly"]
