"""What the sampled entries are: type, TTL, memory, size and the value's encoding.

One round trip per PROBE_BATCH keys (a script on a plain server, else a pipeline) reads TYPE,
PTTL, MEMORY USAGE, STRLEN and the first CODEC_SAMPLE bytes of each (the header names the
codec; an lz4 block carries its uncompressed size right after it); a string of at most
FULL_READ bytes is read whole, within a byte budget, and decoded, so that a corrupt value or a
zlib ratio is known. A big uncompressed string is judged compressible from its first
COMPRESS_PROBE bytes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis.exceptions

from cachectl.codec import HAS_STAMP, MAGIC, Compression, read_header
from cachectl.errors import DecodeError
from cachectl.ops.connect import Connection
from cachectl.ops.decode import decode
from cachectl.ops.sniff import CODEC_SAMPLE, describe_head

#: Keys probed per round trip (one script call holds the server about a millisecond).
PROBE_BATCH = 250
#: Strings up to this size are read whole and decoded (a corrupt payload found, a zlib
#: payload's size known); longer ones, their first CODEC_SAMPLE bytes.
FULL_READ = 4096
#: Bytes read whole at most over the whole sample (beyond, first bytes only).
FULL_READ_BUDGET = 8 * 1024 * 1024
#: Bytes of a big uncompressed string compressed to judge whether compression would pay.
COMPRESS_PROBE = 64 * 1024
#: Big uncompressed strings whose start is read to judge that, at most.
COMPRESS_CHECKS = 64

# Describes a batch of keys on the server (a plain server only: the keys are not declared,
# so a cluster node could not be sure to hold them): TYPE, PTTL, MEMORY USAGE (ARGV[1] '1'),
# STRLEN and the value's first bytes, whole when it is at most ARGV[3] bytes long and the
# budget ARGV[4] allows, else ARGV[2] of them. One call per PROBE_BATCH keys instead of five
# commands per key, which cost the client far more than the server. Returns five items per
# key, then the budget left. Flagged no-writes, so that it runs on a server past maxmemory
# with noeviction (Redis 7; an older server refuses the flag, and the pipeline does the work).
PROBE_SCRIPT = """#!lua flags=no-writes
local call, out = redis.call, {}
local memory, head, full = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
for i = 5, #ARGV do
  local key = ARGV[i]
  local kind = call('TYPE', key)['ok']
  local n = #out
  if kind == 'none' then
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = 'none', -2, -1, 0, ''
  else
    local size = -1
    if memory then size = call('MEMORY', 'USAGE', key) or -1 end
    local length, first = 0, ''
    if kind == 'string' then
      length = call('STRLEN', key)
      local take = head
      if length <= full and length <= budget then
        take = full
        budget = budget - length
      end
      first = call('GETRANGE', key, 0, take - 1)
    end
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] =
      kind, call('PTTL', key), size, length, first
  end
end
out[#out + 1] = budget
return out
"""
PROBE_SHA = hashlib.sha1(PROBE_SCRIPT.encode()).hexdigest()

_LZ4_SIZE = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class Entry:
    """One sampled entry."""

    key: bytes  # the full Redis key
    type: str
    ttl_ms: int | None  # None: no expiry
    memory: int | None  # MEMORY USAGE; None where the server lacks it
    stored: int | None = None  # a string's stored bytes
    decoded: int | None = None  # its payload uncompressed, where known
    codec: str = "-"  # describe_head's name; "-" for a collection
    cachectl: bool = False  # written in cachectl's format (a readable header)
    compression: str = "none"  # cachectl's compression, or a foreign layer's name
    problem: str | None = None  # why the cache cannot read it (foreign, corrupt, a collection)
    compressible: float | None = None  # lz4 ratio of its start, for a big uncompressed string


def _header_sizes(head: bytes, stored: int) -> tuple[bool, str, int | None, str | None]:
    """From a value's first bytes: cachectl's?, its compression, its decoded size when the
    header tells it, and why it cannot be read (None: it may be)."""
    if head[:1] != bytes((MAGIC,)):
        return False, "none", None, None
    try:
        header = read_header(head)
    except DecodeError as exc:
        return False, "none", None, f"corrupt: {exc}"
    name = header.compression.name.lower()
    if header.compression is Compression.NONE:
        return True, name, stored - header.size, None
    if header.compression is Compression.LZ4 and len(head) >= header.size + 4:
        return True, name, _LZ4_SIZE.unpack_from(head, header.size)[0], None
    return True, name, None, None


def _foreign(codec: str) -> str:
    return f"not cachectl's format ({codec})"


def read(conn: Connection, keys: Sequence[bytes]) -> list[Entry]:
    """The sampled entries that still exist, described (see the module docstring)."""
    rows: list[_Row] = []
    budget = FULL_READ_BUDGET
    scripted = not (conn.cluster or conn.memory)
    for start in range(0, len(keys), PROBE_BATCH):
        batch = keys[start : start + PROBE_BATCH]
        if scripted:
            try:
                found, budget = _scripted(conn, batch, budget)
            except redis.exceptions.ResponseError:
                if start:
                    raise
                scripted = False  # scripts refused (an ACL, a managed service)
        if not scripted:
            found, budget = _pipelined(conn, batch, budget)
        rows += found
    entries = [entry for row in rows if (entry := _entry(conn, *row)) is not None]
    return _judge_compression(conn, entries)


_Row = tuple[bytes, Any, Any, Any, Any, Any]  # key, type, pttl, memory, strlen, first bytes


def _scripted(conn: Connection, keys: Sequence[bytes], budget: int) -> tuple[list[_Row], int]:
    memory = "1" if conn.has_memory_usage else "0"
    args = (memory, CODEC_SAMPLE, FULL_READ, budget, *keys)
    try:
        reply = conn.client.evalsha(PROBE_SHA, 0, *args)
    except redis.exceptions.NoScriptError:
        reply = conn.client.eval(PROBE_SCRIPT, 0, *args)
    rows = [(key, *reply[5 * i : 5 * i + 5]) for i, key in enumerate(keys)]
    return rows, int(reply[-1])


def _pipelined(conn: Connection, keys: Sequence[bytes], budget: int) -> tuple[list[_Row], int]:
    pipe = conn.client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
        pipe.pttl(key)
        conn.memory_usage(pipe, key)
        pipe.strlen(key)
        # Whole while the budget lasts (counted as if every value were FULL_READ long).
        take = FULL_READ if budget >= FULL_READ else CODEC_SAMPLE
        budget -= take if take == FULL_READ else 0
        pipe.getrange(key, 0, take - 1)
    replies = pipe.execute(raise_on_error=False)
    return [(key, *replies[5 * i : 5 * i + 5]) for i, key in enumerate(keys)], budget


def _entry(
    conn: Connection, key: bytes, kind: Any, pttl: Any, memory: Any, length: Any, first: Any
) -> Entry | None:
    """One probed key as an Entry; None when it has gone since the scan."""
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "none" or not isinstance(pttl, int) or pttl == -2:
        return None
    size = memory if isinstance(memory, int) and not isinstance(memory, bool) else None
    size = None if size is not None and size < 0 else size
    ttl = pttl if pttl >= 0 else None
    if kind != "string":
        return Entry(key, kind, ttl, size, problem=f"a Redis {kind}, not a string value")
    stored = length if isinstance(length, int) else 0
    first = first if isinstance(first, bytes) else b""
    codec = describe_head(first, stored)
    ours, compression, decoded, problem = _header_sizes(first, stored)
    if not ours and problem is None:
        problem = _foreign(codec)
        compression = codec if codec in ("gzip", "zlib", "zstd", "lz4-frame") else "none"
    entry = Entry(key, kind, ttl, size, stored, decoded, codec, ours, compression, problem)
    if ours and problem is None and len(first) == stored:
        # Read whole: decoded as the cache would, so a corrupt payload is found.
        try:
            encoding, _value = decode(first, conn.config.max_value_size)
        except DecodeError as exc:
            return replace(entry, problem=f"corrupt: {exc}")
        return replace(entry, decoded=encoding.payload_size)
    return entry


def _judge_compression(conn: Connection, entries: list[Entry]) -> list[Entry]:
    """How well the start of each big uncompressed string compresses (at most COMPRESS_CHECKS
    of them, biggest first)."""
    import lz4.block

    threshold = conn.config.compress_threshold
    big = sorted(
        (
            i
            for i, e in enumerate(entries)
            if e.cachectl
            and e.problem is None
            and e.compression == "none"
            and (e.decoded or e.stored or 0) > threshold
        ),
        key=lambda i: -(entries[i].stored or 0),
    )[:COMPRESS_CHECKS]
    if not big:
        return entries
    pipe = conn.client.pipeline(transaction=False)
    for i in big:
        pipe.getrange(entries[i].key, 0, COMPRESS_PROBE - 1)
    out = list(entries)
    for i, data in zip(big, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(data, bytes) and data:
            body = data[_payload_start(data) :]
            if body:
                packed = lz4.block.compress(body, store_size=False)
                out[i] = replace(entries[i], compressible=len(body) / max(len(packed), 1))
    return out


def _payload_start(data: bytes) -> int:
    return 11 if len(data) > 2 and data[2] & HAS_STAMP else 3
