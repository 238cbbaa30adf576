"""Decoding stored values without Redis (ops.sniff, ops.decode, ops.preview): cachectl's
format and foreign layers, named, peeled, read and clipped."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import pickle
import sys
import zlib
from decimal import Decimal
from uuid import UUID

import lz4.frame
import msgpack
import pytest

from cachectl.codec import Codec
from cachectl.errors import DecodeError
from cachectl.ops.decode import decode, peel
from cachectl.ops.preview import clip, hexdump, jsonable
from cachectl.ops.sniff import CODEC_SAMPLE, describe_head, layer_of

LIMIT = 1 << 20


def test_cachectl_value_with_compression_and_ratio() -> None:
    value = {"rows": ["x" * 100] * 50}
    stored = Codec(threshold=64).encode(value)
    encoding, decoded = decode(stored, LIMIT)
    assert decoded == value
    assert (encoding.format, encoding.serializer, encoding.compression) == (
        "cachectl",
        "msgpack",
        "lz4",
    )
    assert encoding.stored_size == len(stored)
    assert encoding.ratio is not None and encoding.ratio > 10


def test_cachectl_value_keeps_python_types() -> None:
    value = {"at": dt.datetime(2024, 1, 2, 3, 4), "id": UUID(int=5), "n": Decimal("1.5")}
    encoding, decoded = decode(Codec().encode(value, fresh_until_ms=1234), LIMIT)
    assert decoded == value
    assert encoding.fresh_until_ms == 1234
    assert encoding.ratio is None


def test_corrupt_cachectl_value_raises() -> None:
    stored = Codec(threshold=1).encode(list(range(100)))
    with pytest.raises(DecodeError):
        decode(stored[:-5], LIMIT)


@pytest.mark.parametrize(
    ("stored", "layers", "serializer"),
    [
        (gzip.compress(b'{"a": 1}', mtime=0), "gzip", "json"),
        (zlib.compress(msgpack.packb({"a": 1})), "zlib", "msgpack"),
        (lz4.frame.compress(b"plain words"), "lz4-frame", "text"),
        (gzip.compress(zlib.compress(b'["nested"]'), mtime=0), "gzip+zlib", "json"),
        (b'{"a": 1}', "none", "json"),
        (b"12.5", "none", "json"),
        (msgpack.packb([1, 2, 3]), "none", "msgpack"),
        (b"hello world", "none", "text"),
        (b"x^2 is not zlib", "none", "text"),
        (bytes(range(0x80, 0x90)) + b"\x00", "none", "binary"),
    ],
)
def test_foreign_layers(stored: bytes, layers: str, serializer: str) -> None:
    encoding, _value = decode(stored, LIMIT)
    assert (encoding.format, encoding.compression, encoding.serializer) == (
        "foreign",
        layers,
        serializer,
    )


def test_foreign_values_decoded_as_far_as_they_go() -> None:
    _, value = decode(gzip.compress(json.dumps({"k": [1, 2]}).encode()), LIMIT)
    assert value == {"k": [1, 2]}
    _, value = decode(zlib.compress(msgpack.packb({"m": b"\x00"})), LIMIT)
    assert value == {"m": b"\x00"}


def test_zstd_without_the_module_is_named_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as if it were not installed
    stored = b"\x28\xb5\x2f\xfd" + b"\x00" * 8
    encoding, value = decode(stored, LIMIT)
    assert encoding.compression == "zstd (not decoded)"
    assert value == stored


def test_truncated_layer_is_corrupt() -> None:
    with pytest.raises(DecodeError, match="gzip"):
        decode(gzip.compress(b"x" * 1000)[:20], LIMIT)
    with pytest.raises(DecodeError, match="lz4-frame"):
        decode(lz4.frame.compress(b"y" * 1000)[:12], LIMIT)


def test_decompression_is_bounded() -> None:
    bomb = gzip.compress(b"\x00" * 100_000)
    with pytest.raises(DecodeError, match="past"):
        peel(bomb, 1000)


def test_layer_magic() -> None:
    assert layer_of(b"\x1f\x8b\x08") == "gzip"
    assert layer_of(b"\x28\xb5\x2f\xfd") == "zstd"
    assert layer_of(b"\x04\x22\x4d\x18") == "lz4-frame"
    assert layer_of(zlib.compress(b"a")) == "zlib"
    assert layer_of(b"xyz") is None


def test_describe_head() -> None:
    assert describe_head(Codec().encode(1)[:11]) == "msgpack"
    assert describe_head(Codec(threshold=1).encode("a" * 100)[:11]) == "msgpack+lz4"
    assert describe_head(b"\xc1\x09\x00") == "cachectl (bad header)"
    assert describe_head(gzip.compress(b"a")[:11]) == "gzip"
    assert describe_head(b"hello") == "text"


@pytest.mark.parametrize(
    ("stored", "serializer"),
    [
        (b'{"a": [1, 2]}', "json"),
        (b"  [1]", "json"),
        (b"-12.5e3", "json"),
        (b"12 apples", "text"),
        ("héllo wörld".encode(), "text"),
        (msgpack.packb({"a": 1}), "msgpack"),
        (msgpack.packb([1, 2, 3]), "msgpack"),
        (pickle.dumps({"a": 1}, protocol=2), "pickle"),
        (pickle.dumps({"a": 1}, protocol=5), "pickle"),
        (b"\x00\x01\xfe\xff binary", "binary"),
    ],
)
def test_keys_and_inspect_name_a_foreign_value_alike(stored: bytes, serializer: str) -> None:
    # keys reads a sample of a value's first bytes (GETRANGE); inspect the whole value.
    encoding, _ = decode(stored, LIMIT)
    assert encoding.serializer == serializer
    assert describe_head(stored[:CODEC_SAMPLE]) == serializer
    assert describe_head(stored) == serializer


def test_pickle_is_shown_never_loaded() -> None:
    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("unpickled!",))

    stored = pickle.dumps(Boom(), protocol=4)
    encoding, value = decode(stored, LIMIT)
    assert encoding.serializer == "pickle"
    assert value == stored


def test_jsonable() -> None:
    value = {
        "bytes": b"\xff\x00",
        "text": b"ok",
        "set": {3, 1},
        "tuple": (1, 2),
        "at": dt.date(2024, 5, 6),
        "d": Decimal("2.50"),
        "nan": float("nan"),
        1: "int key",
    }
    out = jsonable(value)
    json.dumps(out)
    assert out["bytes"] == {"$hex": "ff00"}
    assert out["text"] == "ok"
    assert out["set"] == [1, 3]
    assert out["at"] == "2024-05-06"
    assert out["d"] == "2.50"
    assert out["nan"] == "nan"
    assert out["1"] == "int key"


def test_hexdump() -> None:
    dump = hexdump(b"\xc1\x01\x00abc" + bytes(20), limit=16)
    first, second = dump.splitlines()
    assert first.startswith("00000000  c1 01 00 61 62 63")
    assert first.endswith("|...abc..........|")
    assert second == "... 10 more bytes"
    assert hexdump(bytes(10), 0, total=12_345) == "... 12,345 more bytes"


@pytest.mark.parametrize(
    "stored",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 101 + b"1" + b"}" * 101,
        gzip.compress(b"[" * 101 + b"]" * 101),
        b"\x91" * 101 + b"\x01",
        b"\x81\x01" * 3000 + b"\x01",
    ],
    ids=["json-array", "json-object", "gzip-json", "msgpack-array", "msgpack-map"],
)
def test_foreign_value_nested_past_the_limit_is_a_decode_error(stored: bytes) -> None:
    with pytest.raises(DecodeError, match="nested deeper"):
        decode(stored, LIMIT)


def test_foreign_value_at_the_limit_decodes() -> None:
    _, value = decode(b"[" * 100 + b"]" * 100, LIMIT)
    assert isinstance(value, list)
    _, text = decode(b'"[[[[" ' + b"[" * 3 + b"]" * 3, LIMIT)  # brackets inside a string
    assert text is not None


def test_clip_bounds_strings_and_collections() -> None:
    value = {"rows": list(range(1000)), "b": b"\x00" * 50, "s": "x" * 10_000}
    shown, left_out = clip(value, 100)
    assert shown["rows"][:3] == [0, 1, 2] and shown["rows"][-1] == "... 800 more items"
    assert shown["b"] == b"\x00" * 50
    assert shown["s"] == "x" * 50 + "... 9,950 more characters"
    assert left_out == {"items": 800, "characters": 9950}  # each unit counted apart
    whole, left = clip(value, 0)  # no byte budget; still at most 200 items of a list
    assert whole["s"] == value["s"] and whole["rows"][-1] == "... 800 more items"
    assert left == {"items": 800}


def test_clip_stops_a_list_where_the_budget_is_spent() -> None:
    shown, left_out = clip(["y" * 1000] * 5000, 4096)
    assert len(shown) == 6 and shown[4] == "y" * 96 + "... 904 more characters"
    assert shown[-1] == "... 4,995 more items" and repr(shown[-1]) == "... 4,995 more items"
    assert left_out == {"items": 4995, "characters": 904}


def test_hexdump_of_a_prefix_names_the_rest() -> None:
    dump = hexdump(b"\x00" * 32, 32, total=1_000_000)
    assert dump.splitlines()[-1] == "... 999,968 more bytes"
    assert len(dump.splitlines()) == 3
