# Generated from cachectl/decorator/_async.py by scripts/unasync.py: do not edit.
# Edit the source, then run `python scripts/unasync.py`; CI checks that the two agree.
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

from cachectl.api import EntryStore
from cachectl.decorator.calls import (
    KeyMaker,
    Store,
    fresh,
    note,
    serves,
    store_for,
    waited_too_long,
)
from cachectl.decorator.flights import Flights, LeaderGone
from cachectl.errors import ValueTooLarge


def sync_wrapper(
    func: Callable[..., Any],
    maker: KeyMaker,
    ttl: float | None,
    stale: float | None,
    bound: Store | None,
) -> Any:
    """func with its results cached (see cachectl.cached)."""
    flights = Flights()

    def resolve() -> EntryStore:
        store: EntryStore = store_for(bound, flights.asynchronous, maker.qualname)
        return store

    def compute(
        cache: EntryStore,
        key: str,
        arguments: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        serial: int,
    ) -> Any:
        def run() -> Any:
            start = time.monotonic()
            value = func(*args, **kwargs)
            flights.took(time.monotonic() - start)
            with contextlib.suppress(ValueTooLarge):  # returned uncached (see cachectl.decorator)
                cache.store_entry(key, value, ttl, maker.tag_list(arguments, value), stale)
            return value

        while True:
            future, leader = flights.lead(key)
            if leader:
                break
            try:
                return flights.follow(future)
            except TimeoutError:
                if future.done():
                    raise  # the leader's own TimeoutError, shared
                waited_too_long(maker.qualname, flights.wait_bound())
                return run()
            except LeaderGone:
                continue  # one of the callers still waiting takes the computation over
        try:
            if flights.ended_since(key, serial):
                # A flight of this call ended after this caller's read began: that read may
                # predate the value it stored (see flights.WaitBound), so read once more.
                found = cache.lookup(key)
                value = found[0] if fresh(found) else run()  # type: ignore[index]
            else:
                value = run()
            future.set_result(value)
            return value
        except BaseException as exc:
            flights.fail(future, exc)
            raise
        finally:
            flights.done(key, future)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache = resolve()
        arguments = maker.arguments(args, kwargs)
        key = maker.key(arguments)
        serial = flights.serial
        found = cache.lookup(key)
        if serves(found, flights, key):
            note("HIT")
            return found[0]  # type: ignore[index]
        note("MISS")
        return compute(cache, key, arguments, args, kwargs, serial)

    def invalidate(*args: Any, **kwargs: Any) -> int:
        return resolve().delete(maker.key_of(*args, **kwargs))

    wrapper.key = maker.key_of  # type: ignore[attr-defined]
    wrapper.invalidate = invalidate  # type: ignore[attr-defined]
    return wrapper
