"""Run by test_codec_fuzz.py in a subprocess: hostile stored values through every decoder.

Prints one JSON line: examples tried, values read, misses, and this process's peak RSS. Any
exception other than DecodeError fails the run (exit 1); a crash shows as a signal.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
import threading
import zlib

import lz4.block
import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachectl.codec import MAGIC, PLAIN_HEADER, VERSION, Codec
from cachectl.errors import DecodeError
from cachectl.ops.decode import decode as inspect_decode

LIMIT = 1 << 20  # max_value_size in this run
EXT = {"tuple": 6, "set": 5, "frozenset": 7, "timedelta": 9, "unknown": 42}
KINDS = ["array", "map", *EXT, "mixed"]


def nest(kind: str, depth: int) -> bytes:
    """msgpack nesting depth levels of one container or extension type (or all, mixed)."""
    inner = msgpack.packb(1)
    for level in range(depth):
        this = KINDS[level % (len(KINDS) - 1)] if kind == "mixed" else kind
        if this == "array":
            inner = b"\x91" + inner
        elif this == "map":
            inner = b"\x81\x01" + inner
        else:
            inner = msgpack.packb(msgpack.ExtType(EXT[this], b"\x91" + inner))
    return inner


def frame(payload: bytes, compression: int = 0) -> bytes:
    if compression == 1:
        payload = lz4.block.compress(payload, store_size=True)
    elif compression == 2:
        payload = zlib.compress(payload)
    return bytes((MAGIC, VERSION, compression)) + payload


deep = st.builds(
    frame,
    st.builds(nest, st.sampled_from(KINDS), st.integers(0, 3000)),
    st.sampled_from([0, 1, 2]),
)
lying_lz4 = st.builds(
    lambda size, body: bytes((MAGIC, VERSION, 1)) + struct.pack("<I", size) + body,
    st.integers(0, 2**32 - 1),
    st.binary(max_size=200),
)
bomb = st.builds(
    lambda n, fill, lz4_: frame(msgpack.packb(fill * n), 1 if lz4_ else 2),
    st.sampled_from([LIMIT - 8, LIMIT + 1, 8 * LIMIT, 64 * LIMIT]),
    st.sampled_from([b"\x00", b"x"]),
    st.booleans(),
)
container_bomb = st.builds(  # many tiny objects: the largest Python object per stored byte
    lambda n, item: frame(b"\xdd" + struct.pack(">I", n) + item * n, 1),
    st.sampled_from([1000, LIMIT // 2, LIMIT]),
    st.sampled_from([b"\x90", b"\x80", b"\xa1a"]),
)
good = st.builds(
    lambda v, c: Codec(0 if c else 10**9, "lz4").encode(v),
    st.recursive(
        st.none() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.lists(inner, max_size=4).map(tuple)
            | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=20,
    ),
    st.booleans(),
)
truncated = st.builds(lambda data, cut: data[: max(0, len(data) - cut)], good, st.integers(1, 50))
foreign = st.one_of(
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(0, 5000)),
    st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, st.integers(0, 5000)),
    st.builds(lambda k, n: nest(k, n), st.sampled_from(KINDS), st.integers(0, 3000)),
    st.builds(zlib.compress, st.builds(lambda n: b"[" * n + b"]" * n, st.integers(0, 5000))),
    st.binary(max_size=300),
    st.builds(lambda b: PLAIN_HEADER + b, st.binary(max_size=300)),
)
HOSTILE = st.one_of(deep, lying_lz4, bomb, container_bomb, good, truncated, foreign)

counts = {"examples": 0, "values": 0, "misses": 0}


def read(data: bytes) -> None:
    """Every decoder on data: a value or DecodeError, nothing else."""
    codec = Codec(max_size=LIMIT)
    outcomes = []
    for attempt in (
        lambda: codec.decode(data),
        lambda: codec.decode_full(data).value,
        lambda: inspect_decode(data, LIMIT),
    ):
        try:
            attempt()
            outcomes.append(True)
        except DecodeError:
            outcomes.append(False)
    found, failed = codec.decode_many(["k"], [data])
    assert ("k" in found) == outcomes[0], "decode_many and decode disagree"
    assert all(isinstance(exc, DecodeError) for _, exc in failed), failed
    counts["examples"] += 1
    counts["values" if outcomes[0] else "misses"] += 1


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=HOSTILE)
def fuzz(data: bytes) -> None:
    read(data)


def main() -> int:
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fuzz()
        except BaseException as exc:  # reported to the parent below
            failure.append(exc)

    # A thread with a 1 MiB stack: before the fix, 25 nested tuples overflowed it.
    threading.stack_size(1 << 20)
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failure:
        print(repr(failure[0]), file=sys.stderr)
        return 1
    counts["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
