"""CacheHeaderMiddleware: X-Cache: HIT or MISS on responses whose handler called @cached
functions."""

from __future__ import annotations

from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachectl.decorator import track_cache_status


class CacheHeaderMiddleware:
    """Sets X-Cache: HIT or MISS on responses whose handler called @cached functions.

    MISS when any cached call in the request missed; no header when none was made.
    """

    def __init__(self, app: ASGIApp, header: str = "X-Cache") -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with track_cache_status() as seen:

            async def send_with_header(message: Message) -> None:
                if message["type"] == "http.response.start" and seen:
                    verdict: Literal[b"HIT", b"MISS"] = b"MISS" if "MISS" in seen else b"HIT"
                    headers = [(k, v) for k, v in message.get("headers", []) if k != self.header]
                    message = {**message, "headers": [*headers, (self.header, verdict)]}
                await send(message)

            await self.app(scope, receive, send_with_header)


__all__ = ["CacheHeaderMiddleware"]
