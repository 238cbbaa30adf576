"""SCAN-based key listing (never KEYS): type, TTL, stored size and codec of every key.

Each SCAN batch costs one more pipelined round trip for TYPE, PTTL, MEMORY USAGE and the
first bytes of the value (whose header names the codec).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cachectl.ops.connect import Connection
from cachectl.ops.inspect import describe_head, display_key
from cachectl.ops.selection import SCAN_COUNT, Selection, batches

SORTS = ("name", "ttl", "size")
#: Bytes read from the start of a string value: the longest cachectl header.
HEADER_BYTES = 11


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key of a listing."""

    key: bytes  # as the application names it
    type: str
    ttl_ms: int | None  # None: no expiry
    size: int | None  # MEMORY USAGE, bytes
    codec: str  # strings: from the header or magic bytes; collections: "-"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "key": display_key(self.key),
            "type": self.type,
            "ttl_ms": self.ttl_ms,
            "size": self.size,
            "codec": self.codec,
        }


@dataclass(frozen=True, slots=True)
class Listing:
    """Keys of a selection, sorted, and whether more were left out."""

    selection: str
    rows: list[KeyInfo]
    truncated: bool
    sort: str
    top: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready listing."""
        return {
            "selection": self.selection,
            "sort": self.sort,
            "top": self.top,
            "truncated": self.truncated,
            "count": len(self.rows),
            "keys": [row.to_dict() for row in self.rows],
        }


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def describe(conn: Connection, keys: Sequence[bytes]) -> list[KeyInfo]:
    """Type, TTL, size and codec of keys in one pipelined round trip (vanished keys dropped)."""
    if not keys:
        return []
    pipe = conn.client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
        pipe.pttl(key)
        conn.memory_usage(pipe, key)
        pipe.getrange(key, 0, HEADER_BYTES - 1)
    replies = pipe.execute(raise_on_error=False)
    rows = []
    for i, key in enumerate(keys):
        kind, pttl, size, head = replies[4 * i : 4 * i + 4]
        kind = _text(kind)
        if kind == "none" or isinstance(pttl, Exception) or int(pttl) == -2:
            continue
        codec = describe_head(head) if kind == "string" and isinstance(head, bytes) else "-"
        rows.append(
            KeyInfo(
                conn.keys.app(key),
                kind,
                int(pttl) if int(pttl) >= 0 else None,
                int(size) if isinstance(size, int) else None,
                codec,
            )
        )
    return rows


def _sizes(conn: Connection, keys: Sequence[bytes]) -> Iterator[tuple[int, bytes]]:
    pipe = conn.client.pipeline(transaction=False)
    for key in keys:
        conn.memory_usage(pipe, key)
    for key, size in zip(keys, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(size, int):
            yield size, key


def _order(rows: list[KeyInfo], sort: str) -> list[KeyInfo]:
    if sort == "ttl":
        # Soonest expiry first; keys without a TTL last.
        return sorted(rows, key=lambda r: (r.ttl_ms is None, r.ttl_ms or 0, r.key))
    if sort == "size":
        return sorted(rows, key=lambda r: (-(r.size or 0), r.key))
    return sorted(rows, key=lambda r: r.key)


def list_keys(
    conn: Connection,
    selection: Selection,
    limit: int = 100,
    sort: str = "name",
    scan_count: int = SCAN_COUNT,
) -> Listing:
    """The first limit keys of the selection, sorted; the scan stops once it has them."""
    rows: list[KeyInfo] = []
    truncated = False
    for batch in batches(conn, selection, scan_count):
        room = limit - len(rows)
        truncated = len(batch) > room
        rows.extend(describe(conn, batch[: max(room, 0)]))
        if truncated:
            break
    return Listing(selection.label, _order(rows[:limit], sort), truncated, sort)


def top_keys(
    conn: Connection, selection: Selection, top: int, scan_count: int = SCAN_COUNT
) -> Listing:
    """The top biggest keys of the whole selection (memory stays flat: a heap of top entries)."""
    heap: list[tuple[int, bytes]] = []
    for batch in batches(conn, selection, scan_count):
        for item in _sizes(conn, batch):
            if len(heap) < top:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
    biggest = [key for _size, key in sorted(heap, reverse=True)]
    return Listing(selection.label, _order(describe(conn, biggest), "size"), False, "size", top)
