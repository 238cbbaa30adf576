"""What a stored value is, named from its first bytes: cachectl's header, a compression layer,
or the serializer those bytes show. Pure, no I/O; nothing is unpickled or decompressed past a
sample.

The one classification of a value: `keys` and the page's listing name a value from the
CODEC_SAMPLE bytes GETRANGE reads, `inspect` and the key view from the same bytes of the value
they GET, and ops.decode reads a foreign value as what it is named here.
"""

from __future__ import annotations

import json
import re
import zlib

from cachectl.errors import DecodeError

GZIP, ZSTD, LZ4_FRAME = b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"
#: Bytes at the start of a stored value that name its codec (describe_head): `keys` reads
#: them with GETRANGE, `inspect` cuts its value to them, so both name every value alike. A
#: shorter value is seen whole; a value this long or longer is named from its start.
CODEC_SAMPLE = 1024


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
    binary). The one classification of a value (see the module's docstring).
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
