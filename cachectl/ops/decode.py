"""Decode one stored value: cachectl's own format, or a foreign one as far as it goes.

Foreign values are peeled layer by layer by their magic bytes (gzip, zlib, zstd, LZ4 frame),
then read as msgpack, JSON or UTF-8 text, as ops.sniff names them. Every decompression is
bounded by the configured maximum value size; a pickle is never loaded. Pure, no I/O.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from cachectl.errors import DecodeError
from cachectl.ops.record import record
from cachectl.ops.sniff import layer, sniff


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
        names = "format", "serializer", "compression", "stored_size", "payload_size", "ratio"
        return record(self, *names, "fresh_until_ms")


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
