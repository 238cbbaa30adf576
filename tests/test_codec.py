"""The stored-value format: types round-trip exactly, compression, and unreadable bytes."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import struct
import zlib
from decimal import Decimal
from typing import Any
from uuid import UUID

import lz4.block
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachectl import Compression, DecodeError, SerializationError
from cachectl.codec import MAGIC, MAX_DEPTH, VERSION, Codec, fresh_until, read_header

pytestmark = pytest.mark.usefixtures("watchdog")

UTC_PLUS_2 = dt.timezone(dt.timedelta(hours=2), "CEST")


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down (1 == 1.0 == True is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            any(same(ka, kb) and same(va, b[kb]) for kb in b) for ka, va in a.items()
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dt.datetime):
        # Naive stays naive; aware keeps its offset.
        return (
            a == b and (a.tzinfo is None) == (b.tzinfo is None) and (a.utcoffset() == b.utcoffset())
        )
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


VALUES = [
    pytest.param(None, id="none"),
    pytest.param(True, id="bool"),
    pytest.param(0, id="zero"),
    pytest.param(-(2**63), id="int64-min"),
    pytest.param(2**64 - 1, id="uint64-max"),
    pytest.param(1.5, id="float"),
    pytest.param("", id="empty-str"),
    pytest.param("héllo ✓", id="unicode"),
    pytest.param(b"\x00\xff\xc1 raw", id="bytes"),
    pytest.param(dt.datetime(2024, 2, 29, 23, 59, 58, 123456), id="datetime-naive"),
    pytest.param(dt.datetime(2024, 2, 29, 23, 59, tzinfo=dt.UTC), id="datetime-utc"),
    pytest.param(dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC_PLUS_2), id="datetime-offset"),
    pytest.param(dt.date(1999, 12, 31), id="date"),
    pytest.param(UUID("12345678-1234-5678-1234-567812345678"), id="uuid"),
    pytest.param(Decimal("1.10"), id="decimal-keeps-exponent"),
    pytest.param(Decimal("-1E+30"), id="decimal-big"),
    pytest.param({1, 2, 3}, id="set"),
    pytest.param(set(), id="empty-set"),
    pytest.param(frozenset({"a", "b"}), id="frozenset"),
    pytest.param((1, "a", b"b"), id="tuple"),
    pytest.param((), id="empty-tuple"),
    pytest.param((1, (2, (3, (4,))), [5, (6,)]), id="nested-tuples"),
    pytest.param([(1, 2), [3, (4, 5)]], id="tuples-in-lists"),
    pytest.param({"when": dt.date(2024, 1, 1), "ids": {UUID(int=1)}}, id="dict-of-ext"),
    pytest.param({(1, 2): "tuple key", 3: "int key"}, id="non-str-keys"),
    pytest.param(frozenset({(1, 2), (3, 4)}), id="frozenset-of-tuples"),
    pytest.param(dt.time(12, 30, 1, 5), id="time"),
    pytest.param(dt.timedelta(days=-1, seconds=5, microseconds=7), id="timedelta"),
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("compression", ["lz4", "zlib"])
@pytest.mark.parametrize("threshold", [0, 1024], ids=["compressed", "plain"])
def test_value_round_trips_to_the_same_type(value: Any, compression: str, threshold: int) -> None:
    codec = Codec(threshold, compression)
    decoded = codec.decode(codec.encode(value))
    assert same(decoded, value), (decoded, value)


def test_aware_datetime_keeps_its_offset_and_naive_stays_naive() -> None:
    codec = Codec()
    aware = codec.decode(codec.encode(dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC_PLUS_2)))
    naive = codec.decode(codec.encode(dt.datetime(2024, 7, 1, 8, 0)))
    assert aware.utcoffset() == dt.timedelta(hours=2)
    assert naive.tzinfo is None


msgpack_int = st.integers(min_value=-(2**63), max_value=2**64 - 1)
json_like = st.recursive(
    st.none()
    | st.booleans()
    | msgpack_int
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.datetimes(timezones=st.none() | st.just(dt.UTC))
    | st.dates()
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        | st.frozensets(msgpack_int | st.text(max_size=5), max_size=4)
        | st.sets(msgpack_int | st.text(max_size=5), max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(value=json_like, threshold=st.sampled_from([0, 64, 1024]))
def test_round_trip_property(value: Any, threshold: int) -> None:
    codec = Codec(threshold, "lz4")
    assert same(codec.decode(codec.encode(value)), value)


# -- header and compression ---------------------------------------------------------------------


def test_header_is_magic_version_flags() -> None:
    data = Codec().encode("small")
    assert data[:3] == bytes((MAGIC, VERSION, 0))
    assert msgpack.unpackb(data[3:]) == "small"


@pytest.mark.parametrize(
    ("compression", "flag"), [("lz4", Compression.LZ4), ("zlib", Compression.ZLIB)]
)
def test_payload_above_the_threshold_is_compressed(compression: str, flag: Compression) -> None:
    codec = Codec(100, compression)
    value = "abc" * 1000
    data = codec.encode(value)
    assert data[2] & 0x03 == flag
    assert len(data) < len(msgpack.packb(value))
    assert codec.decode(data) == value
    assert read_header(data).compression is flag


def test_lz4_is_the_default_compression() -> None:
    assert Codec(10).encode("x" * 500)[2] & 0x03 == Compression.LZ4


def test_payload_at_or_below_the_threshold_is_not_compressed() -> None:
    value = "y" * 50
    threshold = len(msgpack.packb(value))
    assert Codec(threshold).encode(value)[2] == 0
    assert Codec(threshold - 1).encode(value)[2] & 0x03 == Compression.LZ4


def test_incompressible_payload_is_stored_plain() -> None:
    value = random.Random(0).randbytes(600)
    data = Codec(10).encode(value)
    assert data[2] & 0x03 == Compression.NONE
    assert Codec(10).decode(data) == value


def test_fresh_until_stamp_round_trips() -> None:
    codec = Codec(10)
    for value in ("tiny", "z" * 5000):
        data = codec.encode(value, fresh_until_ms=1_700_000_000_123)
        assert fresh_until(data) == 1_700_000_000_123
        assert codec.decode(data) == value
    assert fresh_until(codec.encode("tiny")) is None


# -- no pickle: unsupported values are refused ---------------------------------------------------


class Custom:
    pass


@pytest.mark.parametrize(
    "value",
    [Custom(), object(), {1: Custom()}, [lambda: 1], (1, Custom())],
    ids=["instance", "object", "in-dict", "function-in-list", "in-tuple"],
)
def test_values_msgpack_cannot_store_raise_serialization_error(value: Any) -> None:
    with pytest.raises(SerializationError):
        Codec().encode(value)


def test_serialization_error_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Codec().encode(Custom())


# -- unreadable stored bytes --------------------------------------------------------------------


def _plain(payload: bytes) -> bytes:
    return bytes((MAGIC, VERSION, 0)) + payload


def _zlib_bomb(size: int) -> bytes:
    return bytes((MAGIC, VERSION, Compression.ZLIB)) + zlib.compress(msgpack.packb("x" * size))


def _lz4_bomb(size: int) -> bytes:
    body = lz4.block.compress(msgpack.packb("x" * size), store_size=True)
    return bytes((MAGIC, VERSION, Compression.LZ4)) + body


def _lz4_lying_size() -> bytes:
    body = lz4.block.compress(msgpack.packb("x" * 5000), store_size=False)
    return bytes((MAGIC, VERSION, Compression.LZ4)) + struct.pack("<I", 16) + body


UNREADABLE = {
    "empty": b"",
    "foreign-msgpack": msgpack.packb({"a": 1}),
    "pickle": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.",
    "json": b'{"a": 1}',
    "header-only-truncated": bytes((MAGIC, VERSION)),
    "unknown-version": bytes((MAGIC, 9, 0)) + msgpack.packb(1),
    "unknown-serializer": bytes((MAGIC, VERSION, 0x10)) + msgpack.packb(1),
    "unknown-flag-bits": bytes((MAGIC, VERSION, 0x04)) + msgpack.packb(1),
    "unknown-compression": bytes((MAGIC, VERSION, 0x03)) + msgpack.packb(1),
    "truncated-stamp": bytes((MAGIC, VERSION, 0x80, 1, 2, 3)),
    "truncated-msgpack": _plain(msgpack.packb("hello world")[:-3]),
    "trailing-garbage": _plain(msgpack.packb(1) + b"zz"),
    "bad-uuid-ext": _plain(msgpack.packb(msgpack.ExtType(3, b"short"))),
    "bad-datetime-ext": _plain(msgpack.packb(msgpack.ExtType(1, b"not a date"))),
    "bad-decimal-ext": _plain(msgpack.packb(msgpack.ExtType(4, b"\xff"))),
    "truncated-lz4": Codec(10, "lz4").encode("abc" * 500)[:-5],
    "truncated-zlib": Codec(10, "zlib").encode("abc" * 500)[:-5],
    "lz4-too-short": bytes((MAGIC, VERSION, Compression.LZ4, 1, 2)),
    "corrupt-zlib": bytes((MAGIC, VERSION, Compression.ZLIB)) + b"not zlib at all",
    "lz4-lying-size": _lz4_lying_size(),
    "zlib-bomb": _zlib_bomb(200_000),
    "lz4-bomb": _lz4_bomb(200_000),
}


@pytest.mark.parametrize("data", list(UNREADABLE.values()), ids=list(UNREADABLE))
def test_unreadable_bytes_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        Codec(max_size=100_000).decode(data)


@pytest.mark.parametrize("compression", ["lz4", "zlib"])
def test_decompressed_size_limit_is_inclusive(compression: str) -> None:
    value = "q" * 5000
    size = len(msgpack.packb(value))
    data = Codec(10, compression).encode(value)
    assert Codec(max_size=size).decode(data) == value
    with pytest.raises(DecodeError):
        Codec(max_size=size - 1).decode(data)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        Codec(max_size=10_000).decode(data)


@settings(max_examples=100, deadline=None)
@given(value=st.text(min_size=200, max_size=400), cut=st.integers(min_value=1, max_value=50))
def test_truncated_value_is_never_misread(value: str, cut: int) -> None:
    for compression in ("lz4", "zlib"):
        data = Codec(10, compression).encode(value)
        with pytest.raises(DecodeError):
            Codec().decode(data[:-cut])


# -- nesting and allocation limits ---------------------------------------------------------------


def _nested(kind: str, depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        this = ["list", "tuple", "dict"][level % 3] if kind == "mixed" else kind
        if this == "list":
            value = [value]
        elif this == "tuple":
            value = (value,)
        elif this == "dict":
            value = {"k": value}
        else:
            value = frozenset([value])
    return value


KINDS = ["list", "tuple", "dict", "frozenset", "mixed"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("compression", ["lz4", "zlib"])
def test_nesting_up_to_the_limit_round_trips(kind: str, compression: str) -> None:
    value = _nested(kind, MAX_DEPTH)
    for threshold in (0, 10**9):
        codec = Codec(threshold, compression)
        assert codec.decode(codec.encode(value)) == value
        assert codec.decode_many(["k"], [codec.encode(value)]) == ({"k": value}, [])
        assert codec.decode_full(codec.encode(value)).value == value


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 600, 100_000])
def test_nesting_past_the_limit_is_refused_on_write(kind: str, depth: int) -> None:
    with pytest.raises(SerializationError):
        Codec().encode(_nested(kind, depth))


def test_nesting_in_a_dict_subclass_is_counted() -> None:
    from collections import OrderedDict

    value: Any = 1
    for _ in range(MAX_DEPTH + 1):
        value = OrderedDict(k=value)
    with pytest.raises(SerializationError):
        Codec().encode(value)


@pytest.mark.parametrize("kind", KINDS)
def test_nesting_past_the_limit_is_a_decode_error_on_read(kind: str) -> None:
    # Written as another writer without the limit would: the same format, one level more.
    inner = Codec(10**9).encode(_nested(kind, MAX_DEPTH))[3:]
    data = bytes((MAGIC, VERSION, 0)) + b"\x91" + inner
    with pytest.raises(DecodeError, match="nested deeper"):
        Codec().decode(data)
    with pytest.raises(DecodeError, match="nested deeper"):
        Codec().decode_full(data)
    found, failed = Codec().decode_many(["k"], [data])
    assert found == {}
    assert [(key, type(exc)) for key, exc in failed] == [("k", DecodeError)]


def test_lz4_size_claim_past_what_lz4_can_expand_is_refused() -> None:
    claim = 200 * 1024  # within max_size, but not from 100 bytes
    data = bytes((MAGIC, VERSION, Compression.LZ4)) + struct.pack("<I", claim) + bytes(100)
    with pytest.raises(DecodeError, match="claims"):
        Codec(max_size=1 << 20).decode(data)
    with pytest.raises(DecodeError, match="claims"):
        Codec(max_size=1 << 20).decode_full(data)


def test_plain_value_over_max_size_is_a_decode_error() -> None:
    data = Codec(10**9).encode("x" * 2000)
    with pytest.raises(DecodeError):
        Codec(max_size=1000).decode(data)
    assert Codec(max_size=1000).decode_many(["k"], [data])[0] == {}


def test_default_max_value_size_is_8_mib() -> None:
    from cachectl.config import CacheConfig

    assert Codec().max_size == CacheConfig().max_value_size == 8 * 1024 * 1024


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((max(_depth(k), _depth(v)) for k, v in value.items()), default=0)
    if isinstance(value, list | tuple | frozenset):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _pack_unbounded(value: Any) -> bytes:
    """msgpack as a writer without cachectl's limit would produce it."""

    def default(obj: Any) -> Any:
        if isinstance(obj, tuple):
            return msgpack.ExtType(6, _pack_unbounded(list(obj)))
        if isinstance(obj, frozenset):
            return msgpack.ExtType(7, _pack_unbounded(list(obj)))
        raise TypeError(obj)

    return msgpack.packb(value, default=default, strict_types=True)  # type: ignore[no-any-return]


@st.composite
def nested_values(draw: st.DrawFn) -> Any:
    """A chain of random containers, 90 to 110 deep, with random siblings along the way."""
    value: Any = draw(st.integers(0, 9))
    for _ in range(draw(st.integers(90, 110))):
        kind = draw(st.sampled_from(["list", "tuple", "dict", "frozenset"]))
        siblings = draw(st.lists(st.integers(0, 9) | st.just((1, 2)), max_size=3))
        if kind == "list":
            value = [*siblings, value]
        elif kind == "dict":
            value = {str(i): s for i, s in enumerate(siblings)} | {"v": value}
        elif kind == "tuple":
            value = (*siblings, value)
        else:
            try:
                value = frozenset([*siblings, value])
            except TypeError:  # a dict inside: not hashable
                value = (value,)
    return value


# 60 examples: each draws a chain of about 100 containers (~10 s on a busy 2-core machine,
# within the watchdog); the depth bound is exact at 90..110 whatever the number.
@settings(max_examples=60, deadline=None)
@given(value=nested_values(), compressed=st.booleans())
def test_the_limit_is_exact_on_write_and_read(value: Any, compressed: bool) -> None:
    fits = _depth(value) <= MAX_DEPTH
    codec = Codec(0 if compressed else 10**9)
    try:
        stored = codec.encode(value)
        assert fits
    except SerializationError:
        assert not fits
    data = bytes((MAGIC, VERSION, 0)) + _pack_unbounded(value)
    try:
        assert codec.decode(data) == value
        assert codec.decode_full(data).value == value
        assert fits
    except DecodeError:
        assert not fits
    assert ("k" in codec.decode_many(["k"], [data])[0]) == fits
    if fits:
        assert codec.decode(stored) == value


@pytest.mark.parametrize("data", [b"\xc1", b"\xc1\x01"])
def test_a_header_cut_short_is_named_so(data: bytes) -> None:
    from cachectl.codec import read_header

    with pytest.raises(DecodeError, match="truncated header"):
        read_header(data)
