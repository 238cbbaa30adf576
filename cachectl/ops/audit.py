"""A bounded log of destructive actions (flushes, deletions, TTL changes), kept with the cache.

On Redis it is the capped list '<namespace>#audit' (LPUSH then LTRIM, newest first), beside the
namespace's stats hash: no flush selection reaches it. On the embedded store it is one value
under the same key. Entries are JSON; what is read back is checked and bounded, since anyone
with access to Redis may have written it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis.exceptions

from cachectl.ops.connect import Connection

log = logging.getLogger("cachectl")

#: Entries kept.
LIMIT = 1000
#: Bytes of one stored entry read back; a longer one is skipped.
MAX_ENTRY = 4096
#: Characters kept of each text field.
MAX_TEXT = 512


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One destructive action."""

    time: float  # unix seconds
    action: str  # "flush", "delete" or "ttl"
    selection: str
    count: int
    address: str | None = None  # the client's address (the router), or the host (cli)
    role: str | None = None  # "admin" (the router's token), or None
    source: str = "api"  # "api" or "cli"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready entry."""
        return asdict(self)


def audit_key(conn: Connection) -> bytes | None:
    """Where the log lives; None outside any namespace."""
    namespace = conn.keys.namespace
    return namespace.encode() + b"#audit" if namespace else None


def _clip(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_TEXT]


def record(
    conn: Connection,
    action: str,
    selection: str,
    count: int,
    address: str | None = None,
    role: str | None = None,
    source: str = "api",
) -> AuditEntry:
    """Append an entry (the oldest past LIMIT go)."""
    entry = AuditEntry(
        time.time(),
        action,
        _clip(selection) or "",
        int(count),
        _clip(address),
        _clip(role),
        source,
    )
    key = audit_key(conn)
    if key is None:
        return entry
    data = json.dumps(entry.to_dict(), separators=(",", ":")).encode()
    if conn.memory:
        store = conn.backend.store  # type: ignore[attr-defined]
        old = _load_memory(store.get(key))
        store.set_many([(key, json.dumps([data.decode(), *old[: LIMIT - 1]]).encode())], None)
        return entry
    pipe = conn.client.pipeline(transaction=False)
    pipe.lpush(key, data)
    pipe.ltrim(key, 0, LIMIT - 1)
    try:
        pipe.execute()
    except redis.exceptions.ResponseError as exc:
        # The key holds something else (written by someone else): the action is done and is
        # reported as done; the log says what could not be recorded, nothing is overwritten.
        log.warning(
            "cachectl: audit entry not recorded (%s): %s", key.decode(errors="replace"), exc
        )
    return entry


def _load_memory(raw: bytes | None) -> list[str]:
    try:
        items = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [item for item in items if isinstance(item, str)] if isinstance(items, list) else []


def _parse(raw: Any) -> AuditEntry | None:
    """An entry from stored bytes, or None for anything malformed."""
    if isinstance(raw, str):
        raw = raw.encode()
    if not isinstance(raw, bytes) or len(raw) > MAX_ENTRY:
        return None
    try:
        item = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(item, dict):
        return None
    when, count = item.get("time"), item.get("count")
    if not isinstance(when, int | float) or not isinstance(count, int) or isinstance(count, bool):
        return None
    return AuditEntry(
        float(when),
        _clip(item.get("action")) or "?",
        _clip(item.get("selection")) or "",
        count,
        _clip(item.get("address")),
        _clip(item.get("role")),
        _clip(item.get("source")) or "?",
    )


def read(conn: Connection, limit: int = 100) -> list[AuditEntry]:
    """The newest entries first, at most limit."""
    key = audit_key(conn)
    if key is None or limit < 1:
        return []
    limit = min(limit, LIMIT)
    if conn.memory:
        store = conn.backend.store  # type: ignore[attr-defined]
        raws: list[Any] = _load_memory(store.get(key))[:limit]
    else:
        try:
            raws = conn.client.lrange(key, 0, limit - 1)
        except redis.exceptions.ResponseError:
            return []  # not a list: no entry of ours can be read from it
    return [entry for entry in map(_parse, raws) if entry is not None]
