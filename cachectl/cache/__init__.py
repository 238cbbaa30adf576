"""Cache and AsyncCache: the façade applications call.

Rooms, one concern each, in the order each builds on the last:

    helpers.py    pure helpers: a key's stats prefix, argument checks, TTL units
    base.py       the state both faces hold, and the decisions of reads (CacheState)
    recovery.py   the breaker's decisions: failures, owed deletions, probe and replay
    changes.py    changes (writes but set's, deletions, invalidations) and refused writes
    faces.py      what each face does its own way: its backend, its stats publisher (a thread,
                  or a task), its turn to publish, stopping, fork handling
    _async.py     the calls, written once (AsyncCache)
    _sync.py      Cache, generated from _async.py by scripts/unasync.py
    closing.py    closing an AsyncCache whose event loop is gone (at interpreter exit)
"""

from __future__ import annotations

from cachectl.api import MISS
from cachectl.cache._async import AsyncCache
from cachectl.cache._sync import Cache
from cachectl.cache.helpers import MAX_TTL

__all__ = ["MAX_TTL", "MISS", "AsyncCache", "Cache"]
