"""Read one key from Redis: its type, TTL, memory and tags, and its value decoded and clipped
to show (a string by ops.decode and ops.preview, a collection's first items).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cachectl.errors import CheckFailed, ConfigError, DecodeError
from cachectl.ops.connect import Connection
from cachectl.ops.decode import Encoding, decode
from cachectl.ops.preview import CLIP_ITEMS, HEAD, Omitted, clip, jsonable, more
from cachectl.ops.selection import STEP_COUNT, per_key, relative_hint, scan_node, server_ms
from cachectl.ops.sniff import describe_head


@dataclass(frozen=True, slots=True)
class Inspection:
    """One key: its type, TTL, memory, tags and decoded value."""

    key: bytes
    full_key: bytes
    type: str
    ttl_ms: int | None  # None: no expiry
    memory: int | None
    tags: tuple[str, ...] = ()
    tags_searched: int | None = None  # None: every tag set searched; else keys examined (TAG_SCAN)
    value: Any = None  # a string's decoded value, or a collection's first items
    length: int | None = None  # a collection's item count
    encoding: Encoding | None = None
    error: str | None = None  # why a string could not be decoded
    head: bytes = b""  # the start of a string's stored bytes
    raw: bytes | None = field(default=None, repr=False)  # stored bytes shown, when asked
    size: int | None = None  # a string's stored bytes, all of them
    left_out: Mapping[str, int] = field(default_factory=dict)  # by unit, see clip()
    codec: str = "-"  # a string's describe_head, as `keys` names it; collections: "-"
    memory_note: str = ""  # why memory is None: MEMORY USAGE refused or renamed (Connection)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (the value made JSON-compatible, see jsonable)."""
        out: dict[str, Any] = {
            "key": display_key(self.key),
            "full_key": display_key(self.full_key),
            "type": self.type,
            "ttl_ms": self.ttl_ms,
            "memory": self.memory,
            "tags": list(self.tags),
            "tags_complete": self.tags_searched is None,
            "codec": self.codec,
        }
        if self.tags_searched is not None:
            out["tags_searched"] = self.tags_searched
        if self.memory_note:
            out["memory_note"] = self.memory_note
        if self.length is not None:
            out["length"] = self.length
        if self.encoding is not None:
            out["encoding"] = self.encoding.to_dict()
        if self.error is not None:
            out["error"] = self.error
            out["head_hex"] = self.head.hex()
        if self.size is not None:
            out["size"] = self.size
        if self.raw is not None:
            out["raw_hex"] = self.raw.hex()
            out["raw_more_bytes"] = (self.size or 0) - len(self.raw)
        else:
            out["value"] = jsonable(self.value)
            left = self.left_out
            out["clipped"] = left.get("characters", 0) + left.get("bytes", 0)
            out["clipped_items"] = left.get("items", 0)
        return out


def display_key(key: bytes) -> str:
    """A key as text; bytes that are not UTF-8 shown as \\xNN escapes."""
    from cachectl.keys import display_name

    return display_name(key)


#: Items of a hash, list, set, sorted set or stream shown by default.
ITEMS = 20
#: Bytes of a value shown by default: raw bytes, text, and the strings of a decoded value
#: together (0: no limit).
MAX_BYTES = 4096


def _text(item: Any) -> Any:
    return display_key(item) if isinstance(item, bytes) else item


def _collection(conn: Connection, full: bytes, kind: str, items: int) -> tuple[int, Any]:
    client = conn.client
    if kind == "list":
        return int(client.llen(full)), [_text(v) for v in client.lrange(full, 0, items - 1)]
    if kind == "zset":
        pairs = client.zrange(full, 0, items - 1, withscores=True)
        return int(client.zcard(full)), [[_text(m), float(s)] for m, s in pairs]
    if kind == "stream":
        entries = client.xrange(full, "-", "+", count=items)
        shown = [
            {"id": _text(eid), "fields": {_text(k): _text(v) for k, v in fields.items()}}
            for eid, fields in entries
        ]
        return int(client.xlen(full)), shown
    if kind == "hash":
        mapping: dict[Any, Any] = {}
        cursor = 0
        while True:
            cursor, part = client.hscan(full, cursor, count=items)
            mapping.update({_text(k): _text(v) for k, v in part.items()})
            if int(cursor) == 0 or len(mapping) >= items:
                break
        return int(client.hlen(full)), dict(list(mapping.items())[:items])
    if kind == "set":
        members: list[Any] = []
        cursor = 0
        while True:
            cursor, part = client.sscan(full, cursor, count=items)
            members.extend(_text(m) for m in part)
            if int(cursor) == 0 or len(members) >= items:
                break
        return int(client.scard(full)), sorted(members[:items], key=repr)
    return 0, None


#: Keys a search for a key's tags examines per primary before it stops (about 0.1 s of Redis
#: time; a SCAN of one million keys takes about 0.55 s). Tags are found only by scanning for
#: the tag sets ('<ns>#tag:{...}'): the value does not list them, and an index kept on every
#: tagged write would cost the write path (measured in bench/bench_tags.py).
TAG_SCAN = 200_000


@dataclass(frozen=True, slots=True)
class TagSearch:
    """The tags found for a key, and whether every tag set was searched."""

    tags: tuple[str, ...]
    searched: int | None  # None: the whole keyspace; else keys examined before stopping


def tags_of(conn: Connection, full: bytes, max_scan: int | None = TAG_SCAN) -> TagSearch:
    """The tags a key was written with and that have not expired, from a scan of the tag sets
    that stops after max_scan keys examined per primary (None: never)."""
    now = server_ms(conn)
    found: list[str] = []
    examined = 0
    complete = True
    records = conn.keys.namespace.encode() + b"#tag::"  # tags records (keys.tags_record)
    for node in conn.primaries():
        seen = 0
        for done, batch in scan_node(conn, node.name, conn.keys.tag_glob, STEP_COUNT):
            seen += STEP_COUNT  # SCAN examines about COUNT keys a call, whatever matches
            batch = [key for key in batch if not key.startswith(records)]
            if batch:
                # A key named like a tag set that is not one (written by someone else) answers
                # WRONGTYPE: it is no tag of this key, and must not stop the inspection.
                scores = per_key(conn, batch, lambda pipe, tag_key: pipe.zscore(tag_key, full))
                for tag_key, score in zip(batch, scores, strict=True):
                    if isinstance(score, bytes | int | float) and float(score) >= now:
                        found.append(conn.keys.tag_name(tag_key))
            if not done and max_scan is not None and seen >= max_scan:
                complete = False
                break
        examined += seen
    return TagSearch(tuple(sorted(set(found))), None if complete else examined)


def named_key(key: str | bytes) -> bytes:
    """The key to inspect as bytes; ConfigError for an empty one (typically an unset shell
    variable: it would name '<namespace>:', which is no entry)."""
    from cachectl.keys import to_bytes

    app = to_bytes(key)
    if not app:
        raise ConfigError("inspect needs a non-empty key")
    return app


def inspect_key(
    conn: Connection,
    key: str | bytes,
    raw: bool = False,
    items: int = ITEMS,
    max_bytes: int = MAX_BYTES,
) -> Inspection:
    """Everything about one application key, its value shown up to max_bytes (0: all);
    raises CheckFailed when it does not exist."""
    app = named_key(key)
    full = conn.keys.full(app)
    client = conn.client
    pipe = client.pipeline(transaction=False)
    pipe.type(full)
    pipe.pttl(full)
    conn.memory_usage(pipe, full)
    kind_raw, pttl, memory = pipe.execute()
    kind = kind_raw.decode() if isinstance(kind_raw, bytes) else str(kind_raw)
    if kind == "none":
        hint = relative_hint(conn.keys, display_key(app))
        raise CheckFailed(
            f"key {display_key(app)!r} not found in {conn.keys.where}"
            + (f"; {hint}" if hint else "")
        )
    tags = tags_of(conn, full, TAG_SCAN)  # read now: a test may lower it
    base = Inspection(
        app,
        full,
        kind,
        ttl_ms=int(pttl) if int(pttl) >= 0 else None,
        memory=int(memory) if isinstance(memory, int) else None,
        tags=tags.tags,
        tags_searched=tags.searched,
        memory_note=conn.memory_note,
    )
    if kind != "string":
        length, value = _collection(conn, full, kind, items)
        shown, left_out = clip(value, max_bytes, max(items, CLIP_ITEMS))
        if left_out.get("items") and isinstance(shown, list | dict):
            # Cut by the budget: the marker counts the collection's items left out, not only
            # those read (--items of them).
            kept = [item for item in shown if not isinstance(item, Omitted)]
            left_out["items"] = length - len(kept)
            marker = more(length - len(kept), "items")
            if isinstance(shown, dict):
                shown = {k: shown[k] for k in kept}
                shown[marker] = Omitted("...")
            else:
                shown = [*kept, marker]
        return replace(base, value=shown, length=length, left_out=left_out)
    data: bytes | None = client.get(full)
    if data is None:
        raise CheckFailed(f"key {display_key(app)!r} expired while it was read")
    base = replace(base, size=len(data), head=data[:HEAD], codec=describe_head(data))
    if raw:
        return replace(base, raw=data[:max_bytes] if max_bytes > 0 else data)
    try:
        encoding, value = decode(data, conn.config.max_value_size)
    except DecodeError as exc:
        form = "cachectl" if data[:1] == b"\xc1" else "foreign"
        encoding = Encoding(form, "?", "?", len(data))
        return replace(base, encoding=encoding, error=str(exc))
    if isinstance(value, bytes) and encoding.serializer in ("binary", "pickle"):
        shown_bytes = value[:max_bytes] if max_bytes > 0 else value
        left = {"bytes": len(value) - len(shown_bytes)} if len(shown_bytes) < len(value) else {}
        return replace(base, value=shown_bytes, encoding=encoding, left_out=left)
    shown, left_out = clip(value, max_bytes)
    return replace(base, value=shown, encoding=encoding, left_out=left_out)
