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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from uuid import UUID

from cachectl.errors import CheckFailed, DecodeError
from cachectl.ops.connect import Connection
from cachectl.ops.selection import SCAN_COUNT, server_ms

GZIP, ZSTD, LZ4_FRAME = b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"
#: Bytes of a value shown in a hex dump when it cannot be decoded.
HEAD = 64
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
    value: Any = None  # a string's decoded value, or a collection's first items
    length: int | None = None  # a collection's item count
    encoding: Encoding | None = None
    error: str | None = None  # why a string could not be decoded
    head: bytes = b""  # the start of a string's stored bytes
    raw: bytes | None = field(default=None, repr=False)  # stored bytes shown, when asked
    size: int | None = None  # a string's stored bytes, all of them
    clipped: int = 0  # bytes or items of the value left out by max_bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (the value made JSON-compatible, see jsonable)."""
        out: dict[str, Any] = {
            "key": display_key(self.key),
            "full_key": display_key(self.full_key),
            "type": self.type,
            "ttl_ms": self.ttl_ms,
            "memory": self.memory,
            "tags": list(self.tags),
        }
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
            out["clipped"] = self.clipped
        return out


def display_key(key: bytes) -> str:
    """A key as text; bytes that are not UTF-8 shown as \\xNN escapes."""
    return key.decode("utf-8", "backslashreplace")


# -- pure decoding ----------------------------------------------------------------------------


def layer_of(data: bytes) -> str | None:
    """The compression a value's magic bytes announce, if any."""
    if data.startswith(GZIP):
        return "gzip"
    if data.startswith(ZSTD):
        return "zstd"
    if data.startswith(LZ4_FRAME):
        return "lz4-frame"
    if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    return None


def describe_head(head: bytes) -> str:
    """A short codec description from a value's first bytes: cachectl's header, a compression
    layer's magic, else the serializer those bytes show (json, msgpack, pickle, text, binary).

    The one classification shared by `keys` and `inspect`: for a foreign value without a
    compression layer it names what read_payload would decode it as.
    """
    from cachectl.codec import read_header

    if head[:1] == b"\xc1":
        try:
            header = read_header(head)
        except DecodeError:
            return "cachectl (bad header)"
        name = header.serializer.name.lower()
        compression = header.compression.name.lower()
        return name if compression == "none" else f"{name}+{compression}"
    return layer_of(head) or sniff(head)


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
        raise DecodeError(f"{name} layer would decompress past {limit} bytes")
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
        raise DecodeError(f"lz4-frame layer would decompress past {limit} bytes")
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
    while len(layers) < 4 and (name := layer_of(data)) is not None:
        if name == "gzip":
            data = _inflate(data, 31, limit, name)
        elif name == "zlib":
            try:
                data = _inflate(data, 15, limit, name)
            except DecodeError:
                if layers:
                    raise
                break  # 0x78 is also 'x': a text value, not a zlib stream
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


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _utf8(data: bytes) -> str | None:
    """data as UTF-8, a multi-byte character cut at the very end forgiven (a sample's end)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8")
        return None


def sniff(data: bytes) -> str:
    """The serializer a foreign value's bytes show: pickle, json, msgpack, text or binary.

    Works on a value's first bytes as well as on all of them, so that `keys` (which reads a
    sample) and `inspect` (which reads the value) name a value alike. Nothing is decoded.
    """
    if is_pickle(data):
        return "pickle"
    text = _utf8(data)
    if text is not None:
        stripped = text.strip()
        if stripped[:1] in ("{", "[", '"') or stripped in ("true", "false", "null"):
            return "json"
        if _JSON_NUMBER.fullmatch(stripped):
            return "json"
        if not data or data[0] < 0x80:
            return "text"  # ASCII bytes are also msgpack integers: only text here
    if data and data[0] >= 0x80 and text is None:
        return "msgpack"
    return "text" if text is not None else "binary"


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
    """The serializer and value of foreign bytes, as sniff names them.

    A pickle is reported with its bytes as the value: it is never unpickled (that runs code).
    JSON or msgpack nested past the codec's MAX_DEPTH raises DecodeError; bytes that are not
    what they looked like are read as text, else binary.
    """
    from cachectl.codec import MAX_DEPTH, unpack_foreign

    kind = sniff(data)
    if kind == "pickle":
        return "pickle", data
    if kind == "json":
        text = data.decode("utf-8", "replace")
        if json_too_deep(text, MAX_DEPTH):
            raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels")
        try:
            return "json", json.loads(text)
        except ValueError:
            kind = "text"
    if kind == "msgpack":
        try:
            return "msgpack", unpack_foreign(data)
        except DecodeError as exc:
            if "nested deeper" in str(exc):
                raise
            kind = "binary"
    try:
        return "text", data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", data


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


def hexdump(data: bytes, limit: int = HEAD, total: int | None = None) -> str:
    """Offset, hex and ASCII columns of the first limit bytes, 16 a line (time linear in what
    it shows); total is the whole value's size when data is only its start."""
    shown = memoryview(data)[:limit]
    lines = []
    for offset in range(0, len(shown), 16):
        chunk = bytes(shown[offset : offset + 16])
        text = chunk.translate(_PRINTABLE).decode("ascii")
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  |{text}|")
    more = (len(data) if total is None else total) - len(shown)
    if more > 0:
        lines.append(f"... {more} more bytes")
    return "\n".join(lines)


def clip(value: Any, max_bytes: int, items: int = 200) -> tuple[Any, int]:
    """A copy of a decoded value small enough to show, and how much was left out.

    Strings and bytes share a budget of max_bytes; a collection shows at most items entries
    (max_bytes 0: the value as it is). What is cut is replaced by a "... N more ..." marker.
    """
    if max_bytes <= 0:
        return value, 0
    budget = [max_bytes]
    left_out = [0]

    def cut(obj: Any) -> Any:
        if isinstance(obj, str | bytes | bytearray):
            room = budget[0]
            if len(obj) <= room:
                budget[0] -= len(obj)
                return obj
            budget[0] = 0
            left_out[0] += len(obj) - room
            if isinstance(obj, str):
                return obj[:room] + f"... {len(obj) - room} more characters"
            return bytes(obj[:room]) + f"... {len(obj) - room} more bytes".encode()
        if isinstance(obj, Mapping):
            pairs = list(obj.items())
            # Keys are not charged to the budget (a shown value keeps its names); a long one is cut.
            out = {
                (k[:max_bytes] + "...") if isinstance(k, str) and len(k) > max_bytes else k: cut(v)
                for k, v in pairs[:items]
            }
            if len(pairs) > items:
                left_out[0] += len(pairs) - items
                out[f"... {len(pairs) - items} more items"] = "..."
            return out
        if isinstance(obj, list | tuple | set | frozenset):
            seq = list(obj) if isinstance(obj, list | tuple) else sorted(obj, key=repr)
            shown = [cut(v) for v in seq[:items]]
            if len(seq) > items:
                left_out[0] += len(seq) - items
                shown.append(f"... {len(seq) - items} more items")
            return tuple(shown) if isinstance(obj, tuple) else shown
        return obj

    return cut(value), left_out[0]


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


def tags_of(conn: Connection, full: bytes) -> tuple[str, ...]:
    """The tags a key was written with and that have not expired (a scan of the tag sets)."""
    now = server_ms(conn)
    found: list[str] = []
    records = conn.keys.namespace.encode() + b"#tag::"  # tags records (keys.tags_record)
    for found_keys in conn.backend.scan(conn.keys.tag_glob, SCAN_COUNT):
        batch = [key for key in found_keys if not key.startswith(records)]
        pipe = conn.client.pipeline(transaction=False)
        for tag_key in batch:
            pipe.zscore(tag_key, full)
        # A key named like a tag set that is not one (written by someone else) answers
        # WRONGTYPE: it is no tag of this key, and must not stop the inspection of any key.
        for tag_key, score in zip(batch, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(score, bytes | int | float) and float(score) >= now:
                found.append(conn.keys.tag_name(tag_key))
    return tuple(sorted(found))


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
    base = Inspection(
        app,
        full,
        kind,
        ttl_ms=int(pttl) if int(pttl) >= 0 else None,
        memory=int(memory) if isinstance(memory, int) else None,
        tags=tags_of(conn, full),
    )
    if kind != "string":
        length, value = _collection(conn, full, kind, items)
        shown, clipped = clip(value, max_bytes)
        return replace(base, value=shown, length=length, clipped=clipped)
    data: bytes | None = client.get(full)
    if data is None:
        raise CheckFailed(f"key {display_key(app)!r} expired while it was read")
    base = replace(base, size=len(data), head=data[:HEAD])
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
        clipped_bytes = len(value) - len(shown_bytes)
        return replace(base, value=shown_bytes, encoding=encoding, clipped=clipped_bytes)
    shown, clipped = clip(value, max_bytes)
    return replace(base, value=shown, encoding=encoding, clipped=clipped)
