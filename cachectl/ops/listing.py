"""SCAN-based key listing (never KEYS): type, TTL, memory and codec of the keys shown.

A listing is the first N keys of the whole selection in its order (by name: no command per
key; by TTL or memory: one pipelined PTTL or MEMORY USAGE round trip per SCAN batch), kept
in a bounded pool while the scan runs; then one pipelined round trip for TYPE, PTTL, MEMORY
USAGE and the first bytes of each value shown (whose header names the codec).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from cachectl.ops.connect import Connection
from cachectl.ops.inspect import describe_head, display_key
from cachectl.ops.selection import SCAN_COUNT, Selection, batches

SORTS = ("name", "ttl", "memory")
#: Bytes read from the start of a string value: the longest cachectl header.
HEADER_BYTES = 11


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key of a listing."""

    key: bytes  # as the application names it
    type: str
    ttl_ms: int | None  # None: no expiry
    memory: int | None  # MEMORY USAGE, bytes
    codec: str  # strings: from the header or magic bytes; collections: "-"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description; key_hex holds the exact bytes of a key that is not UTF-8."""
        return {"key": display_key(self.key), **key_bytes(self.key)} | {
            "type": self.type,
            "ttl_ms": self.ttl_ms,
            "memory": self.memory,
            "codec": self.codec,
        }


def key_bytes(key: bytes) -> dict[str, str]:
    """{"key_hex": ...} for a key that is not UTF-8 (its display form is lossy), else {}."""
    try:
        key.decode("utf-8")
    except UnicodeDecodeError:
        return {"key_hex": key.hex()}
    return {}


@dataclass(frozen=True, slots=True)
class Listing:
    """The first keys of a selection in an order, and how many the scan found in all."""

    selection: str
    rows: list[KeyInfo]
    truncated: bool  # more keys matched than are shown
    sort: str
    top: int | None = None
    matched: int | None = None  # keys the scan returned (a key may be counted twice by SCAN)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready listing."""
        return {
            "selection": self.selection,
            "sort": self.sort,
            "top": self.top,
            "truncated": self.truncated,
            "matched": self.matched,
            "count": len(self.rows),
            "keys": [row.to_dict() for row in self.rows],
        }


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def describe(conn: Connection, keys: Sequence[bytes]) -> list[KeyInfo]:
    """Type, TTL, memory and codec of keys in one pipelined round trip (vanished keys dropped)."""
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


def _ranked(conn: Connection, keys: Sequence[bytes], sort: str) -> list[tuple[Any, bytes]]:
    """(rank, key) of keys, lowest first in the listing: name, soonest expiry, most memory."""
    if sort == "name":
        return [(key, key) for key in keys]
    pipe = conn.client.pipeline(transaction=False)
    for key in keys:
        if sort == "ttl":
            pipe.pttl(key)
        else:
            conn.memory_usage(pipe, key)
    ranked: list[tuple[Any, bytes]] = []
    for key, reply in zip(keys, pipe.execute(raise_on_error=False), strict=True):
        if reply is None or reply == -2 or isinstance(reply, Exception):
            continue  # the key has gone
        if sort == "ttl":
            # Keys without a TTL (-1) last.
            ranked.append(((reply < 0, max(reply, 0), key), key))
        elif isinstance(reply, int):
            ranked.append(((False, -reply, key), key))
        else:
            ranked.append(((True, 0, key), key))  # no MEMORY USAGE on this server: last
    return ranked


def _first(batches: Iterable[list[tuple[Any, bytes]]], n: int) -> tuple[list[bytes], int]:
    """The n lowest-ranked keys of all batches, and how many keys the batches held.

    Memory stays within about 2n keys: the pool is cut to its n best whenever it doubles, and
    from then on only keys ranked below the n-th best are kept.
    """
    pool: dict[bytes, Any] = {}  # by key: SCAN may return a key twice
    bound: Any = None
    seen = 0
    for batch in batches:
        seen += len(batch)
        if bound is not None:
            batch = [item for item in batch if item[0] < bound]
        pool.update((key, rank) for rank, key in batch)
        if len(pool) >= 2 * n + 1024:
            best = heapq.nsmallest(n, pool.items(), key=itemgetter(1))
            pool, bound = dict(best), best[-1][1]
    return [key for key, _rank in heapq.nsmallest(n, pool.items(), key=itemgetter(1))], seen


def _order(rows: list[KeyInfo], sort: str) -> list[KeyInfo]:
    if sort == "ttl":
        # Soonest expiry first; keys without a TTL last.
        return sorted(rows, key=lambda r: (r.ttl_ms is None, r.ttl_ms or 0, r.key))
    if sort == "memory":
        return sorted(rows, key=lambda r: (-(r.memory or 0), r.key))
    return sorted(rows, key=lambda r: r.key)


def list_keys(
    conn: Connection,
    selection: Selection,
    limit: int = 100,
    sort: str = "name",
    scan_count: int = SCAN_COUNT,
) -> Listing:
    """The first limit keys of the whole selection in sort order (name, ttl or memory)."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    ranked = (_ranked(conn, batch, sort) for batch in batches(conn, selection, scan_count))
    chosen, seen = _first(ranked, limit)
    rows = [
        row
        for i in range(0, len(chosen), scan_count)
        for row in describe(conn, chosen[i : i + scan_count])
    ]
    return Listing(selection.label, _order(rows, sort), seen > limit, sort, matched=seen)


def top_keys(
    conn: Connection, selection: Selection, top: int, scan_count: int = SCAN_COUNT
) -> Listing:
    """The top biggest keys of the whole selection (MEMORY USAGE; memory stays flat)."""
    listing = list_keys(conn, selection, top, "memory", scan_count)
    return Listing(
        listing.selection, listing.rows, listing.truncated, "memory", top, listing.matched
    )
