"""Hostile stored values never crash a reader: a fuzzer in a subprocess, and the real read paths
(Cache.get/get_many over redis-server, the console script's inspect) on deep values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
import redis

from cachectl import MISS, Cache, SerializationError
from cachectl.codec import MAX_DEPTH, PLAIN_HEADER
from tests.plugins.cli import CLI_NAMESPACE, CliResult
from tests.plugins.core import VERY_PATIENT

pytestmark = pytest.mark.usefixtures("watchdog")

CHILD = Path(__file__).with_name("decode_fuzz_child.py")


def test_fuzzed_stored_values_are_a_value_or_a_miss_in_bounded_memory() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "FUZZ_EXAMPLES": "300"}
    done = subprocess.run(
        [sys.executable, str(CHILD)], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    report = json.loads(done.stdout)
    assert report["examples"] == 300
    assert report["values"] > 0 and report["misses"] > 0
    # max_value_size is 1 MiB in the child: its worst value (a million empty lists) and
    # the generator's own bombs stay far below this; a claimed size allocated would not.
    assert report["maxrss_kib"] < 512 * 1024


def nest(code: int | None, depth: int) -> bytes:
    inner = msgpack.packb(1)
    for _ in range(depth):
        inner = (
            b"\x91" + inner
            if code is None
            else msgpack.packb(msgpack.ExtType(code, b"\x91" + inner))
        )
    return PLAIN_HEADER + inner


HOSTILE = {
    f"{name}-{depth}": nest(code, depth)
    for name, code in (("tuple", 6), ("set", 5), ("frozenset", 7), ("list", None))
    for depth in (MAX_DEPTH + 1, 400, 5000)
}
HOSTILE["lz4-claims-256MiB"] = (
    bytes((0xC1, 1, 1)) + (256 << 20).to_bytes(4, "little") + b"\x00" * 96
)


_READER = """
import sys
from cachectl import MISS, Cache, SerializationError
url, ns, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
with Cache(url, namespace=ns, socket_timeout=5.0, connect_timeout=5.0) as cache:
    assert all(cache.get(k, MISS) is MISS for k in keys)
    assert cache.get_many(keys) == {}
    stats = cache.stats()
    print(sum(stats[k].errors for k in keys))
"""


def test_cache_reads_hostile_values_written_by_redis_py_as_misses(
    raw_redis: redis.Redis, redis_url: str
) -> None:
    for key, data in HOSTILE.items():
        raw_redis.set(f"fz:{key}".encode(), data)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", _READER, redis_url, "fz", *HOSTILE],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    assert int(done.stdout) == 2 * len(HOSTILE)  # each key: a counted miss on get and get_many


def test_values_within_the_limit_round_trip_through_redis(redis_url: str) -> None:
    value: object = 1
    for depth in range(MAX_DEPTH):
        value = (value,) if depth % 2 else [value]
    with Cache(redis_url, namespace="fzok", **VERY_PATIENT) as cache:
        cache.set("deep", value)
        assert cache.get("deep", MISS) == value


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_inspect_of_a_hostile_value_exits_1_without_a_traceback(
    raw_redis: redis.Redis, redis_url: str, run_script: Callable[..., CliResult], key: str
) -> None:
    raw_redis.set(f"{CLI_NAMESPACE}:{key}".encode(), HOSTILE[key])
    for extra in ((), ("--json",)):
        result = run_script(
            "--url", redis_url, "--namespace", CLI_NAMESPACE, "inspect", key, *extra
        )
        assert result.exit_code == 1, (result.exit_code, result.stderr)
        assert "Traceback" not in result.stderr
        if extra:
            assert "nested deeper" in json.loads(result.stdout)["error"] or "lz4" in result.stdout
        else:
            assert "corrupt value" in result.stdout


_SMALL_STACK = """
import threading
from cachectl.codec import MAX_DEPTH, Codec
from cachectl.errors import DecodeError, SerializationError

def nested(kind, depth):
    value = 1
    for _ in range(depth):
        value = (value,) if kind == "tuple" else frozenset([value]) if kind == "fs" else [value]
    return value

def run():
    # zlib: lz4's block compressor alone needs more than 256 KiB of stack, whatever the value.
    codec = Codec(0, "zlib")
    for kind in ("tuple", "fs", "list"):
        value = nested(kind, MAX_DEPTH)
        assert codec.decode(codec.encode(value)) == value
        assert Codec(10**9).decode(Codec(10**9).encode(value)) == value
        try:
            codec.encode(nested(kind, 10_000))
            raise AssertionError("encoded")
        except SerializationError:
            pass
    print("ok")

threading.stack_size(512 * 1024)
worker = threading.Thread(target=run)
worker.start()
worker.join()
"""


def test_values_at_the_limit_fit_a_512_kib_thread_stack() -> None:
    # Before, each level of extension type held msgpack's ~40 KiB unpacker on the C stack
    # (12 levels filled this stack). msgpack's packer alone needs ~300 KiB to refuse a
    # 10,000-deep list.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", _SMALL_STACK], capture_output=True, text=True, env=env, timeout=120
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-3000:]


def test_cache_set_of_a_value_past_the_limit_raises_serialization_error(redis_url: str) -> None:
    value: object = 1
    for _ in range(MAX_DEPTH + 1):
        value = (value,)
    with Cache(redis_url, namespace="fzw", **VERY_PATIENT) as cache:
        with pytest.raises(SerializationError, match="nested deeper"):
            cache.set("deep", value)
        assert cache.get("deep", MISS) is MISS
