"""GET /api/doctor, the Advice view's diagnosis: the admin router runs ops.doctor.diagnose, the
operation behind `cachectl doctor`, on a real redis-server seeded with the situations of
issue 20 (as tests/test_doctor.py seeds them), and answers its JSON document.

It is read-only and open to the read-only token; its query is bounded like every other
route's (tests/test_admin_bounds.py has its fields too); an empty namespace is the finding
'empty', as on the command line; Redis unreachable is a 503; a server's non-finite figure is
no figure, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import Cache
from cachectl.cli.common import MAXIMA
from cachectl.config import CacheConfig
from cachectl.contrib.fastapi import admin_router
from cachectl.ops.connect import connection
from cachectl.ops.doctor import DEFAULT_SAMPLE, MAX_SAMPLE, diagnose, settings
from cachectl.stats import STATS_TTL
from cachectl.testing import PATIENT
from tests.doctor_support import HEALTHY, SITUATIONS, Client
from tests.servers import RedisCluster, RedisServer

ADMIN, READER = "doctor-admin-token", "doctor-read-token"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_READER = {"Authorization": f"Bearer {READER}"}
HOSTILE = "<img src=x onerror=alert(1)>"
#: The situations seeded together, as the issue's list starts.
SEEDED = ("low hit ratio", "write-only prefix", "keys without TTL", "2 MB value")
EXPECTED = {"cache-not-helping", "never-read", "no-ttl", "big-values"}


def seed(client: Client, url: str, ns: str, names: tuple[str, ...] = SEEDED) -> set[str]:
    """The situations in one namespace, their published figures merged (each seeder writes
    the whole stats hash); the finding ids expected of them."""
    key = f"{ns}#stats"
    merged: dict[bytes, bytes] = {}
    expected: set[str] = set()
    for name in names:
        seeder, ids = SITUATIONS[name]
        seeder(client, url, ns)
        merged.update(client.hgetall(key))
        expected |= ids
    client.delete(key)
    client.hset(key, mapping=merged)  # type: ignore[arg-type]
    client.expire(key, STATS_TTL)
    return expected


def namespace_findings(doc: dict[str, Any]) -> set[str]:
    """The ids of the findings about the namespace's data (a shared test server's own
    settings, such as no maxmemory, are findings about a node)."""
    return {f["id"] for f in doc["findings"] if f["subject"]["kind"] != "node"}


def finding(doc: dict[str, Any], finding_id: str) -> dict[str, Any]:
    found = [f for f in doc["findings"] if f["id"] == finding_id]
    assert len(found) == 1, [f["id"] for f in doc["findings"]]
    return found[0]


def strict(text: str) -> Any:
    """JSON as a browser parses it: no NaN or Infinity."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in the answer")

    return json.loads(text, parse_constant=refuse)


@dataclass
class Site:
    client: httpx.AsyncClient
    url: str
    ns: str

    async def doctor(self, headers: dict[str, str] = AS_READER, **params: Any) -> httpx.Response:
        return await self.client.get("/_cache/api/doctor", params=params, headers=headers)


def _app(cache: Cache) -> FastAPI:
    app = FastAPI()
    app.include_router(admin_router(cache, token=ADMIN, read_only_token=READER), prefix="/_cache")
    return app


@pytest.fixture
async def site(redis_url: str, namespace: str) -> AsyncIterator[Site]:
    """The router over the shared server (flushed), for namespace."""
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        transport = httpx.ASGITransport(app=_app(cache), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as http:
            yield Site(http, redis_url, namespace)


@pytest.fixture
def raw(redis_server: RedisServer, redis_url: str) -> Iterator[redis.Redis]:
    with redis_server.client() as client:
        yield client


def snapshot(client: redis.Redis) -> dict[bytes, tuple[bytes, int]]:
    """Every key of the database with its type and whether it expires."""
    return {k: (client.type(k), client.pttl(k) > 0) for k in client.scan_iter(count=1000)}


# -- the diagnosis -----------------------------------------------------------------------------


async def test_the_route_answers_the_seeded_findings(site: Site, raw: redis.Redis) -> None:
    assert seed(raw, site.url, site.ns) == EXPECTED
    response = await site.doctor()
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    doc = strict(response.text)
    assert namespace_findings(doc) == EXPECTED
    assert doc["namespace"] == site.ns and doc["prefix"] is None
    assert doc["scope"]["sample_limit"] == DEFAULT_SAMPLE
    assert doc["scope"]["entries"] == 40 + 20 + 30 + 12 + 1  # pages, users, audit, settings
    assert sum(doc["counts"].values()) == len(doc["findings"])

    users = finding(doc, "cache-not-helping")
    assert users["severity"] == "warning"
    assert users["subject"] == {"kind": "prefix", "name": "users"}
    figures = {f["name"]: f for f in users["evidence"]}
    assert figures["hit_ratio"]["value"] == pytest.approx(0.1)
    assert figures["hit_ratio"]["unit"] == "ratio"
    assert "Raise the TTL of 'users'" in users["recommendation"]
    assert finding(doc, "never-read")["subject"]["name"] == "audit"
    no_ttl = finding(doc, "no-ttl")
    assert no_ttl["affected"]["kind"] == "key" and no_ttl["affected"]["total"] == 12
    assert {i["name"] for i in no_ttl["affected"]["items"]} <= {f"settings:{i}" for i in range(12)}
    big = finding(doc, "big-values")
    assert big["affected"]["items"] == [{"name": "reports:annual"}]
    largest = {f["name"]: f["value"] for f in big["evidence"]}["largest_stored"]
    assert largest > 2 * 1024 * 1024


async def test_it_is_the_operation_of_the_command_line(site: Site, raw: redis.Redis) -> None:
    seed(raw, site.url, site.ns)
    doc = (await site.doctor(sample=50)).json()
    config = CacheConfig(url=site.url, namespace=site.ns, **PATIENT)
    with connection(config) as conn:
        direct = diagnose(conn, None, 50).to_dict()

    def shape(d: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (f["id"], f["severity"], f["subject"]["name"], f["affected"] and f["affected"]["total"])
            for f in d["findings"]
        ]

    assert shape(doc) == shape(direct)
    assert set(doc) == set(direct)
    assert doc["scope"]["sampled"] == direct["scope"]["sampled"] == 50


async def test_a_prefix_narrows_the_diagnosis(site: Site, raw: redis.Redis) -> None:
    seed(raw, site.url, site.ns)
    doc = (await site.doctor(prefix="users")).json()
    assert doc["prefix"] == "users"
    assert namespace_findings(doc) == {"cache-not-helping"}
    assert doc["scope"]["entries"] == 20
    assert any("Tag sets are not examined" in note for note in doc["notes"])
    # An empty prefix is no prefix, as in the key browser's filters.
    whole = (await site.doctor(prefix="")).json()
    assert whole["prefix"] is None and namespace_findings(whole) == EXPECTED


async def test_the_read_only_token_may_and_nothing_changes(site: Site, raw: redis.Redis) -> None:
    seed(raw, site.url, site.ns)
    before = snapshot(raw)
    stats = raw.hgetall(f"{site.ns}#stats")
    for headers in (AS_READER, AS_ADMIN):
        response = await site.doctor(headers)
        assert response.status_code == 200, response.text
    assert snapshot(raw) == before
    assert raw.hgetall(f"{site.ns}#stats") == stats
    no_token = await site.doctor({})
    assert no_token.status_code == 401 and set(no_token.json()) == {"detail"}
    wrong = await site.doctor({"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403


async def test_an_empty_namespace_is_the_empty_finding(site: Site, raw: redis.Redis) -> None:
    response = await site.doctor()
    assert response.status_code == 200, response.text
    doc = response.json()
    empty = finding(doc, "empty")
    assert empty["severity"] == "warning"
    assert empty["subject"] == {"kind": "namespace", "name": site.ns}
    assert f"namespace '{site.ns}'" in empty["title"]
    # A prefix holding nothing, in a namespace that holds something.
    seed(raw, site.url, site.ns, ("keys without TTL",))
    doc = (await site.doctor(prefix="nothing-here")).json()
    assert finding(doc, "empty")["subject"] == {"kind": "prefix", "name": "nothing-here"}


async def test_the_sample_is_bounded_and_used(site: Site, raw: redis.Redis) -> None:
    seed(raw, site.url, site.ns, ("keys without TTL",))
    doc = (await site.doctor(sample=5)).json()
    assert doc["scope"]["sample_limit"] == 5 and doc["scope"]["sampled"] <= 5
    no_ttl = finding(doc, "no-ttl")
    assert no_ttl["sample"]["exact"] is False  # 5 entries read of the prefix's 12
    assert any(f["estimated"] for f in no_ttl["evidence"])
    for refused in ("0", "-1", str(MAX_SAMPLE + 1), "1e400", "inf", "NaN", "2.5", "x"):
        response = await site.doctor(sample=refused)
        assert response.status_code == 422, (refused, response.text)
        assert set(response.json()) == {"detail"} and len(response.content) < 2000
    # The command line's bound is the route's.
    assert MAXIMA["sample_size"] == MAX_SAMPLE


@pytest.mark.parametrize("prefix", [":", "::"])
async def test_a_prefix_that_names_nothing_is_a_422(site: Site, prefix: str) -> None:
    response = await site.doctor(prefix=prefix)
    assert response.status_code == 422, response.text[:300]
    assert response.json() == {"detail": "prefix needs a non-empty prefix"}


@pytest.mark.parametrize("prefix", ["*", "user*", "[a-z]*", "?"])
async def test_a_prefix_is_a_name_not_a_glob(site: Site, raw: redis.Redis, prefix: str) -> None:
    seed(raw, site.url, site.ns, ("keys without TTL",))
    doc = (await site.doctor(prefix=prefix)).json()
    assert doc["scope"]["entries"] == 0
    assert namespace_findings(doc) == {"empty"}


async def test_hostile_names_come_back_as_data(site: Site, raw: redis.Redis) -> None:
    with Cache(site.url, namespace=site.ns, **PATIENT) as cache:
        cache.set(HOSTILE, "x")  # no TTL: a no-ttl finding about the prefix '<img src=x ...'
        cache.set(f"{HOSTILE}:2", "y")
    raw.set(f"{site.ns}:bin:".encode() + b"\xff", b"v")  # not UTF-8, no TTL
    doc = (await site.doctor()).json()
    subjects = {f["subject"]["name"] for f in doc["findings"] if f["id"] == "no-ttl"}
    assert HOSTILE in subjects
    keys = {i["name"]: i for f in doc["findings"] for i in (f["affected"] or {}).get("items", [])}
    assert HOSTILE in keys
    binary = [i for i in keys.values() if "hex" in i]
    assert binary and bytes.fromhex(binary[0]["hex"]) == b"bin:\xff"


async def test_an_outage_is_a_503(own_redis: RedisServer) -> None:
    with Cache(own_redis.url, namespace="outage", socket_timeout=1.0, connect_timeout=1.0) as c:
        transport = httpx.ASGITransport(app=_app(c), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            own_redis.stop()
            response = await http.get("/_cache/api/doctor", headers=AS_READER)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert f"cannot reach {own_redis.url}" in response.json()["detail"]


async def test_a_non_finite_server_figure_is_no_figure(
    site: Site, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server (or a proxy in front of it) answering INFO with 'inf' and 'nan': redis-py parses
    # them as floats, which JSON cannot carry.
    real = redis.Redis.info

    def hostile_info(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        found = dict(real(self, *args, **kwargs))
        return {**found, "mem_fragmentation_ratio": float("inf"), "used_memory_rss": 1 << 40}

    monkeypatch.setattr(redis.Redis, "info", hostile_info)
    seed(raw, site.url, site.ns, ("keys without TTL",))
    response = await site.doctor()
    assert response.status_code == 200, response.text
    doc = strict(response.text)
    assert [s["fragmentation"] for s in doc["servers"]] == [None]
    assert "fragmentation" not in {f["id"] for f in doc["findings"]}
    assert settings._float({"x": "nan"}, "x") is None
    assert settings._float({"x": "1.25"}, "x") == 1.25


@pytest.mark.cluster
async def test_on_a_cluster_every_primary_is_examined(
    redis_cluster: RedisCluster, cluster_url: str, namespace: str
) -> None:
    client = redis_cluster.client()
    try:
        seed(client, cluster_url, namespace, ("keys without TTL",))
    finally:
        client.close()
    with Cache(cluster_url, namespace=namespace, **PATIENT) as cache:
        transport = httpx.ASGITransport(app=_app(cache), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/_cache/api/doctor", headers=AS_READER)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["cluster"] is True and doc["scope"]["primaries"] == 3
    assert namespace_findings(doc) == {"no-ttl"}
    assert doc["scope"]["entries"] == 40 + 12
    assert finding(doc, "no-ttl")["affected"]["total"] == 12
    assert HEALTHY not in {f["subject"]["name"] for f in doc["findings"]}
