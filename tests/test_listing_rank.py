"""The ranked listings (keys --top, --sort memory|ttl) against a brute-force ranking on a real
server: the keys chosen score exactly the n best scores, whether the server ranks each SCAN
step in a script or, where scripts are refused, the client ranks."""

from __future__ import annotations

import random

import pytest

import cachectl.ops.listing as listing
from cachectl.config import build_config
from cachectl.ops.connect import connection
from cachectl.ops.selection import select
from tests.servers import RedisServer

LAST = 1 << 62


def _fill(server: RedisServer, seed: int) -> None:
    """Keys of a few sizes (many ties) and TTLs, some without, and a foreign key or two."""
    rng = random.Random(seed)
    with server.client() as raw:
        pipe = raw.pipeline(transaction=False)
        for i in range(300):
            size = rng.choice((1, 10, 10, 100, 100, 100, 1000, 5000))
            ttl = rng.choice((None, None, 50_000, 60_000, 60_000, 120_000))
            pipe.set(f"rank:e:{i}", b"x" * size, px=ttl)
        pipe.hset("rank:h:1", mapping={f"f{j}": "v" * 50 for j in range(40)})
        pipe.set("other:big", b"y" * 100_000)  # outside the namespace
        pipe.execute()


def _expected(server: RedisServer, sort: str, n: int) -> list[int]:
    """The n best scores in sort order, by asking the server about every key."""
    with server.client() as raw:
        keys = list(raw.scan_iter(b"rank:*"))
        if sort == "memory":
            scores = [-raw.memory_usage(key) for key in keys]
        else:
            scores = [t if (t := raw.pttl(key)) >= 0 else LAST for key in keys]
    return sorted(scores)[:n]


def _scores(rows: list[listing.KeyInfo], sort: str) -> list[int]:
    if sort == "memory":
        return sorted(-(row.memory or 0) for row in rows)
    return sorted(row.ttl_ms if row.ttl_ms is not None else LAST for row in rows)


@pytest.mark.parametrize("scripts", [True, False], ids=["server-side", "scripts-refused"])
@pytest.mark.parametrize("sort", ["memory", "ttl"])
@pytest.mark.parametrize("n", [1, 7, 40])
@pytest.mark.parametrize("step", [13, 4000])
def test_the_chosen_keys_score_the_n_best_scores(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    scripts: bool,
    sort: str,
    n: int,
    step: int,
) -> None:
    url = redis_url if scripts else str(request.getfixturevalue("no_script_url"))
    _fill(redis_server, seed=n * step)
    monkeypatch.setattr(listing, "STEP_COUNT", step)  # small steps: many script calls
    config = build_config(url, namespace="rank", socket_timeout=10.0)
    with connection(config) as conn:
        chosen = listing.list_keys(conn, select(conn.keys, required=False), n, sort, step)
    assert chosen.matched is not None and chosen.matched >= 301
    expected = _expected(redis_server, sort, n)
    # TTLs tick down between the two readings: compare them to the second.
    tolerance = 0 if sort == "memory" else 5_000
    got = _scores(chosen.rows, sort)
    assert len(got) == n
    assert all(abs(a - b) <= tolerance for a, b in zip(got, expected, strict=True)), (got, expected)
    assert all(not row.key.startswith(b"other") for row in chosen.rows)


@pytest.mark.parametrize("n", [1, 7, 40, 1000])
def test_name_order_lists_the_first_n_names_of_the_whole_selection(
    redis_server: RedisServer, redis_url: str, n: int
) -> None:
    _fill(redis_server, seed=n)
    config = build_config(redis_url, namespace="rank", socket_timeout=10.0)
    with connection(config) as conn:
        chosen = listing.list_keys(conn, select(conn.keys, required=False), n, "name", 13)
    with redis_server.client() as raw:
        names = sorted(key.removeprefix(b"rank:") for key in raw.scan_iter(b"rank:*"))
    assert [row.key for row in chosen.rows] == names[:n]
