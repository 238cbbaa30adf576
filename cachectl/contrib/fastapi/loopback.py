"""The guard of an admin server on a loopback port (`cachectl ui`).

A page on another site can resolve a name of its own to 127.0.0.1 (DNS rebinding) and then
load this server as if it were same-origin; the browser still sends that name as Host. Only a
Host naming this server, 127.0.0.1:PORT or localhost:PORT, is answered: anything else is a 400
before the application sees the request. Every answer also carries nosniff, and no-store
unless it says otherwise (a 404 of the application's own, say).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachectl.contrib.fastapi.bounded import error_response


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
