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
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any, Final, TypeVar
from uuid import UUID

import lz4.block
import msgpack

from cachectl.errors import DecodeError, SerializationError

K = TypeVar("K", bound=Hashable)

MAGIC: Final = 0xC1
VERSION: Final = 1
HAS_STAMP: Final = 0x80
_STAMP = struct.Struct(">Q")
_LZ4_SIZE = struct.Struct("<I")
PLAIN_HEADER: Final = bytes((MAGIC, VERSION, 0))
_UNKNOWN: Final = 0x7C  # flag bits this version does not define (only msgpack, serializer 0)


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


def _default(obj: Any) -> Any:
    # strict_types sends tuples and subclasses here; plain containers go back as themselves.
    if isinstance(obj, tuple):
        return msgpack.ExtType(_EXT_TUPLE, _pack(list(obj)))
    if isinstance(obj, dt.datetime):
        return msgpack.ExtType(_EXT_DATETIME, obj.isoformat().encode())
    if isinstance(obj, dt.date):
        return msgpack.ExtType(_EXT_DATE, obj.isoformat().encode())
    if isinstance(obj, dt.time):
        return msgpack.ExtType(_EXT_TIME, obj.isoformat().encode())
    if isinstance(obj, dt.timedelta):
        return msgpack.ExtType(_EXT_TIMEDELTA, _pack([obj.days, obj.seconds, obj.microseconds]))
    if isinstance(obj, UUID):
        return msgpack.ExtType(_EXT_UUID, obj.bytes)
    if isinstance(obj, Decimal):
        return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode())
    if isinstance(obj, frozenset):
        return msgpack.ExtType(_EXT_FROZENSET, _pack(list(obj)))
    if isinstance(obj, set):
        return msgpack.ExtType(_EXT_SET, _pack(list(obj)))
    if isinstance(obj, bool):
        return bool(obj)
    for base in (int, float, str, bytes, dict, list):
        if isinstance(obj, base):
            return base(obj)  # type: ignore[arg-type]
    raise SerializationError(f"cannot cache a value of type {type(obj).__qualname__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_TUPLE:
        return tuple(_unpack(data))
    if code == _EXT_DATETIME:
        return dt.datetime.fromisoformat(data.decode())
    if code == _EXT_DATE:
        return dt.date.fromisoformat(data.decode())
    if code == _EXT_TIME:
        return dt.time.fromisoformat(data.decode())
    if code == _EXT_TIMEDELTA:
        days, seconds, micros = _unpack(data)
        return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    if code == _EXT_UUID:
        return UUID(bytes=data)
    if code == _EXT_DECIMAL:
        return Decimal(data.decode())
    if code == _EXT_SET:
        return set(_unpack(data))
    if code == _EXT_FROZENSET:
        return frozenset(_unpack(data))
    raise DecodeError(f"unknown msgpack extension type {code}")


def _pack(value: Any) -> bytes:
    try:
        return msgpack.packb(value, default=_default, use_bin_type=True, strict_types=True)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(f"cannot cache this value: {exc}") from None


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False, use_list=True)


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
        max_size: int = 64 * 1024 * 1024,
    ) -> None:
        self.threshold = threshold
        self.compression = (
            Compression[compression.upper()] if isinstance(compression, str) else compression
        )
        if self.compression is Compression.NONE:
            raise ValueError("compression is 'lz4' or 'zlib'; set threshold to disable it")
        self.max_size = max_size

    def encode(self, value: Any, fresh_until_ms: int | None = None) -> bytes:
        """Encode a value; payloads above the threshold are compressed."""
        payload = _pack(value)
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
        else:
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
                if _LZ4_SIZE.unpack_from(data, start)[0] > self.max_size:
                    raise DecodeError("lz4 payload would decompress past the size limit")
                try:
                    payload = lz4.block.decompress(memoryview(data)[start:])
                except Exception as exc:
                    raise DecodeError(f"corrupt lz4 payload: {exc}") from None
            else:
                payload = self._decompress(Compression(flags & 0x03), data[start:])
        try:
            return msgpack.unpackb(payload, ext_hook=_ext_hook, strict_map_key=False)
        except Exception as exc:
            raise DecodeError(f"corrupt msgpack payload ({type(exc).__name__}: {exc})") from None

    def decode_many(
        self, keys: Sequence[K], values: Sequence[bytes | None]
    ) -> tuple[dict[K, Any], list[tuple[K, Exception]]]:
        """Decode a multi-key reply: the values read, by key, and the keys found unreadable."""
        out: dict[K, Any] = {}
        failed: list[tuple[K, Exception]] = []
        unpackb, hook, decode = msgpack.unpackb, _ext_hook, self.decode
        for key, data in zip(keys, values, strict=True):
            if data is None:
                continue
            try:
                # Small uncompressed values, the common case, are unpacked here: a call to
                # decode() per key would cost as much as the unpacking.
                if data[:3] == PLAIN_HEADER:
                    out[key] = unpackb(data[3:], ext_hook=hook, strict_map_key=False)
                else:
                    out[key] = decode(data)
            except Exception as exc:
                failed.append((key, exc))
        return out, failed

    def decode_full(self, data: bytes) -> Decoded:
        """Decode data and report its header, sizes and fresh-until stamp."""
        header = read_header(data)
        body = data[header.size :]
        payload = self._decompress(header.compression, body)
        try:
            value = _unpack(payload)
        except Exception as exc:
            raise DecodeError(f"corrupt msgpack payload ({type(exc).__name__}: {exc})") from None
        return Decoded(value, header, len(data), len(payload))

    def _decompress(self, compression: Compression, body: bytes) -> bytes:
        if compression is Compression.NONE:
            return body
        if compression is Compression.LZ4:
            if len(body) < 4:
                raise DecodeError("truncated lz4 payload")
            (size,) = _LZ4_SIZE.unpack_from(body)
            if size > self.max_size:
                raise DecodeError(f"lz4 payload would decompress to {size} bytes, over the limit")
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
    if len(data) < 3 or data[0] != MAGIC:
        raise DecodeError("not a cachectl value (no 0xC1 header)")
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
