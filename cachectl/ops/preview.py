"""A decoded value made fit to show: clipped to a budget of bytes and items with markers that
say what was left out, made JSON-compatible, or dumped as hex. Pure, no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

#: Bytes of a value shown in a hex dump when it cannot be decoded.
HEAD = 64


def jsonable(value: Any) -> Any:
    """A JSON-compatible form of a decoded value (bytes as text or {"$hex": ...})."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"$hex": raw.hex()}
    if isinstance(value, Mapping):
        return {
            (k if isinstance(k, str) else json.dumps(jsonable(k))): jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, UUID | Decimal):
        return str(value)
    code, data = getattr(value, "code", None), getattr(value, "data", None)
    if isinstance(code, int) and isinstance(data, bytes):
        return {"$ext": code, "$hex": data.hex()}
    return repr(value)


_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))


class Omitted(str):
    """What clip() or hexdump() left out ('... 4,800 more items'): a string in JSON, shown
    bare (not quoted like a value's own strings) by a repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def more(n: int, unit: str) -> Omitted:
    """The marker of n more units left out: '... 4,800 more items', '... 1 more byte'."""
    return Omitted(f"... {n:,} more {unit[:-1] if n == 1 else unit}")


def hexdump_lines(data: bytes, limit: int = HEAD, total: int | None = None) -> Iterator[str]:
    """The lines of hexdump(), one at a time (a dump of megabytes is never one string)."""
    shown = memoryview(data)[:limit]
    for offset in range(0, len(shown), 16):
        chunk = bytes(shown[offset : offset + 16])
        text = chunk.translate(_PRINTABLE).decode("ascii")
        yield f"{offset:08x}  {chunk.hex(' '):<47}  |{text}|"
    left = (len(data) if total is None else total) - len(shown)
    if left > 0:
        yield more(left, "bytes")


def hexdump(data: bytes, limit: int = HEAD, total: int | None = None) -> str:
    """Offset, hex and ASCII columns of the first limit bytes, 16 a line (time linear in what
    it shows); total is the whole value's size when data is only its start."""
    return "\n".join(hexdump_lines(data, limit, total))


#: clip()'s units of what it leaves out, in the order they are named.
UNITS = ("items", "characters", "bytes")


#: Items of a decoded list, dict or set shown at most (a Redis collection: --items if more).
CLIP_ITEMS = 200


def clip(value: Any, max_bytes: int, items: int = CLIP_ITEMS) -> tuple[Any, dict[str, int]]:
    """A copy of a decoded value small enough to show, and how much was left out by unit
    (items, characters, bytes; only the units that were cut).

    Strings and bytes share a budget of max_bytes (0: no limit); a collection shows at most
    items entries, and none past the point where the budget is spent. What is cut is replaced
    by a "... N more items/characters/bytes" marker (an Omitted).
    """
    budget = [max_bytes if max_bytes > 0 else -1]  # -1: unlimited
    left_out = dict.fromkeys(UNITS, 0)

    def spent() -> bool:
        return budget[0] == 0

    def cut(obj: Any) -> Any:
        if isinstance(obj, str | bytes | bytearray):
            room = budget[0]
            if room < 0:
                return obj
            if len(obj) <= room:
                budget[0] -= len(obj)
                return obj
            budget[0] = 0
            unit = "characters" if isinstance(obj, str) else "bytes"
            left_out[unit] += len(obj) - room
            marker = more(len(obj) - room, unit)
            if isinstance(obj, str):
                return obj[:room] + marker
            return bytes(obj[:room]) + marker.encode()
        if isinstance(obj, Mapping):
            out: dict[Any, Any] = {}
            total = len(obj)
            for k, v in obj.items():
                if len(out) >= items or (out and spent()):
                    break
                # Keys are not charged to the budget (a shown value keeps its names); a long
                # one is cut.
                if isinstance(k, str) and 0 < max_bytes < len(k):
                    k = k[:max_bytes] + "..."
                out[k] = cut(v)
            if total > len(out):
                left_out["items"] += total - len(out)
                out[more(total - len(out), "items")] = Omitted("...")
            return out
        if isinstance(obj, list | tuple | set | frozenset):
            seq = obj if isinstance(obj, list | tuple) else sorted(obj, key=repr)
            shown: list[Any] = []
            for v in seq:
                if len(shown) >= items or (shown and spent()):
                    break
                shown.append(cut(v))
            if len(seq) > len(shown):
                left_out["items"] += len(seq) - len(shown)
                shown.append(more(len(seq) - len(shown), "items"))
            return tuple(shown) if isinstance(obj, tuple) else shown
        return obj

    shown_value = cut(value)
    return shown_value, {unit: n for unit, n in left_out.items() if n}
