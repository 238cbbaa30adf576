"""flush deletes exactly its selection, whatever the key names; tags cost no scan."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cachectl.cache import Cache
from cachectl.cli.app import app
from cachectl.keys import KeySpace
from tests.plugins.cli import CLI_NAMESPACE
from tests.servers import RedisServer

NS = CLI_NAMESPACE.encode() + b":"
#: Glob metacharacters, the segment separator, space, and bytes that are not UTF-8.
HOSTILE = [b"*", b"?", b"[", b"]", b"\\", b"^", b"-", b" ", b":", b"a", b"b", b"\xff", b"\xc3"]
SEGMENT = st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=5).map(b"".join)


def arg(raw: bytes) -> str:
    """A command-line argument as Python receives one (undecodable bytes surrogate-escaped)."""
    return raw.decode("utf-8", "surrogateescape")


def expected_survivors(keys: set[bytes], prefix: bytes) -> set[bytes]:
    whole = prefix.rstrip(b":")
    return {k for k in keys if not (k == whole or k.startswith(whole + b":"))}


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as made:
        yield made


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prefix=SEGMENT, others=st.lists(SEGMENT, max_size=5))
def test_flush_prefix_deletes_exactly_the_matching_keys(
    server: RedisServer, prefix: bytes, others: list[bytes]
) -> None:
    if not prefix.rstrip(b":"):
        return  # an empty prefix is a usage error, tested elsewhere
    names: set[bytes] = set()
    for base in [prefix, prefix.rstrip(b":"), prefix + b"x", b"\\" + prefix, *others]:
        names |= {base, base + b":", base + b":1", base + b"::2", base + b"1", base + b"[:3"}
    names |= {prefix + b":" + other for other in others}
    with server.client() as client:
        client.flushall()
        client.mset({NS + name: b"v" for name in names})
        client.set(b"elsewhere:" + prefix, b"v")
        args = ["--url", server.url, "--namespace", CLI_NAMESPACE, "flush", "--yes", "--json"]
        result = CliRunner().invoke(app, [*args, "--prefix", arg(prefix)])
        assert result.exit_code == 0, result.output
        left = {k[len(NS) :] for k in client.scan_iter(match=NS + b"*")}
        survivors = expected_survivors(names, prefix)
        assert left == survivors
        assert result.stdout.count('"removed": ') == 1
        assert f'"removed": {len(names) - len(survivors)}' in result.stdout
        assert client.exists(b"elsewhere:" + prefix)


AUDIT = CLI_NAMESPACE.encode() + b"#audit"


def left_after_flush(client: redis.Redis) -> int:
    """The entries left, after checking that the namespace's only other key is its audit log
    (bookkeeping, like '#stats': a flush records itself there) holding this one flush. Keys of
    other namespaces are not looked at: another test's cache on the worker's server may
    publish its figures at any moment."""
    everything = set(client.scan_iter(match=CLI_NAMESPACE.encode() + b"[:#]*"))
    assert everything - set(client.scan_iter(match=NS + b"*")) == {AUDIT}
    assert client.llen(AUDIT) == 1
    return len(everything) - 1


def commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def test_flush_tag_never_scans(redis_url: str, raw_redis: redis.Redis) -> None:
    with Cache(redis_url, namespace=CLI_NAMESPACE, stats=False) as cache:
        cache.set_many({f"t:{i}": i for i in range(300)}, tags=["group"])
        cache.set_many({f"u:{i}": i for i in range(300)})
    raw_redis.config_resetstat()
    result = CliRunner().invoke(
        app, ["--url", redis_url, "--namespace", CLI_NAMESPACE, "flush", "--tag", "group", "-y"]
    )
    assert result.exit_code == 0 and "Deleted 300 keys" in result.stdout
    calls = commandstats(raw_redis)
    # The cost follows the tag's size only: reads of the tag set and unlinks, no SCAN.
    assert "scan" not in calls
    assert calls["unlink"] >= 1
    assert left_after_flush(raw_redis) == 300


def test_flush_prefix_is_one_scan_pass(redis_url: str, raw_redis: redis.Redis) -> None:
    raw_redis.mset({NS + f"p:{i}".encode(): b"v" for i in range(500)} | {NS + b"p": b"v"})
    raw_redis.config_resetstat()
    result = CliRunner().invoke(
        app, ["--url", redis_url, "--namespace", CLI_NAMESPACE, "flush", "--prefix", "p", "-y"]
    )
    assert result.exit_code == 0 and "Deleted 501 keys" in result.stdout
    # The key equal to the prefix is unlinked by name: a wildcard-free glob would cost a scan.
    assert commandstats(raw_redis)["scan"] == 1
    assert left_after_flush(raw_redis) == 0


def test_selection_labels_and_globs() -> None:
    from cachectl.ops.selection import select

    space = KeySpace("ns")
    chosen = select(space, prefix="a*b:")
    assert chosen.keys == (b"ns:a*b",) and chosen.globs == (b"ns:a\\*b:*",)
    assert select(space, everything=True).globs == (b"ns:*", b"ns#tag:*")
    assert select(space, required=False).globs == (b"ns:*",)
    assert select(space, tag="t").tag_keys == (b"ns#tag:{t}",)
    assert select(space, keys=["x", "x", "y"]).keys == (b"ns:x", b"ns:y")


def test_an_empty_key_is_refused_like_every_empty_option() -> None:
    from cachectl.errors import ConfigError
    from cachectl.keys import KeySpace
    from cachectl.ops.selection import select

    with pytest.raises(ConfigError, match="--key needs a non-empty key"):
        select(KeySpace("shop"), keys=["a", ""])


@pytest.mark.parametrize("rate", [float("inf"), float("nan"), -1.0, 0.0, 0.5, 1e300, 1_000_001])
def test_a_rate_no_flush_can_keep_is_refused_before_anything_is_deleted(
    redis_url: str, raw_redis: redis.Redis, rate: float
) -> None:
    # The root of the router's 500 on "rate": "inf": ops checks what every face hands it.
    from cachectl.config import CacheConfig
    from cachectl.errors import ConfigError
    from cachectl.ops.audit import cli_actor
    from cachectl.ops.connect import connection
    from cachectl.ops.flush import Throttle, batch_size, flush
    from cachectl.ops.selection import select

    raw_redis.mset({NS + f"r:{i}".encode(): b"v" for i in range(10)})
    config = CacheConfig(url=redis_url, namespace=CLI_NAMESPACE)
    refused = pytest.raises(ConfigError, match="rate must be a number of keys a second from 1")
    with connection(config) as conn, refused:
        flush(conn, select(conn.keys, prefix="r"), cli_actor(), rate=rate)
    with pytest.raises(ConfigError):
        batch_size(rate)
    with pytest.raises(ConfigError):
        Throttle(rate)
    assert len(set(raw_redis.scan_iter(match=NS + b"r:*"))) == 10
    assert not raw_redis.exists(AUDIT)  # nothing done, nothing recorded
