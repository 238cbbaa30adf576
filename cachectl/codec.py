"""The stored-value format: a versioned header, then a msgpack payload, maybe compressed.

    byte 0      0xC1 (the one byte msgpack never uses, so foreign msgpack is never misread)
    byte 1      format version, 1
    byte 2      flags: bits 0-1 compression (0 none, 1 lz4 block, 2 zlib),
                bits 4-5 serializer (0 msgpack), bit 7 a fresh-until stamp follows
    bytes 3-10  fresh-until, unix milliseconds, big-endian (only when bit 7 is set)
    rest        payload; lz4 blocks carry their uncompressed size (4 bytes, little-endian)

msgpack extension types: 1 datetime, 2 date, 3 UUID, 4 Decimal, 5 set, 6 tuple, 7 frozenset,
8 time, 9 timedelta; each holds UTF-8 text or nested msgpack. Pure, no I/O.

Counters (incr/decr) work on an integer stored plainly: flags 0 (no compression, no stamp),
then one msgpack integer and nothing after it, between -(2**53 - 1) and 2**53 - 1 (Redis's Lua
counts in doubles). Every int the library writes with set is stored so. An increment keeps
that form and the key's TTL; Redis does it in one Lua script (one key, so one cluster slot),
the embedded store with add_to_integer below.

Limits, the same on write (SerializationError; ValueTooLarge for size) and read (DecodeError, so
a miss):
- containers (list, dict, tuple, set, frozenset) nest at most MAX_DEPTH levels;
- a payload decompresses to at most max_size bytes, and an lz4 block may not claim more than
  lz4 can produce from its length (LZ4_MAX_RATIO), checked before anything is allocated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import operator
import struct
import sys
import threading
import zlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from functools import partial
from itertools import chain, compress
from typing import Any, Final, TypeVar
from uuid import UUID

import lz4.block
import msgpack

from cachectl.errors import DecodeError, SerializationError, ValueTooLarge

K = TypeVar("K", bound=Hashable)

MAGIC: Final = 0xC1
VERSION: Final = 1
HAS_STAMP: Final = 0x80
_STAMP = struct.Struct(">Q")
_LZ4_SIZE = struct.Struct("<I")
PLAIN_HEADER: Final = bytes((MAGIC, VERSION, 0))
_UNKNOWN: Final = 0x7C  # flag bits this version does not define (only msgpack, serializer 0)
#: Levels of containers (list, dict, tuple, set, frozenset) a stored value may nest.
MAX_DEPTH: Final = 100
#: An lz4 block never expands more than this (one byte of a match length adds 255 bytes).
LZ4_MAX_RATIO: Final = 255
#: Largest payload, decompressed, a Codec reads back by default (CacheConfig.max_value_size).
#: Far above what a cache should hold (memcached stops at 1 MiB), and it bounds a hostile value:
#: msgpack can spend ~75 bytes of Python objects per payload byte (a list of empty lists).
DEFAULT_MAX_SIZE: Final = 8 * 1024 * 1024


class Compression(IntEnum):
    """Compression of a stored payload."""

    NONE = 0
    LZ4 = 1
    ZLIB = 2


class Serializer(IntEnum):
    """Serializer of a stored payload."""

    MSGPACK = 0


_EXT_DATETIME, _EXT_DATE, _EXT_UUID, _EXT_DECIMAL = 1, 2, 3, 4
_EXT_SET, _EXT_TUPLE, _EXT_FROZENSET, _EXT_TIME, _EXT_TIMEDELTA = 5, 6, 7, 8, 9


_TOO_DEEP_TO_CACHE: Final = f"cannot cache a value nested deeper than {MAX_DEPTH} levels"


class _Unbounded(Exception):
    """An extension type's payload too big for the cheap bound: walk the value instead."""


def _encoder(depth: int, inner: int = sys.maxsize) -> Any:
    """The msgpack default hook for extension types nested depth levels down; a container's
    payload may hold at most inner nesting header bytes (else _Unbounded)."""

    def nested(code: int, items: list[Any]) -> msgpack.ExtType:
        packed = _pack(items, depth + 1)
        if len(packed) > inner and len(packed.translate(None, _NOT_NESTING)) > inner:
            raise _Unbounded
        return msgpack.ExtType(code, packed)

    def default(obj: Any) -> Any:
        # strict_types sends tuples and subclasses here; plain containers go back as themselves.
        if isinstance(obj, tuple):
            return nested(_EXT_TUPLE, list(obj))
        if isinstance(obj, dt.datetime):
            return msgpack.ExtType(_EXT_DATETIME, obj.isoformat().encode())
        if isinstance(obj, dt.date):
            return msgpack.ExtType(_EXT_DATE, obj.isoformat().encode())
        if isinstance(obj, dt.time):
            return msgpack.ExtType(_EXT_TIME, obj.isoformat().encode())
        if isinstance(obj, dt.timedelta):
            micros = [obj.days, obj.seconds, obj.microseconds]
            return msgpack.ExtType(_EXT_TIMEDELTA, _pack(micros, depth + 1))
        if isinstance(obj, UUID):
            return msgpack.ExtType(_EXT_UUID, obj.bytes)
        if isinstance(obj, Decimal):
            return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode())
        if isinstance(obj, frozenset):
            return nested(_EXT_FROZENSET, list(obj))
        if isinstance(obj, set):
            return nested(_EXT_SET, list(obj))
        if isinstance(obj, bool):
            return bool(obj)
        for base in (int, float, str, bytes, dict, list):
            if isinstance(obj, base):
                return base(obj)  # type: ignore[arg-type]
        raise SerializationError(f"cannot cache a value of type {type(obj).__qualname__}")

    return default


def _pack(value: Any, depth: int = 0, default: Any = None) -> bytes:
    if depth > MAX_DEPTH:
        # Bounded here, not by RecursionError: each level also holds a C frame of msgpack's.
        raise SerializationError(_TOO_DEEP_TO_CACHE)
    try:
        return msgpack.packb(  # type: ignore[no-any-return]
            value, default=default or _DEFAULTS[depth], use_bin_type=True, strict_types=True
        )
    except SerializationError:
        raise
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, RecursionError) or "recursion limit" in str(exc):
            # msgpack's own nesting limit (511 lists or dicts), or the caller's stack, ran out
            # before this module's check, which runs once the value is packed.
            raise SerializationError(_TOO_DEEP_TO_CACHE) from None
        raise SerializationError(f"cannot cache this value: {exc}") from None
    except (TypeError, OverflowError) as exc:
        raise SerializationError(f"cannot cache this value: {exc}") from None


_DEFAULTS = [_encoder(depth) for depth in range(MAX_DEPTH + 1)]

# -- nesting ------------------------------------------------------------------------------------

# Every level of nesting starts with one of these bytes (fixmap, fixarray, array/map 16/32,
# ext 8/16/32, fixext): a payload holding at most MAX_DEPTH of them needs no closer look.
_NESTING = frozenset(range(0x80, 0xA0)) | {0xDC, 0xDD, 0xDE, 0xDF, 0xC7, 0xC8, 0xC9}
_EXT_HEADS = frozenset({0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8})
_NOT_NESTING: Final = bytes(b for b in range(256) if b not in _NESTING | _EXT_HEADS)
_NOT_EXT: Final = bytes(b for b in range(256) if b not in _EXT_HEADS)
# msgpack's unpacker has a fixed stack of 1024 containers: wrapped in 1024 - MAX_DEPTH
# one-item arrays, a payload nesting deeper than MAX_DEPTH overflows it, checked at C speed.
_STACK = 1024
# Values with extension types get a cheaper bound than a walk when they are shallow: lists and
# maps outside any extension type at most _OUTER levels, each top extension type's payload at
# most _INNER header bytes; _OUTER + 1 + _INNER <= MAX_DEPTH.
_OUTER = MAX_DEPTH // 2
_INNER = MAX_DEPTH - _OUTER - 1
_BOUNDED_DEFAULT = _encoder(0, _INNER)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_LEAVES = frozenset(
    {str, int, float, bool, bytes, type(None), dt.datetime, dt.date, dt.time, dt.timedelta}
    | {UUID, Decimal}
)
_EXACT_CONTAINERS = frozenset(_CONTAINERS)
_EXACT = _LEAVES | _EXACT_CONTAINERS
_DICT = frozenset({dict})


def may_nest_deeper(payload: bytes, limit: int = MAX_DEPTH) -> bool:
    """False when payload cannot hold more than limit levels (a cheap count of header bytes)."""
    return len(payload) > limit and len(payload.translate(None, _NOT_NESTING)) > limit


def _heads(payload: bytes) -> bytes:
    """The bytes of payload that could start a level of nesting (few, in most values)."""
    return payload.translate(None, _NOT_NESTING)


def _has_ext(heads: bytes) -> bool:
    """Whether a payload whose _heads these are may hold extension types."""
    return bool(heads.translate(None, _NOT_EXT))


def plain_nesting_ok(payload: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether msgpack's lists and maps in payload nest at most limit levels (ext opaque)."""
    wrap = b"\x91" * (_STACK - limit)
    unpacker = msgpack.Unpacker(max_buffer_size=len(payload) + len(wrap) + 1)
    unpacker.feed(wrap + payload)
    try:
        unpacker.skip()
    except msgpack.StackError:
        return False
    except Exception:
        return True  # corrupt rather than deep: msgpack says so when it decodes
    return True


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether value's containers nest more than limit levels (level by level, no recursion)."""
    level: list[Any] = [value]
    for depth in range(1, limit + 2):
        kinds = set(map(type, level))
        if kinds <= _LEAVES:
            return False
        if kinds <= _EXACT:  # decoded values: sorted at C speed
            containers = list(
                compress(level, map(_EXACT_CONTAINERS.__contains__, map(type, level)))
            )
            is_map = list(map(_DICT.__contains__, map(type, containers)))
        else:  # subclasses, as a caller may pass to encode
            containers = [obj for obj in level if isinstance(obj, _CONTAINERS)]
            if not containers:
                return False
            is_map = [isinstance(obj, dict) for obj in containers]
        if depth > limit:
            return True
        maps = list(compress(containers, is_map))
        seqs = compress(containers, map(operator.not_, is_map))
        level = list(
            chain(
                chain.from_iterable(seqs),
                chain.from_iterable(maps),
                chain.from_iterable(map(dict.values, maps)),
            )
        )
    return True


# -- decoding -----------------------------------------------------------------------------------

# The first levels of extension types decode through unpackb, whose context (~40 KiB) sits on
# the C stack; deeper ones through an Unpacker per level and thread, whose context is on the
# heap, so MAX_DEPTH levels fit a small thread stack.
_ON_STACK = 2
_NESTED_MAX_LEN = 1 << 20  # items of a list or map inside deep extension types (preallocated)
_KEEP_BUFFER = 1 << 16


class _Unpackers(threading.local):
    def __init__(self) -> None:
        self.at: list[msgpack.Unpacker | None] = [None] * (MAX_DEPTH + 1)


_unpackers = _Unpackers()


def _pooled(depth: int, hook: Any, data: bytes) -> Any:
    """Unpack an extension type's msgpack depth levels down, with this thread's Unpacker."""
    slots = _unpackers.at
    unpacker = slots[depth]
    if unpacker is None:
        unpacker = slots[depth] = msgpack.Unpacker(
            ext_hook=hook,
            raw=False,
            strict_map_key=False,
            max_buffer_size=2**31 - 1,
            max_array_len=_NESTED_MAX_LEN,
            max_map_len=_NESTED_MAX_LEN,
        )
    start = unpacker.tell()
    unpacker.feed(data)
    try:
        value = unpacker.unpack()
    except BaseException:
        slots[depth] = None  # its buffer holds the rest: start the next value afresh
        raise
    if unpacker.tell() - start != len(data):
        slots[depth] = None
        raise DecodeError("extension payload has extra bytes")
    if len(data) > _KEEP_BUFFER:
        slots[depth] = None  # a thread keeps no large buffer for its next, small, values
    return value


def _too_deep_to_read(data: bytes) -> Any:
    raise DecodeError(f"value nested deeper than {MAX_DEPTH} levels")


def _decoder(depth: int, inner_hook: Any, inner: int = sys.maxsize) -> Any:
    """The msgpack ext_hook for extension types found depth levels down, inner_hook the one
    for those inside them; a container's payload may hold at most inner nesting header bytes
    (else _Unbounded)."""
    # A direct call where it can be (a partial with keywords costs as much as the unpacking).
    unpackb, on_stack = msgpack.unpackb, depth + 1 < _ON_STACK
    deep: Any = _too_deep_to_read if depth >= MAX_DEPTH else partial(_pooled, depth + 1, inner_hook)

    def ext_hook(code: int, data: bytes) -> Any:
        if code == _EXT_TUPLE:
            if len(data) > inner and len(data.translate(None, _NOT_NESTING)) > inner:
                raise _Unbounded
            if on_stack:
                return tuple(unpackb(data, ext_hook=inner_hook, strict_map_key=False))
            return tuple(deep(data))
        if code == _EXT_DATETIME:
            return dt.datetime.fromisoformat(data.decode())
        if code == _EXT_DATE:
            return dt.date.fromisoformat(data.decode())
        if code == _EXT_TIME:
            return dt.time.fromisoformat(data.decode())
        if code == _EXT_TIMEDELTA:
            parts = msgpack.unpackb(data)  # three integers: no extension types inside
            if (
                not isinstance(parts, list)
                or len(parts) != 3
                or not all(type(p) is int for p in parts)
            ):
                raise DecodeError("corrupt timedelta")
            return dt.timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2])
        if code == _EXT_UUID:
            return UUID(bytes=data)
        if code == _EXT_DECIMAL:
            return Decimal(data.decode())
        if code in (_EXT_SET, _EXT_FROZENSET):
            if len(data) > inner and len(data.translate(None, _NOT_NESTING)) > inner:
                raise _Unbounded
            if on_stack:
                items = unpackb(data, ext_hook=inner_hook, strict_map_key=False)
            else:
                items = deep(data)
            return set(items) if code == _EXT_SET else frozenset(items)
        raise DecodeError(f"unknown msgpack extension type {code}")

    return ext_hook


def _hooks() -> list[Any]:
    """The ext_hook of each depth, the deepest first built: each holds the next."""
    hooks: list[Any] = [None] * (MAX_DEPTH + 1)
    for depth in range(MAX_DEPTH, -1, -1):
        hooks[depth] = _decoder(depth, hooks[depth + 1] if depth < MAX_DEPTH else None)
    return hooks


_HOOKS = _hooks()
_ext_hook = _HOOKS[0]
#: The ext_hook and the unpacking of a payload already read once (see unpack_again), for a
#: caller that inlines unpack_again (the near cache's hit).
EXT_HOOK: Final = _ext_hook
unpackb: Final = msgpack.unpackb
_BOUNDED_HOOK = _decoder(0, _HOOKS[1], _INNER)


def _unpack(payload: bytes) -> Any:
    """Unpack a cachectl payload, refusing nesting past MAX_DEPTH; raises DecodeError."""
    if len(payload) > MAX_DEPTH and len(heads := _heads(payload)) > MAX_DEPTH:
        return _unpack_checked_or_corrupt(payload, heads)
    try:
        return msgpack.unpackb(payload, ext_hook=_ext_hook, strict_map_key=False)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"corrupt msgpack payload ({type(exc).__name__}: {exc})") from None


def _unpack_checked_or_corrupt(payload: bytes, heads: bytes) -> Any:
    try:
        return _unpack_checked(payload, heads)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"corrupt msgpack payload ({type(exc).__name__}: {exc})") from None


def _unpack_checked(payload: bytes, heads: bytes) -> Any:
    """_unpack for a payload with many nesting header bytes: the depth is checked exactly."""
    too_deep_error = DecodeError(f"value nested deeper than {MAX_DEPTH} levels")
    if not _has_ext(heads):
        # No extension types: lists and maps alone, checked exactly at C speed.
        if not plain_nesting_ok(payload):
            raise too_deep_error
        return msgpack.unpackb(payload, ext_hook=_ext_hook, strict_map_key=False)
    if plain_nesting_ok(payload, _OUTER):
        # Shallow outside, small extension types (a list of row tuples): bounded without a walk.
        with contextlib.suppress(_Unbounded):
            return msgpack.unpackb(payload, ext_hook=_BOUNDED_HOOK, strict_map_key=False)
    # The hooks bound extension types alone; the walk, everything.
    value = msgpack.unpackb(payload, ext_hook=_ext_hook, strict_map_key=False)
    if too_deep(value):
        raise too_deep_error
    return value


def unpack_again(payload: bytes) -> Any:
    """Unpack a payload that decode has already read once (so within the limits): what a
    near-cache hit costs, msgpack's unpackb and the extension types' hook."""
    return msgpack.unpackb(payload, ext_hook=_ext_hook, strict_map_key=False)


def unpack_foreign(data: bytes) -> Any:
    """Unpack msgpack not written by cachectl: extension types left as they are, nesting
    bounded by MAX_DEPTH; raises DecodeError."""
    if may_nest_deeper(data) and not plain_nesting_ok(data):
        raise DecodeError(f"msgpack nested deeper than {MAX_DEPTH} levels")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:
        raise DecodeError(f"corrupt msgpack ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True, slots=True)
class Header:
    """What the header of a stored value says."""

    version: int
    serializer: Serializer
    compression: Compression
    fresh_until_ms: int | None
    size: int  # header length in bytes


@dataclass(frozen=True, slots=True)
class Decoded:
    """A stored value, decoded, with what is known of its encoding."""

    value: Any
    header: Header
    stored_size: int
    payload_size: int  # uncompressed msgpack bytes


class Codec:
    """Encodes values to cachectl's stored format and back."""

    __slots__ = ("compression", "max_size", "threshold")

    def __init__(
        self,
        threshold: int = 1024,
        compression: Compression | str = Compression.LZ4,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self.threshold = threshold
        self.compression = (
            Compression[compression.upper()] if isinstance(compression, str) else compression
        )
        if self.compression is Compression.NONE:
            raise ValueError("compression is 'lz4' or 'zlib'; set threshold to disable it")
        self.max_size = max_size

    def encode(self, value: Any, fresh_until_ms: int | None = None) -> bytes:
        """Encode a value; payloads above the threshold are compressed.

        Raises SerializationError for a type msgpack cannot store or nesting past MAX_DEPTH,
        and ValueTooLarge for a payload over max_size, which decode would refuse.
        """
        try:
            payload, bounded = _pack(value, 0, _BOUNDED_DEFAULT), True
        except _Unbounded:
            payload, bounded = _pack(value), False
        if len(payload) > self.max_size:
            # The limit decode applies, on the same bytes (before compression): a value written
            # past it would only ever be read back as a miss.
            raise ValueTooLarge(
                f"a value of {len(payload)} bytes encoded is over max_value_size "
                f"({self.max_size} bytes)",
                len(payload),
                self.max_size,
            )
        if len(payload) > MAX_DEPTH and len(heads := _heads(payload)) > MAX_DEPTH:
            # The same checks as on read (see _unpack_checked), the walk of the value last.
            if not _has_ext(heads):
                deep = not plain_nesting_ok(payload)
            elif bounded and plain_nesting_ok(payload, _OUTER):
                deep = False
            else:
                deep = too_deep(value)
            if deep:
                raise SerializationError(_TOO_DEEP_TO_CACHE)
        flags = 0
        if len(payload) > self.threshold:
            if self.compression is Compression.LZ4:
                packed = lz4.block.compress(payload, store_size=True)
            else:
                packed = zlib.compress(payload, 6)
            if len(packed) < len(payload):
                payload, flags = packed, int(self.compression)
        if fresh_until_ms is None:
            return bytes((MAGIC, VERSION, flags)) + payload
        return bytes((MAGIC, VERSION, flags | HAS_STAMP)) + _STAMP.pack(fresh_until_ms) + payload

    def decode(self, data: bytes) -> Any:
        """The value stored in data; raises DecodeError for anything unreadable."""
        if data[:3] == PLAIN_HEADER:
            payload = data[3:]  # the common case: small and uncompressed
            if len(payload) > self.max_size:
                raise DecodeError(f"value of {len(payload)} bytes is over the size limit")
        else:
            payload = self._body(data)
        if (
            len(payload) > MAX_DEPTH
            and len(heads := payload.translate(None, _NOT_NESTING)) > MAX_DEPTH
        ):
            return _unpack_checked_or_corrupt(payload, heads)
        try:  # inlined _unpack: this is the hot path of Cache.get
            return msgpack.unpackb(payload, ext_hook=_ext_hook, strict_map_key=False)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"corrupt msgpack payload ({type(exc).__name__}: {exc})") from None

    def payload(self, data: bytes) -> bytes:
        """The msgpack payload of a stored value (its header read, decompressed); raises
        DecodeError as decode does. The near cache keeps it, to unpack again on each hit."""
        if data[:3] == PLAIN_HEADER:
            if len(data) - 3 > self.max_size:
                raise DecodeError(f"value of {len(data) - 3} bytes is over the size limit")
            return data[3:]
        return self._body(data)

    def _body(self, data: bytes) -> bytes:
        """The payload of a value with a stamp or compression (see decode)."""
        if (
            len(data) < 3
            or data[0] != MAGIC
            or data[1] != VERSION
            or data[2] & _UNKNOWN
            or data[2] & 0x03 == 0x03
        ):
            read_header(data)  # raises the precise DecodeError
        flags = data[2]
        start = 3 + _STAMP.size if flags & HAS_STAMP else 3
        if len(data) < start:
            raise DecodeError("truncated header")
        if flags & 0x03 == 1 and len(data) >= start + 4:
            # lz4, the common compressed case, inlined: size check, then no copy of the body
            size = _LZ4_SIZE.unpack_from(data, start)[0]
            if size > self.max_size or size > LZ4_MAX_RATIO * (len(data) - start - 4) + 64:
                self._check_lz4(size, len(data) - start - 4)  # raises the precise error
            try:
                return lz4.block.decompress(memoryview(data)[start:])  # type: ignore[no-any-return]
            except Exception as exc:
                raise DecodeError(f"corrupt lz4 payload: {exc}") from None
        return self._decompress(Compression(flags & 0x03), data[start:])

    def decode_many(
        self, keys: Sequence[K], values: Sequence[bytes | None]
    ) -> tuple[dict[K, Any], list[tuple[K, Exception]]]:
        """Decode a multi-key reply: the values read, by key, and the keys found unreadable."""
        out: dict[K, Any] = {}
        failed: list[tuple[K, Exception]] = []
        unpackb, hook, decode = msgpack.unpackb, _ext_hook, self.decode
        limit, not_nesting, small = MAX_DEPTH, _NOT_NESTING, min(MAX_DEPTH, self.max_size)
        for key, data in zip(keys, values, strict=True):
            if data is None:
                continue
            try:
                # Small uncompressed values, the common case, are unpacked here: a call to
                # decode() per key would cost as much as the unpacking. Those that could nest
                # past the limit (see may_nest_deeper), or be too big, go through decode().
                if (
                    data[:3] == PLAIN_HEADER
                    and (len(data) <= small or len(data.translate(None, not_nesting)) <= limit)
                    and len(data) - 3 <= self.max_size
                ):
                    out[key] = unpackb(data[3:], ext_hook=hook, strict_map_key=False)
                else:
                    out[key] = decode(data)
            except DecodeError as exc:
                failed.append((key, exc))
            except Exception as exc:
                error = DecodeError(f"corrupt msgpack payload ({type(exc).__name__}: {exc})")
                failed.append((key, error))
        return out, failed

    def decode_full(self, data: bytes) -> Decoded:
        """Decode data and report its header, sizes and fresh-until stamp."""
        header = read_header(data)
        body = data[header.size :]
        payload = self._decompress(header.compression, body)
        if header.compression is Compression.NONE and len(payload) > self.max_size:
            raise DecodeError(f"value of {len(payload)} bytes is over the size limit")
        return Decoded(_unpack(payload), header, len(data), len(payload))

    def _check_lz4(self, size: int, compressed: int) -> None:
        """Refuse an lz4 block by the size it claims, before that size is allocated."""
        if size > self.max_size:
            raise DecodeError(f"lz4 payload would decompress to {size} bytes, over the limit")
        if size > LZ4_MAX_RATIO * compressed + 64:
            raise DecodeError(f"lz4 payload claims {size} bytes from {compressed}: corrupt")

    def _decompress(self, compression: Compression, body: bytes) -> bytes:
        if compression is Compression.NONE:
            return body
        if compression is Compression.LZ4:
            if len(body) < 4:
                raise DecodeError("truncated lz4 payload")
            self._check_lz4(_LZ4_SIZE.unpack_from(body)[0], len(body) - 4)
            try:
                return lz4.block.decompress(body)  # type: ignore[no-any-return]
            except Exception as exc:
                raise DecodeError(f"corrupt lz4 payload: {exc}") from None
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(body, self.max_size)
        except zlib.error as exc:
            raise DecodeError(f"corrupt zlib payload: {exc}") from None
        if inflater.unconsumed_tail:
            raise DecodeError("zlib payload would decompress past the size limit")
        if not inflater.eof:
            raise DecodeError("truncated zlib payload")
        return out


def read_header(data: bytes) -> Header:
    """Parse the header of a stored value; raises DecodeError when it is not cachectl's."""
    if not data or data[0] != MAGIC:
        raise DecodeError("not a cachectl value (no 0xC1 header)")
    if len(data) < 3:
        raise DecodeError("truncated header")
    if data[1] != VERSION:
        raise DecodeError(f"unknown cachectl format version {data[1]}")
    flags = data[2]
    try:
        compression = Compression(flags & 0x03)
        serializer = Serializer((flags >> 4) & 0x03)
    except ValueError:
        raise DecodeError(f"unknown codec flags 0x{flags:02x}") from None
    if flags & 0x4C:
        raise DecodeError(f"unknown codec flags 0x{flags:02x}")
    if flags & HAS_STAMP:
        if len(data) < 3 + _STAMP.size:
            raise DecodeError("truncated header")
        (stamp,) = _STAMP.unpack_from(data, 3)
        return Header(data[1], serializer, compression, stamp, 3 + _STAMP.size)
    return Header(data[1], serializer, compression, None, 3)


def fresh_until(data: bytes) -> int | None:
    """The fresh-until stamp of a stored value, or None (cheap: header only)."""
    if len(data) >= 11 and data[0] == MAGIC and data[2] & HAS_STAMP:
        return int(_STAMP.unpack_from(data, 3)[0])
    return None


#: Counters stay within what a double holds exactly (Redis's Lua numbers), on every backend.
MAX_COUNTER: Final = 2**53 - 1
#: msgpack integer type bytes -> the encoded length (type byte included); fixints are 1.
_INT_SIZES: Final = {0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9}


def add_to_integer(data: bytes, delta: int) -> tuple[bytes, int]:
    """A stored integer plus delta, re-encoded, and the new value (see the module docstring).

    Raises TypeError when data is not a plainly stored integer, OverflowError past MAX_COUNTER.
    """
    if len(data) < 4 or data[:3] != PLAIN_HEADER:
        raise TypeError("the stored value is not an integer the library wrote")
    first = data[3]
    size = 1 if first <= 0x7F or first >= 0xE0 else _INT_SIZES.get(first)
    if size is None or len(data) != 3 + size:
        raise TypeError("the stored value is not an integer")
    value = int(msgpack.unpackb(data[3:])) + delta
    if abs(value) > MAX_COUNTER:
        raise OverflowError(f"a counter stays within +/-{MAX_COUNTER}")
    return PLAIN_HEADER + msgpack.packb(value), value
