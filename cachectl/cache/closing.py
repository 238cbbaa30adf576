"""Closing an AsyncCache whose event loop is gone, at interpreter exit.

Its connections belong to that loop, so they are left alone; what it owes Redis is replayed,
and its pending stats published, over a synchronous Cache of the same settings (see close()).
"""

from __future__ import annotations

from dataclasses import fields

from cachectl.breaker import Owed
from cachectl.cache._async import AsyncCache
from cachectl.cache._sync import Cache


def close_blocking(cache: AsyncCache) -> Owed:
    """close() for an AsyncCache no event loop can run any more; what is left owed."""
    cache._closed = True  # its publisher must not start again
    config = cache.config
    if config.is_memory:
        return Owed()
    stand_in = Cache(**{f.name: getattr(config, f.name) for f in fields(config)})
    stand_in.recorder = cache.recorder
    with cache._owed_lock:
        stand_in.pending = cache.pending
        if not cache.pending.settled:
            stand_in.breaker.trip()  # so that it probes, and drains when Redis answers
    return stand_in.close()
