"""The operations from async code: each runs in a worker thread, the event loop keeps going.

    conn = await aio.run(for_cache, cache)
    listing = await aio.run(list_keys, conn, selection, 100)

Redis failures inside the operation come out as BackendUnavailable, as from the command line.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from cachectl.ops.connect import Connection, translate_errors

P = ParamSpec("P")
T = TypeVar("T")


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """fn(*args, **kwargs) in a worker thread; a Connection argument's errors translated."""
    conn = next((a for a in (*args, *kwargs.values()) if isinstance(a, Connection)), None)

    def call() -> T:
        if conn is None:
            return fn(*args, **kwargs)
        with translate_errors(conn.config):
            return fn(*args, **kwargs)

    return await asyncio.to_thread(functools.partial(call))
