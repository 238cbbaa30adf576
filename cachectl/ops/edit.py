"""Change one key: delete it, or give it a new TTL (or none)."""

from __future__ import annotations

import math

from cachectl.errors import CheckFailed, ConfigError
from cachectl.keys import Key, to_bytes
from cachectl.ops.connect import Connection
from cachectl.ops.inspect import display_key

#: The longest TTL accepted, in seconds (about 100 years): past it Redis refuses PEXPIRE.
MAX_TTL = 100 * 365 * 86400


def delete_key(conn: Connection, key: Key) -> int:
    """Delete an application key; how many keys went (0 or 1)."""
    return conn.backend.delete([conn.keys.full(to_bytes(key))])


def set_ttl(conn: Connection, key: Key, ttl: float | None) -> int | None:
    """Give a key a TTL in seconds (None: no expiry); its TTL in ms after; CheckFailed if absent."""
    if ttl is not None and (not math.isfinite(ttl) or ttl <= 0 or ttl > MAX_TTL):
        raise ConfigError(f"ttl must be a number of seconds above 0 and at most {MAX_TTL}")
    full = conn.keys.full(to_bytes(key))
    client = conn.client
    if not client.exists(full):
        raise CheckFailed(f"key {display_key(to_bytes(key))!r} not found in {conn.keys.where}")
    # The backend's touch: the key's tag memberships follow its new TTL.
    conn.backend.touch(full, None if ttl is None else max(1, round(ttl * 1000)))
    pttl = int(client.pttl(full))
    if pttl == -2:
        raise CheckFailed(f"key {display_key(to_bytes(key))!r} expired while it was changed")
    return pttl if pttl >= 0 else None
