"""`keys` and `inspect` name every stored value's codec alike (issue 10: "the codec column
says foreign where inspect says json"), and `inspect` reads a value as what it names it.

Both name a value with one function (ops.sniff.describe_head) of the same bytes: the first
CODEC_SAMPLE of the value, which `keys` reads with GETRANGE and `inspect` cuts from its GET.
"""

from __future__ import annotations

import gzip
import json
import pickle
import random
import struct
import zlib
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachectl.cache import Cache
from cachectl.codec import Codec
from cachectl.ops.sniff import CODEC_SAMPLE, describe_head
from tests.plugins.cli import CLI_NAMESPACE, CliResult

Run = Callable[..., CliResult]

#: A PNG's real start: signature, then the IHDR chunk of a 640x480 RGBA image.
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + struct.pack(">I", 13)
    + b"IHDR"
    + struct.pack(">IIBBBBB", 640, 480, 8, 6, 0, 0, 0)
    + b"\x00\x00\x00\x00"
)


def _noise(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _corpus() -> dict[str, bytes]:
    """Foreign values of every kind, short (seen whole) and long (named from a sample)."""
    doc = {"user": {"id": 7, "name": "Zoë", "tags": ["a", "b"] * 50}, "ok": True}
    text = "plain words, ünïcode too. " * 100
    return {
        "png-small": PNG,
        "png-big": PNG + _noise(1, 20_000),
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + _noise(2, 5000),
        "gif": b"GIF89a" + _noise(3, 3000),
        "noise-small": _noise(4, 200),
        "noise-big": _noise(5, 50_000),
        "json-small": json.dumps({"a": [1, 2]}).encode(),
        "json-big": json.dumps(doc).encode(),
        "json-number": b"12345",  # what INCR leaves
        "json-broken": b'{"a": [1, 2',
        "json-broken-late": json.dumps(doc).encode()[:-1],
        "pickle-2": pickle.dumps({"a": 1}, protocol=2),
        "pickle-5": pickle.dumps(list(range(1000)), protocol=5),
        "text-small": b"hello world",
        "text-big": text.encode(),
        "text-bad-late": text.encode() + b"\xff\xfe tail",
        "text-cut-char": "héllo".encode()[:2],
        "zlib-magic-text": b"x^ marks the spot",
        "msgpack-small": msgpack.packb({"a": 1, "b": [1, 2, 3]}),
        "msgpack-big": msgpack.packb({"rows": [{"id": i, "n": "x" * 20} for i in range(200)]}),
        "gzip-json": gzip.compress(json.dumps(doc).encode()),
        "zlib-json": zlib.compress(json.dumps(doc).encode()),
        "gzip-truncated": gzip.compress(text.encode())[:40],
        "empty": b"",
        "bad-cachectl-header": b"\xc1\x09\x00payload",
        "cachectl-zlib": Codec(threshold=1, compression="zlib").encode(doc),
        "cachectl-corrupt-lz4": Codec(threshold=1).encode(doc)[:20],
    }


def _keys_codecs(run: Callable[..., CliResult]) -> dict[str, str]:
    result = run("keys", "--json", "--limit", "1000")
    assert result.exit_code == 0, result.stderr
    return {row["key"]: row["codec"] for row in result.json()["keys"]}


def _check_inspect(doc: dict[str, Any], codec: str) -> None:
    """inspect's document names the codec as keys does, and reads the value as named."""
    assert doc["codec"] == codec, doc
    encoding = doc.get("encoding")
    if encoding is None or "error" in doc or doc["type"] != "string":
        return
    if encoding["format"] == "cachectl":
        parts = [encoding["serializer"]]
        if encoding["compression"] != "none":
            parts.append(encoding["compression"])
        assert "+".join(parts) == codec
    elif encoding["compression"] == "none":
        assert encoding["serializer"] == codec
    else:
        # A layer whose module is missing (zstandard) is named, with "(not decoded)".
        assert encoding["compression"].split("+")[0].removesuffix(" (not decoded)") == codec


# No watchdog: some thirty runs of the script, each with its own timeout as the hang guard.
def test_keys_and_inspect_agree_through_the_console_script(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    corpus = _corpus()
    for name, data in corpus.items():
        raw_redis.set(f"{CLI_NAMESPACE}:{name}", data)
    raw_redis.hset(f"{CLI_NAMESPACE}:a-hash", "f", "v")
    with Cache(redis_url, namespace=CLI_NAMESPACE, stats=False) as cache:
        cache.set("cachectl-int", 41)
        cache.incr("cachectl-int")  # a counter
        cache.set("cachectl-dict", {"a": [1, 2]})
        cache.set("cachectl-big", {"rows": ["word " * 20] * 200})  # compressed (lz4)

    def run(*args: str) -> CliResult:
        return run_script("--url", redis_url, "--namespace", CLI_NAMESPACE, *args, timeout=120)

    codecs = _keys_codecs(run)
    assert set(codecs) == {*corpus, "a-hash", "cachectl-int", "cachectl-dict", "cachectl-big"}
    for key, codec in codecs.items():
        inspected = run("inspect", key, "--json")
        assert inspected.exit_code in (0, 1), inspected.stderr
        _check_inspect(inspected.json(), codec)
    # The values the issue names, named for what they are.
    assert codecs["png-small"] == codecs["png-big"] == "binary"
    assert codecs["jpeg"] == codecs["gif"] == codecs["noise-small"] == "binary"
    assert codecs["json-small"] == codecs["json-big"] == codecs["json-number"] == "json"
    assert codecs["json-broken"] == "text"  # seen whole: not JSON
    assert codecs["pickle-2"] == codecs["pickle-5"] == "pickle"
    assert codecs["text-small"] == codecs["text-big"] == codecs["zlib-magic-text"] == "text"
    assert codecs["msgpack-small"] == codecs["msgpack-big"] == "msgpack"
    assert codecs["gzip-json"] == "gzip" and codecs["zlib-json"] == "zlib"
    assert codecs["cachectl-int"] == codecs["cachectl-dict"] == "msgpack"
    assert codecs["cachectl-big"] == "msgpack+lz4" and codecs["cachectl-zlib"] == "msgpack+zlib"
    assert codecs["a-hash"] == "-"
    # Read as named: JSON as a tree, text as text, a PNG as bytes.
    doc = run("inspect", "json-big", "--json").json()
    assert doc["encoding"]["serializer"] == "json" and doc["value"]["ok"] is True
    assert run("inspect", "zlib-magic-text", "--json").json()["value"] == "x^ marks the spot"


# -- any bytes --------------------------------------------------------------------------------


def _values() -> st.SearchStrategy[bytes]:
    leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats()
    leaves = leaves | st.text(max_size=40)
    tree = st.recursive(
        leaves,
        lambda kids: st.lists(kids, max_size=6) | st.dictionaries(st.text(), kids),
        max_leaves=20,
    )
    structured = st.one_of(
        tree.map(lambda v: json.dumps(v).encode()),
        tree.map(lambda v: msgpack.packb(v)),
        tree.map(lambda v: pickle.dumps(v, protocol=4)),
        tree.map(lambda v: Codec(threshold=64).encode(v)),
        st.text(max_size=3000).map(str.encode),
        st.sampled_from([PNG, b"\xff\xd8\xff\xe0", b"\x1f\x8b\x08", b"x^", b"\x80\x04"]).flatmap(
            lambda magic: st.binary(max_size=3000).map(lambda rest: magic + rest)
        ),
    )
    # Cut anywhere, around the sample's edge above all; and plain noise.
    edge = st.integers(CODEC_SAMPLE - 3, CODEC_SAMPLE + 3) | st.integers(0, 4000)
    cut = st.tuples(structured, edge).map(lambda pair: pair[0][: pair[1]])
    padded = st.tuples(structured, st.binary(min_size=1, max_size=2000)).map(b"".join)
    return st.one_of(structured, cut, padded, st.binary(max_size=4000))


@pytest.mark.usefixtures("watchdog")
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=_values())
def test_keys_and_inspect_agree_on_any_bytes(
    data: bytes, raw_redis: redis.Redis, cli: Callable[..., CliResult]
) -> None:
    # In process (a subprocess per example would take minutes); the same commands, --json.
    raw_redis.delete(*raw_redis.keys(f"{CLI_NAMESPACE}:*") or [b"-"])
    raw_redis.set(f"{CLI_NAMESPACE}:v", data)
    listing = cli("keys", "--json")
    assert listing.exit_code == 0, listing.stderr
    rows = listing.json()["keys"]
    assert [row["key"] for row in rows] == ["v"]
    inspected = cli("inspect", "v", "--json")
    assert inspected.exit_code in (0, 1), inspected.stderr
    codec = rows[0]["codec"]
    assert codec == describe_head(data)
    _check_inspect(inspected.json(), codec)
    if inspected.exit_code == 1:
        # Only a value that is not what it starts as: too long to have been seen whole, a
        # compression layer or cachectl's header that does not decode, or nested too deep.
        assert "error" in inspected.json()


@settings(max_examples=600, deadline=None)
@given(data=_values())
def test_decode_reads_a_value_as_its_codec_names_it(data: bytes) -> None:
    # The same check without Redis, at volume: what inspect decodes agrees with the label.
    from cachectl.codec import DEFAULT_MAX_SIZE
    from cachectl.errors import DecodeError
    from cachectl.ops.decode import Encoding, decode

    codec = describe_head(data)
    assert describe_head(data[:CODEC_SAMPLE], len(data)) == codec  # GETRANGE and STRLEN
    try:
        encoding, _ = decode(data, DEFAULT_MAX_SIZE)
    except DecodeError:
        return  # shown as a corrupt value, under the same codec
    assert isinstance(encoding, Encoding)
    _check_inspect({"codec": codec, "type": "string", "encoding": encoding.to_dict()}, codec)


@pytest.mark.usefixtures("watchdog")
async def test_admin_api_listing_and_key_view_agree(raw_redis: redis.Redis, redis_url: str) -> None:
    import httpx
    from fastapi import FastAPI

    from cachectl.contrib.fastapi import admin_router

    corpus = _corpus()
    for name, data in corpus.items():
        raw_redis.set(f"{CLI_NAMESPACE}:{name}", data)
    with Cache(redis_url, namespace=CLI_NAMESPACE, stats=False) as cache:
        app = FastAPI()
        app.include_router(admin_router(cache, token="t0ken"), prefix="/_cache")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer t0ken"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://admin.test", headers=headers
        ) as client:
            page = (await client.get("/_cache/api/keys", params={"count": 1000})).json()
            codecs = {row["key"]: row["codec"] for row in page["keys"]}
            assert set(codecs) == set(corpus)
            for key, codec in codecs.items():
                view = await client.get("/_cache/api/key", params={"key": key})
                assert view.status_code == 200, view.text
                _check_inspect(view.json(), codec)
    assert codecs["png-big"] == "binary" and codecs["json-big"] == "json"
