"""Decode one stored value: cachectl's own format, or a foreign one as far as it goes.

Foreign values are peeled layer by layer by their magic bytes (gzip, zlib, zstd, LZ4 frame),
then read as msgpack, JSON or UTF-8 text. Collections are read bounded: the first items and
a count. Every decompression is bounded by the configured maximum value size.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from uuid import UUID

from cachectl.errors import CheckFailed, DecodeError
from cachectl.ops.connect import Connection
from cachectl.ops.selection import STEP_COUNT, scan_node, server_ms

GZIP, ZSTD, LZ4_FRAME = b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"
#: Bytes of a value shown in a hex dump when it cannot be decoded.
HEAD = 64
#: Bytes at the start of a stored value that name its codec (describe_head): `keys` reads
#: them with GETRANGE, `inspect` cuts its value to them, so both name every value alike. A
#: shorter value is seen whole; a value this long or longer is named from its start.
CODEC_SAMPLE = 1024
#: Items of a hash, list, set, sorted set or stream shown by default.
ITEMS = 20
#: Bytes of a value shown by default: raw bytes, text, and the strings of a decoded value
#: together (0: no limit).
MAX_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Encoding:
    """How a stored string was encoded: cachectl's header, or what its bytes revealed."""

    format: str  # "cachectl" or "foreign"
    serializer: str  # msgpack, json, text or binary
    compression: str  # "none", or the layers outermost first, e.g. "gzip" or "lz4"
    stored_size: int
    payload_size: int | None = None  # uncompressed bytes
    fresh_until_ms: int | None = None

    @property
    def ratio(self) -> float | None:
        """Uncompressed size over stored size, for a compressed value."""
        if self.compression == "none" or not self.payload_size or not self.stored_size:
            return None
        return self.payload_size / self.stored_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "format": self.format,
            "serializer": self.serializer,
            "compression": self.compression,
            "stored_size": self.stored_size,
            "payload_size": self.payload_size,
            "ratio": self.ratio,
            "fresh_until_ms": self.fresh_until_ms,
        }


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


# -- pure decoding ----------------------------------------------------------------------------


def layer_of(data: bytes) -> str | None:
    """The compression a value's magic bytes announce, if any (zlib's may also be text)."""
    if data.startswith(GZIP):
        return "gzip"
    if data.startswith(ZSTD):
        return "zstd"
    if data.startswith(LZ4_FRAME):
        return "lz4-frame"
    if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    return None


def layer(data: bytes) -> str | None:
    """The compression layer data starts with, judged from its first CODEC_SAMPLE bytes.

    zlib's two magic bytes are also text ('x^', 'x '): a zlib layer is one whose start also
    inflates. Decided from the sample alone, so that every reader of a value decides alike.
    """
    sample = data[:CODEC_SAMPLE]
    name = layer_of(sample)
    if name == "zlib":
        try:
            zlib.decompressobj(15).decompress(sample, 64)
        except zlib.error:
            return None
    return name


def describe_head(head: bytes, total: int | None = None) -> str:
    """The codec of a stored value of total bytes, named from its first CODEC_SAMPLE bytes
    (head may be the whole value, or GETRANGE's sample of it, total then its STRLEN):
    cachectl's header ("msgpack", "msgpack+lz4"), a compression layer ("gzip", "zlib",
    "zstd", "lz4-frame"), else the serializer those bytes show (json, msgpack, pickle, text,
    binary).

    The one classification of a value: `keys` and the page's listing name a value with it
    from a sample, `inspect` and the key view from the same sample of the value they read,
    and decode() reads a foreign value as what it names.
    """
    from cachectl.codec import read_header

    total = len(head) if total is None else total
    head = head[:CODEC_SAMPLE]
    if head[:1] == b"\xc1":
        try:
            header = read_header(head)
        except DecodeError:
            return "cachectl (bad header)"
        name = header.serializer.name.lower()
        compression = header.compression.name.lower()
        return name if compression == "none" else f"{name}+{compression}"
    return layer(head) or sniff(head, total)


def is_pickle(data: bytes) -> bool:
    """Whether data starts like a pickle (protocol 2 or later: PROTO opcode, then a version).

    Detected by its opcodes only; a pickle is never loaded (loading one runs code).
    """
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def _inflate(data: bytes, wbits: int, limit: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise DecodeError(f"corrupt {name} layer: {exc}") from None
    if inflater.unconsumed_tail:
        raise DecodeError(f"{name} layer would decompress past {limit:,} bytes")
    if not inflater.eof:
        raise DecodeError(f"truncated {name} layer")
    return out


def _lz4_frame(data: bytes, limit: int) -> bytes:
    import lz4.frame

    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        out: bytes = decompressor.decompress(data, max_length=limit)
    except RuntimeError as exc:
        raise DecodeError(f"corrupt lz4-frame layer: {exc}") from None
    if not decompressor.needs_input and not decompressor.eof:
        raise DecodeError(f"lz4-frame layer would decompress past {limit:,} bytes")
    if not decompressor.eof:
        raise DecodeError("truncated lz4-frame layer")
    return out


def _zstd(data: bytes, limit: int) -> bytes | None:
    try:
        import zstandard  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        out: bytes = zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise DecodeError(f"corrupt zstd layer: {exc}") from None
    return out


def peel(data: bytes, limit: int) -> tuple[list[str], bytes, bool]:
    """Remove compression layers: their names, the inner bytes, and whether all came off."""
    layers: list[str] = []
    while len(layers) < 4 and (name := layer(data)) is not None:
        if name == "gzip":
            data = _inflate(data, 31, limit, name)
        elif name == "zlib":
            data = _inflate(data, 15, limit, name)
        elif name == "lz4-frame":
            data = _lz4_frame(data, limit)
        else:
            inner = _zstd(data, limit)
            if inner is None:
                layers.append("zstd (not decoded)")
                return layers, data, False
            data = inner
        layers.append(name)
    return layers, data, True


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*'
#: One JSON token (or whitespace), the token's kind told by its first character.
_JSON_LEX = re.compile(
    r"\s+|" + _STRING + r'"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'
    r"|true|false|null|NaN|-?Infinity|[\[\]{},:]"
)
#: What a token cut by the end of a sample may look like.
_JSON_CUT = re.compile(
    _STRING + r"(?:\\u?[0-9a-fA-F]{0,3})?|-?[0-9.eE+-]*|-?I[nfity]*|N(?:aN?)?"
    r"|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?"
)
_CLOSER = {"[": "]", "{": "}"}


def _utf8(data: bytes, complete: bool) -> str | None:
    """data as UTF-8; in a sample (not complete), a character cut at the very end forgiven."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8")
        return None


def _json_start(text: str) -> bool:
    """Whether text is how one JSON document can begin (tokens and brackets; a sample)."""
    pos, open_, done, seen = 0, [], False, False
    while pos < len(text):
        token = _JSON_LEX.match(text, pos)
        if token is None:
            return _JSON_CUT.fullmatch(text, pos) is not None and not done
        pos, char = token.end(), token.group()[0]
        if char.isspace():
            continue
        if done:
            return False  # a second document after the first
        seen = True
        if char in "[{":
            open_.append(_CLOSER[char])
        elif char in "]}":
            if not open_ or open_.pop() != char:
                return False
            done = not open_
        elif char in ",:":
            if not open_:
                return False
        else:
            done = not open_
    return seen


def _json_whole(text: str) -> bool:
    """Whether text (a whole value, under CODEC_SAMPLE bytes) is one JSON document."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _msgpack_start(data: bytes, total: int) -> bool:
    """Whether data, the start of a value of total bytes, is how one msgpack document of
    that length can begin, as msgpack would read it: no unused byte, strings in UTF-8,
    timestamps 4, 8 or 12 bytes, no length or count the value has no room for, and a first
    document that ends where the value does (the sample's last item may run past its end)."""
    pending, pos, end = 1, 0, len(data)
    while pos < end:
        if pending == 0 or pending > total - pos:
            return False  # bytes after the document, or more items than bytes left
        first = data[pos]
        pending -= 1
        size, items = _MSGPACK_FIXED.get(first, (1, 0))
        text = first in _MSGPACK_TEXT or 0xA0 <= first <= 0xBF
        if 0x80 <= first <= 0x8F:
            items = 2 * (first & 0x0F)
        elif 0x90 <= first <= 0x9F:
            items = first & 0x0F
        elif 0xA0 <= first <= 0xBF:
            size = 1 + (first & 0x1F)
        elif first == 0xC1:
            return False
        elif first in _MSGPACK_SIZED:
            width, extra, kind = _MSGPACK_SIZED[first]
            if pos + 1 + width > end:
                return True
            count = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
            if count > total - pos:
                return False
            if kind == "bytes":
                size = 1 + width + extra + count
                if extra and _timestamp_at(data, pos + 1 + width) and count not in (4, 8, 12):
                    return False
            else:
                size, items = 1 + width, count * (2 if kind == "map" else 1)
        elif first in _MSGPACK_FIXEXT and _timestamp_at(data, pos + 1) and size - 2 not in (4, 8):
            return False
        if text:
            start = pos + size - _text_length(data, pos, first)
            if _utf8(data[start : pos + size], complete=pos + size <= end) is None:
                return False
        pos += size
        pending += items
        if pos > total:
            return False
    return pending > 0 or pos == total


def _timestamp_at(data: bytes, pos: int) -> bool:
    """Whether the extension type byte at pos is -1, msgpack's timestamp (4, 8 or 12 bytes)."""
    return pos < len(data) and data[pos] == 0xFF


def _text_length(data: bytes, pos: int, first: int) -> int:
    """The byte length of the msgpack string starting at pos (its header within data)."""
    if first <= 0xBF:
        return first & 0x1F
    width = _MSGPACK_SIZED[first][0]
    return int.from_bytes(data[pos + 1 : pos + 1 + width], "big")


_MSGPACK_TEXT = frozenset({0xD9, 0xDA, 0xDB})
_MSGPACK_FIXEXT = frozenset({0xD4, 0xD5, 0xD6, 0xD7, 0xD8})
# msgpack type byte -> (encoded size, items that follow) for fixed-size types.
_MSGPACK_FIXED = {
    0xCA: (5, 0), 0xCB: (9, 0), 0xCC: (2, 0), 0xCD: (3, 0), 0xCE: (5, 0), 0xCF: (9, 0),
    0xD0: (2, 0), 0xD1: (3, 0), 0xD2: (5, 0), 0xD3: (9, 0),
    0xD4: (3, 0), 0xD5: (4, 0), 0xD6: (6, 0), 0xD7: (10, 0), 0xD8: (18, 0),
}  # fmt: skip
# msgpack type byte -> (length bytes, bytes between length and data, what it holds).
_MSGPACK_SIZED = {
    0xC4: (1, 0, "bytes"), 0xC5: (2, 0, "bytes"), 0xC6: (4, 0, "bytes"),
    0xC7: (1, 1, "bytes"), 0xC8: (2, 1, "bytes"), 0xC9: (4, 1, "bytes"),
    0xD9: (1, 0, "bytes"), 0xDA: (2, 0, "bytes"), 0xDB: (4, 0, "bytes"),
    0xDC: (2, 0, "array"), 0xDD: (4, 0, "array"), 0xDE: (2, 0, "map"), 0xDF: (4, 0, "map"),
}  # fmt: skip


def sniff(data: bytes, total: int | None = None) -> str:
    """The serializer a foreign value's first CODEC_SAMPLE bytes show: pickle, json, msgpack,
    text or binary. Nothing is unpickled.

    A value shorter than the sample is seen whole, and named exactly: json or msgpack only
    if it parses as such. A longer one is named from its start: json or msgpack only if it
    begins as one document of it, text if it begins as UTF-8.
    """
    sample = data[:CODEC_SAMPLE]
    total = len(data) if total is None else total
    complete = total <= len(sample)
    if is_pickle(sample):
        return "pickle"
    text = _utf8(sample, complete)
    if text is not None:
        if _json_whole(text) if complete else _json_start(text):
            return "json"
        return "text"  # ASCII bytes are also msgpack integers: text here
    if sample and sample[0] >= 0x80:
        if complete:
            from cachectl.codec import unpack_foreign

            try:
                unpack_foreign(sample)
            except DecodeError as exc:
                if "nested deeper" not in str(exc):
                    return "binary"
            return "msgpack"
        if _msgpack_start(sample, total):
            return "msgpack"
    return "binary"


def json_too_deep(text: str, limit: int) -> bool:
    """Whether JSON text nests arrays and objects more than limit levels (no recursion)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def read_payload(data: bytes) -> tuple[str, Any]:
    """The serializer and value of foreign bytes, read as what sniff names them.

    A pickle is reported with its bytes as the value: it is never unpickled (that runs code).
    JSON or msgpack that does not parse past its first bytes, or nests past the codec's
    MAX_DEPTH, raises DecodeError (a corrupt value); text that stops being UTF-8 past them is
    shown with the stray bytes escaped.
    """
    from cachectl.codec import MAX_DEPTH, unpack_foreign

    kind = sniff(data)
    if kind in ("pickle", "binary"):
        return kind, data
    if kind == "json":
        text = data.decode("utf-8", "replace")
        if json_too_deep(text, MAX_DEPTH):
            raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels")
        try:
            return "json", json.loads(text)
        except ValueError as exc:
            raise DecodeError(f"corrupt JSON ({exc})") from None
    if kind == "msgpack":
        return "msgpack", unpack_foreign(data)
    return "text", data.decode("utf-8", "backslashreplace")


def decode(data: bytes, max_size: int) -> tuple[Encoding, Any]:
    """Decode stored bytes, cachectl's or foreign; raises DecodeError for a corrupt value."""
    from cachectl.codec import Codec

    if data[:1] == b"\xc1":
        decoded = Codec(max_size=max_size).decode_full(data)
        header = decoded.header
        encoding = Encoding(
            "cachectl",
            header.serializer.name.lower(),
            header.compression.name.lower(),
            decoded.stored_size,
            decoded.payload_size,
            header.fresh_until_ms,
        )
        return encoding, decoded.value
    layers, inner, complete = peel(data, max_size)
    compression = "+".join(layers) or "none"
    if not complete:
        return Encoding("foreign", "binary", compression, len(data), None), inner
    serializer, value = read_payload(inner)
    return Encoding("foreign", serializer, compression, len(data), len(inner)), value


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


# -- reading a key ----------------------------------------------------------------------------


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
                pipe = conn.client.pipeline(transaction=False)
                for tag_key in batch:
                    pipe.zscore(tag_key, full)
                # A key named like a tag set that is not one (written by someone else) answers
                # WRONGTYPE: it is no tag of this key, and must not stop the inspection.
                scores = pipe.execute(raise_on_error=False)
                for tag_key, score in zip(batch, scores, strict=True):
                    if isinstance(score, bytes | int | float) and float(score) >= now:
                        found.append(conn.keys.tag_name(tag_key))
            if not done and max_scan is not None and seen >= max_scan:
                complete = False
                break
        examined += seen
    return TagSearch(tuple(sorted(set(found))), None if complete else examined)


def inspect_key(
    conn: Connection,
    key: str | bytes,
    raw: bool = False,
    items: int = ITEMS,
    max_bytes: int = MAX_BYTES,
) -> Inspection:
    """Everything about one application key, its value shown up to max_bytes (0: all);
    raises CheckFailed when it does not exist."""
    from cachectl.keys import to_bytes

    app = to_bytes(key)
    full = conn.keys.full(app)
    client = conn.client
    pipe = client.pipeline(transaction=False)
    pipe.type(full)
    pipe.pttl(full)
    conn.memory_usage(pipe, full)
    kind_raw, pttl, memory = pipe.execute()
    kind = kind_raw.decode() if isinstance(kind_raw, bytes) else str(kind_raw)
    if kind == "none":
        raise CheckFailed(f"key {display_key(app)!r} not found in {conn.keys.where}")
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
