"""The embedded store's glob matcher against a real redis-server's SCAN MATCH, and its speed bound.

The memory store and the breaker's fallback decide which keys a glob selects without Redis;
they must select exactly what Redis would, and a hostile pattern must not hold the process.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachectl.keys import glob_match
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

# Every byte with a meaning to the matcher, two plain ones, NUL, and (where Redis compares signed
# chars in ranges, as on x86-64) bytes above 0x7f.
ALPHABET = b"ab*?[]^-\\\x00" + (b"\xff\x80" if platform.machine() in ("x86_64", "AMD64") else b"")
PATTERNS = st.lists(st.sampled_from(list(ALPHABET)), max_size=10).map(bytes)
KEYS = st.lists(
    st.lists(st.sampled_from(list(ALPHABET)), max_size=7).map(bytes), min_size=1, max_size=12
)


#: The matcher follows stringmatchlen as Redis 7 has it (older servers differ on the empty key,
#: on nested stars and on a '\\' that ends a '[' set).
MATCHER_VERSION = (7, 0)


@pytest.fixture(scope="module")
def server_client() -> Iterator[redis.Redis]:
    """A redis-server of this module's own (flushed freely), and a client to it."""
    with RedisServer() as server, server.client() as client:
        version = str(client.info("server")["redis_version"])
        if tuple(int(part) for part in version.split(".")[:2]) < MATCHER_VERSION:
            pytest.skip(f"redis-server {version}: the matcher follows Redis 7's stringmatchlen")
        yield client


def _scan(client: redis.Redis, pattern: bytes) -> set[bytes]:
    return set(client.scan_iter(match=pattern, count=1000))


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pattern=PATTERNS, keys=KEYS)
def test_glob_match_selects_what_redis_scan_match_selects(
    server_client: redis.Redis, pattern: bytes, keys: list[bytes]
) -> None:
    server_client.flushdb()
    server_client.mset(dict.fromkeys(keys, b"1"))
    expected = _scan(server_client, pattern)
    assert {k for k in set(keys) if glob_match(pattern, k)} == expected


@pytest.mark.parametrize(
    ("pattern", "key"),
    [
        (b"[a-\\]", b"\\"),  # a range's end is never an escape
        (b"[]a]", b"a"),  # ']' right after '[' closes an empty set
        (b"[^]a", b"xa"),
        (b"[ab", b"b"),  # unterminated: the rest of the pattern is the set
        (b"[^", b"q"),
        (b"[z-a]", b"m"),  # reversed bounds
        (b"a\\", b"a\\"),  # a trailing backslash is itself
        (b"\\*", b"*"),
        (b"*", b""),  # SCAN skips matching for '*' alone
        (b"**", b""),
        (b"?*", b"x"),
    ],
)
def test_corner_cases_agree_with_redis(
    server_client: redis.Redis, pattern: bytes, key: bytes
) -> None:
    server_client.flushdb()
    server_client.set(key, b"1")
    assert glob_match(pattern, key) == (key in _scan(server_client, pattern))


@pytest.mark.parametrize(("stars", "tail"), [(1000, b""), (1000, b"*"), (1001, b""), (1001, b"*")])
def test_star_nesting_limit_agrees_with_redis(
    server_client: redis.Redis, stars: int, tail: bytes
) -> None:
    # Redis gives up past 1000 nested '*' (a match then fails); the matcher must say the same.
    pattern = b"*a" * stars + tail
    key = b"a" * (stars + 2)
    server_client.flushdb()
    server_client.set(key, b"1")
    assert glob_match(pattern, key) == (key in _scan(server_client, pattern))


PATHOLOGICAL = textwrap.dedent(
    """
    from cachectl import Cache

    glob = "*a" * 11 + "*b"
    keys = {"a" * n: 1 for n in range(30, 60)}
    with Cache("memory://", namespace="evil") as cache:
        cache.set_many(keys)
        removed = cache.invalidate_pattern(glob)
        assert removed == 0 and cache.get_many(list(keys)) == keys
    # The breaker's fallback: a server nobody listens on, so the pattern goes to the store.
    with Cache("redis://127.0.0.1:1/0", namespace="evil", connect_timeout=0.2) as cache:
        cache.set_many(keys)
        assert cache.invalidate_pattern(glob) == 0
        assert cache.invalidate_pattern("a" * 40 + "*") == 20
    print("done")
    """
)


def test_pathological_pattern_completes() -> None:
    # The timeout is a hang guard (a backtracking matcher takes minutes here), not a measure.
    done = subprocess.run(
        [sys.executable, "-c", PATHOLOGICAL],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
