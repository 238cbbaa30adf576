"""What one admin router serves and keeps, and how its routes reach it.

admin_router() makes one AdminState: the application's cache, the tokens, the running flush.
Its route class runs AdminState.guard before a request's body is read, which checks the token
and leaves the state on the request; a route takes it as a parameter of type Admin (a FastAPI
dependency), so the routes are plain module-level functions, whichever router they serve.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from cachectl.cache import AsyncCache, Cache
from cachectl.contrib.fastapi.auth import Tokens, check
from cachectl.contrib.fastapi.errors import http_error
from cachectl.errors import CachectlError
from cachectl.ops import aio
from cachectl.ops.connect import for_cache, translate_errors

T = TypeVar("T")


class FlushProgress:
    """The running (or last) flush of one router."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {"running": False}

    def start(self, label: str, total: int | None) -> bool:
        """Mark a flush as running; False when one already is."""
        with self.lock:
            if self.state["running"]:
                return False
            self.state = {
                "running": True,
                "label": label,
                "removed": 0,
                "total": total,
                "started": time.time(),
            }
            return True

    def tick(self, n: int) -> None:
        """n more keys removed."""
        with self.lock:
            self.state["removed"] += n

    def finish(self, error: str | None = None) -> None:
        """The flush is over, or failed with error."""
        with self.lock:
            self.state["running"] = False
            self.state["seconds"] = time.time() - self.state["started"]
            if error is not None:
                self.state["error"] = error

    def snapshot(self) -> dict[str, Any]:
        """The figures now, JSON-ready."""
        with self.lock:
            return dict(self.state)


class AdminState:
    """One router's cache, tokens and flush progress; runs operations for its routes."""

    def __init__(self, cache: Cache | AsyncCache, tokens: Tokens) -> None:
        self.cache = cache
        self.tokens = tokens
        self.progress = FlushProgress()
        self.kind: str | None = None  # 'redis', 'cluster' or 'memory', once connected

    def guard(self, request: Request, route: APIRoute) -> None:
        """Run by the route class before the body is read: the token and the role the route
        needs (auth.check), then this state is the request's."""
        check(self.tokens, request, route)
        request.state.cachectl_admin = self

    def _run(self, own_timeouts: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # A connection made for the request and closed after it: no pool outlives a request,
        # and a restarted server is met afresh.
        conn = for_cache(self.cache, own_timeouts)
        self.kind = conn.kind
        try:
            with translate_errors(conn.config):
                return fn(conn, *args, **kwargs)
        finally:
            conn.close()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(conn, *args, **kwargs) in a worker thread, on a connection to what the cache
        uses; raises the library's errors."""
        return await aio.run(self._run, False, fn, *args, **kwargs)

    async def probe(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """call(), with the cache's own timeouts instead of the command line's: a health
        check answers about as fast as a request of the application gives up."""
        return await aio.run(self._run, True, fn, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """call(), with a library error as its HTTP error (errors.http_error)."""
        try:
            return await self.call(fn, *args, **kwargs)
        except (CachectlError, ValueError) as exc:
            raise http_error(exc) from None


def admin_state(request: Request) -> AdminState:
    """The state of the router that took the request (its guard left it there)."""
    state: AdminState = request.state.cachectl_admin
    return state


#: A route's parameter for its router's state.
Admin = Annotated[AdminState, Depends(admin_state)]
