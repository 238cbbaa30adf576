"""A bounded log of destructive actions (flushes, deletions, TTL changes), kept with the cache.

Written where each action lives (ops.flush.flush for flushes, the router for a key's deletion
or TTL), so a flush from `cachectl flush` and one from the page land in the same log, each
saying who: the router's role and client address, or 'cli' with the OS user and host.
A dry run or a plan writes nothing.

On Redis it is the capped list '<namespace>#audit' (LPUSH then LTRIM, newest first), beside the
namespace's stats hash: no flush selection reaches it. On the embedded store it is one value
under the same key. Entries are JSON; what is read back is checked and bounded, since anyone
with access to Redis may have written it.
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis.exceptions

from cachectl.keys import display_name
from cachectl.ops.connect import Connection

log = logging.getLogger("cachectl")

#: Entries kept.
LIMIT = 1000
#: Seconds the log outlives the last action it records (bounded bookkeeping, as the stats
#: hash's day): a namespace flushed and then left alone does not keep a key forever.
TTL = 30 * 86_400
#: Bytes of one stored entry read back; a longer one is skipped.
MAX_ENTRY = 4096
#: Characters kept of each text field.
MAX_TEXT = 512


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the router (its token's role, the client's address) or the command line."""

    source: str  # "api" or "cli"
    address: str | None = None  # the client's address (api), the host's name (cli)
    role: str | None = None  # "admin" (the router's token), or None
    user: str | None = None  # the OS user running the command line


def cli_actor() -> Actor:
    """The command line's actor: this host and the user the OS says runs the process."""
    try:
        user: str | None = getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (a bare container): unknown
        user = None
    return Actor("cli", address=socket.gethostname() or None, user=user)


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
    user: str | None = None  # the OS user (cli)

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
    user: str | None = None,
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
        _clip(user),
    )
    key = audit_key(conn)
    if key is None:
        return entry
    data = json.dumps(entry.to_dict(), separators=(",", ":")).encode()
    if conn.memory:
        store = conn.backend.store  # type: ignore[attr-defined]
        old = _load_memory(store.get(key))
        entries = json.dumps([data.decode(), *old[: LIMIT - 1]]).encode()
        store.set_many([(key, entries)], TTL * 1000)
        return entry
    pipe = conn.client.pipeline(transaction=False)
    pipe.lpush(key, data)
    pipe.ltrim(key, 0, LIMIT - 1)
    try:
        pipe.execute()
        # Apart, once the list is known to be ours: in the pipeline it would also set an
        # expiry on a foreign value under the name, whose LPUSH failed.
        conn.client.expire(key, TTL)
    except redis.exceptions.RedisError as exc:
        # The key holds something else (written by someone else), or Redis went away after
        # the action: the action is done and is reported as done; the log says what could
        # not be recorded, nothing is overwritten.
        log.warning("cachectl: audit entry not recorded (%s): %s", display_name(key), exc)
    return entry


def record_by(
    conn: Connection, actor: Actor, action: str, selection: str, count: int
) -> AuditEntry:
    """Append an entry for actor."""
    return record(
        conn, action, selection, count, actor.address, actor.role, actor.source, actor.user
    )


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
        _clip(item.get("user")),
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
