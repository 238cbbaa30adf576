"""Seeding for the doctor tests: each situation of issue 20 written as an application (or a
publisher, or another program) would write it, on a plain server or a cluster.

Published stats are written with redis-py in the layout of cachectl.stats, EXPIRE included, as
PUBLISH_SCRIPT leaves them; entries through a real Cache where the library writes them.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from typing import Any

import redis

from cachectl import Cache
from cachectl.stats import LAYOUT_FIELD, STATS_TTL, bucket_of
from tests.plugins.core import VERY_PATIENT

OPENED_FIELD, OWED_FIELD, OWED_ALL_FIELD = b"#opened", b"#owed", b"#owed_all"

Client = redis.Redis | redis.RedisCluster
#: A prefix every seeded namespace has, read and hit as a cache should be.
HEALTHY = "pages"
QUIET = {**VERY_PATIENT, "stats": False}  # publishes nothing: the tests write the stats


def publish(
    client: Client,
    ns: str,
    figures: Mapping[str, tuple[int, int, int]],
    age: float = 0,
    extra: Mapping[bytes, int] | None = None,
    latency_us: Mapping[str, tuple[int, int]] | None = None,
) -> None:
    """The stats hash of ns as publishers leave it: hits, misses and sets per prefix, the last
    publish age seconds ago; latency_us gives a prefix (calls, microseconds each)."""
    key = f"{ns}#stats"
    fields: dict[bytes, int] = {b"#prefixes": len(figures)}
    for prefix, (hits, misses, sets) in figures.items():
        fields[f"prefix:{prefix}".encode()] = 1
        for kind, value in (("hits", hits), ("misses", misses), ("sets", sets)):
            if value:
                fields[f"{kind}:{prefix}".encode()] = value
        calls, micros = (latency_us or {}).get(prefix, (hits + misses, 150))
        if calls:
            fields[f"lat:{prefix}:{bucket_of(micros)}".encode()] = calls
    fields.update(extra or {})
    client.delete(key)
    client.hset(key, mapping=fields)  # type: ignore[arg-type]
    client.expire(key, int(STATS_TTL - age))


def healthy(url: str, ns: str, prefix: str = HEALTHY, n: int = 40) -> None:
    """Entries of prefix written with a TTL through the library."""
    with Cache(url, namespace=ns, **QUIET) as cache:  # type: ignore[arg-type]
        for i in range(n):
            cache.set(f"{prefix}:{i}", {"id": i, "title": f"page {i}"}, ttl=600)


def healthy_stats(client: Client, ns: str, **kwargs: Any) -> None:
    """A healthy prefix's published figures: 90% hits, nine hits a write."""
    publish(client, ns, {HEALTHY: (9000, 1000, 1000)}, **kwargs)


# -- the situations ---------------------------------------------------------------------------


def low_hit_ratio(client: Client, url: str, ns: str) -> None:
    """A 10% hit-ratio prefix whose entries live a minute."""
    healthy(url, ns)
    with Cache(url, namespace=ns, **QUIET) as cache:  # type: ignore[arg-type]
        for i in range(20):
            cache.set(f"users:{i}", i, ttl=60)
    publish(client, ns, {HEALTHY: (9000, 1000, 1000), "users": (100, 900, 900)})


def write_only(client: Client, url: str, ns: str) -> None:
    """A prefix written 500 times and never read."""
    healthy(url, ns)
    healthy(url, ns, "audit", 30)
    publish(client, ns, {HEALTHY: (9000, 1000, 1000), "audit": (0, 0, 500)})


def no_ttl(client: Client, url: str, ns: str) -> None:
    """Entries written without a TTL."""
    healthy(url, ns)
    with Cache(url, namespace=ns, **QUIET) as cache:  # type: ignore[arg-type]
        for i in range(12):
            cache.set(f"settings:{i}", {"flag": i})
    healthy_stats(client, ns)


def big_value(client: Client, url: str, ns: str) -> None:
    """A 2 MB value (incompressible, so stored 2 MB)."""
    healthy(url, ns)
    with Cache(url, namespace=ns, **QUIET) as cache:  # type: ignore[arg-type]
        cache.set("reports:annual", os.urandom(2 * 1024 * 1024), ttl=600)
    healthy_stats(client, ns)


HUGE_TAG_MEMBERS = 200_000
_ZADD_LOOP = """
local batch = {}
for i = 1, tonumber(ARGV[1]) do
  batch[#batch + 1] = ARGV[2]
  batch[#batch + 1] = ARGV[3] .. i
  if #batch >= 2000 then redis.call('ZADD', KEYS[1], unpack(batch)); batch = {} end
end
if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end
return redis.call('ZCARD', KEYS[1])
"""


def huge_tag(client: Client, url: str, ns: str) -> None:
    """A tag set of 200,000 members (scored as the library scores entries that never expire)."""
    healthy(url, ns)
    with Cache(url, namespace=ns, **QUIET) as cache:  # type: ignore[arg-type]
        cache.set(f"{HEALTHY}:tagged", 1, ttl=600, tags=["small"])
    score = 4_000_000_000_000  # the library's no-expiry scores are above 3.9e12
    members = client.eval(
        _ZADD_LOOP, 1, f"{ns}#tag:{{catalog}}", HUGE_TAG_MEMBERS, score, f"{ns}:{HEALTHY}:"
    )
    assert members == HUGE_TAG_MEMBERS
    healthy_stats(client, ns)


def stale_stats(client: Client, url: str, ns: str) -> None:
    """Healthy figures, last published two hours ago."""
    healthy(url, ns)
    healthy_stats(client, ns, age=7200)


def foreign_values(client: Client, url: str, ns: str) -> None:
    """Values another program wrote under the namespace: JSON, a pickle, a hash, and one with
    cachectl's header over a corrupt payload."""
    healthy(url, ns)
    client.set(f"{ns}:legacy:1", b'{"user": 1, "name": "Ada"}', ex=600)
    client.set(f"{ns}:legacy:2", pickle.dumps({"user": 2}), ex=600)
    client.hset(f"{ns}:legacy:3", mapping={"user": 3})
    client.expire(f"{ns}:legacy:3", 600)
    client.set(f"{ns}:legacy:4", b"\xc1\x01\x00\xc1\xc1garbage", ex=600)
    healthy_stats(client, ns)


def breaker_opened(client: Client, url: str, ns: str) -> None:
    """Healthy figures from a publisher that reports its breaker: it opened three times."""
    healthy(url, ns)
    extra = {LAYOUT_FIELD: 2, OPENED_FIELD: 3, OWED_FIELD: 42}
    healthy_stats(client, ns, extra=extra)


def breaker_quiet(client: Client, url: str, ns: str) -> None:
    """The same publisher with nothing to report: no finding."""
    healthy(url, ns)
    healthy_stats(client, ns, extra={LAYOUT_FIELD: 2})


def slow_prefix(client: Client, url: str, ns: str) -> None:
    """A prefix whose reads take 2 s (far above any round trip, even on a busy machine)."""
    healthy(url, ns)
    healthy(url, ns, "search", 10)
    publish(
        client,
        ns,
        {HEALTHY: (9000, 1000, 1000), "search": (900, 100, 100)},
        latency_us={"search": (1000, 2_000_000)},
    )


def fallback_served(client: Client, url: str, ns: str) -> None:
    """A prefix with 5% of its calls served by the fallback store."""
    healthy(url, ns)
    healthy_stats(client, ns, extra={f"fallback:{HEALTHY}".encode(): 550})


def uncompressed(client: Client, url: str, ns: str) -> None:
    """Values in cachectl's format, 20 KB of repetitive text stored without compression (as a
    writer with compression off leaves them)."""
    import msgpack

    healthy(url, ns)
    payload = msgpack.packb("lorem ipsum dolor sit amet " * 800)
    for i in range(3):
        client.set(f"{ns}:{HEALTHY}:raw{i}", b"\xc1\x01\x00" + payload, ex=600)
    healthy_stats(client, ns)


def compression_unpaid(client: Client, url: str, ns: str) -> None:
    """lz4-compressed values that shrank by 2% (random bytes with a repeated tail)."""
    import lz4.block
    import msgpack

    healthy(url, ns)
    payload = msgpack.packb(os.urandom(6000) + b"a" * 200)
    packed = lz4.block.compress(payload, store_size=True)
    assert 1 < len(payload) / len(packed) < 1.1
    for i in range(3):
        client.set(f"{ns}:{HEALTHY}:img{i}", b"\xc1\x01\x01" + packed, ex=600)
    healthy_stats(client, ns)


def healthy_namespace(client: Client, url: str, ns: str) -> None:
    """A namespace in good health, used through the library: every entry with a TTL, read
    nine times for each write, stats published by the cache itself. Its latencies are then
    set to 200 µs each: how long a call took on a busy shared machine is no test input (the
    slow-prefix rule has a test of its own)."""
    with Cache(url, namespace=ns, socket_timeout=5.0, connect_timeout=5.0) as cache:
        for i in range(60):
            cache.set(f"{HEALTHY}:{i}", {"id": i}, ttl=600, tags=[f"section{i % 3}"])
        for _ in range(9):
            for i in range(60):
                assert cache.get(f"{HEALTHY}:{i}") == {"id": i}
        for i in range(60, 67):
            assert cache.get(f"{HEALTHY}:{i}") is None
        cache.publish_stats()
    key = f"{ns}#stats"
    timed = [name for name in client.hkeys(key) if name.startswith(b"lat:")]
    calls = sum(int(n) for n in client.hmget(key, timed))
    assert calls == 9 * 60 + 7
    client.hdel(key, *timed)
    client.hset(key, f"lat:{HEALTHY}:{bucket_of(200)}", calls)


Seeder = Callable[[Client, str, str], None]

#: Each situation, and the finding ids the doctor must report for it (and no other).
SITUATIONS: dict[str, tuple[Seeder, set[str]]] = {
    "low hit ratio": (low_hit_ratio, {"cache-not-helping"}),
    "write-only prefix": (write_only, {"never-read"}),
    "keys without TTL": (no_ttl, {"no-ttl"}),
    "2 MB value": (big_value, {"big-values"}),
    "200k-member tag": (huge_tag, {"huge-tag"}),
    "stale stats": (stale_stats, {"stats-stale"}),
    "foreign values": (foreign_values, {"undecodable"}),
    "breaker opened": (breaker_opened, {"breaker-opened"}),
    "breaker published, quiet": (breaker_quiet, set()),
    "slow prefix": (slow_prefix, {"slow-prefix"}),
    "fallback served": (fallback_served, {"fallback-served"}),
    "uncompressed values": (uncompressed, {"uncompressed-values"}),
    "compression that does not pay": (compression_unpaid, {"compression-unpaid"}),
    "healthy": (healthy_namespace, set()),
}


def seed_everything(client: Client, url: str, ns: str) -> set[str]:
    """Every situation in one namespace (the namespace-wide ones once); the ids expected."""
    expected: set[str] = set()
    for name, (seeder, ids) in SITUATIONS.items():
        if name in ("healthy", "breaker published, quiet", "stale stats", "breaker opened"):
            continue
        fields = dict(client.hgetall(f"{ns}#stats"))
        seeder(client, url, ns)
        merged = {**fields, **client.hgetall(f"{ns}#stats")}
        client.delete(f"{ns}#stats")
        client.hset(f"{ns}#stats", mapping=merged)
        expected |= ids
    client.hset(f"{ns}#stats", mapping={LAYOUT_FIELD: 2, OPENED_FIELD: 1, OWED_ALL_FIELD: 1})
    client.expire(f"{ns}#stats", STATS_TTL - 7200)
    return expected | {"breaker-opened", "stats-stale"}
