"""The Redis and Redis Cluster backend (redis-py with hiredis), sync and async.

Rooms, one concern each:

    scripts.py      the Lua scripts run on the server, and the arguments of each call
    scriptless.py   their work done from the client, where a server refuses scripts
    pipelines.py    pipelines filled once for both faces, and the readings of their replies
    resp.py         commands written straight in RESP for the sync face's fast path
    pool.py         the two bounded connection pools
    clients.py      how the redis-py clients are made (options, pools, cluster clients)
    connections.py  how each face holds its clients: the part written twice by hand
    _async.py       the backend's commands, written once (AsyncRedisBackend)
    _sync.py        RedisBackend, generated from _async.py by scripts/unasync.py
"""

from __future__ import annotations

from cachectl.backends.redis._async import AsyncRedisBackend
from cachectl.backends.redis._sync import RedisBackend

__all__ = ["AsyncRedisBackend", "RedisBackend"]
