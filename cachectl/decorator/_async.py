"""The wrapper of a decorated function, written once: the source of both faces.

scripts/unasync.py generates the wrapper of plain functions (_sync.py) from this file. Waiting
for the caller that computes the same call is the flights' (decorator.flights), each face its
own way; a leader cancelled while others wait (LeaderGone) happens to tasks only.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

from cachectl.api import AsyncEntryStore
from cachectl.decorator.calls import (
    KeyMaker,
    Store,
    fresh,
    note,
    serves,
    store_for,
    waited_too_long,
)
from cachectl.decorator.flights import AsyncFlights, LeaderGone
from cachectl.errors import ValueTooLarge


def async_wrapper(
    func: Callable[..., Any],
    maker: KeyMaker,
    ttl: float | None,
    stale: float | None,
    bound: Store | None,
) -> Any:
    """func with its results cached (see cachectl.cached)."""
    flights = AsyncFlights()

    def resolve() -> AsyncEntryStore:
        store: AsyncEntryStore = store_for(bound, flights.asynchronous, maker.qualname)
        return store

    async def compute(
        cache: AsyncEntryStore,
        key: str,
        arguments: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        serial: int,
    ) -> Any:
        async def run() -> Any:
            start = time.monotonic()
            value = await func(*args, **kwargs)
            flights.took(time.monotonic() - start)
            with contextlib.suppress(ValueTooLarge):  # returned uncached (see cachectl.decorator)
                await cache.store_entry(key, value, ttl, maker.tag_list(arguments, value), stale)
            return value

        while True:
            future, leader = flights.lead(key)
            if leader:
                break
            try:
                return await flights.follow(future)
            except TimeoutError:
                if future.done():
                    raise  # the leader's own TimeoutError, shared
                waited_too_long(maker.qualname, flights.wait_bound())
                return await run()
            except LeaderGone:
                continue  # one of the callers still waiting takes the computation over
        try:
            if flights.ended_since(key, serial):
                # A flight of this call ended after this caller's read began: that read may
                # predate the value it stored (see flights.WaitBound), so read once more.
                found = await cache.lookup(key)
                value = found[0] if fresh(found) else await run()  # type: ignore[index]
            else:
                value = await run()
            future.set_result(value)
            return value
        except BaseException as exc:
            flights.fail(future, exc)
            raise
        finally:
            flights.done(key, future)

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache = resolve()
        arguments = maker.arguments(args, kwargs)
        key = maker.key(arguments)
        serial = flights.serial
        found = await cache.lookup(key)
        if serves(found, flights, key):
            note("HIT")
            return found[0]  # type: ignore[index]
        note("MISS")
        return await compute(cache, key, arguments, args, kwargs, serial)

    async def invalidate(*args: Any, **kwargs: Any) -> int:
        return await resolve().delete(maker.key_of(*args, **kwargs))

    wrapper.key = maker.key_of  # type: ignore[attr-defined]
    wrapper.invalidate = invalidate  # type: ignore[attr-defined]
    return wrapper
