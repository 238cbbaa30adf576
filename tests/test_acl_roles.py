"""The three roles of docs/acl.md, each run as its ACL user on a real redis-server.

The `ACL SETUSER` lines are read from docs/acl.md, so the documented rules are the ones
tested: the application's every call works against Redis (nothing served from the fallback,
nothing refused), the operator's commands and the page's read-only token work, the flusher
flushes, and what a role may not do is one line on stderr with exit status 3, nothing deleted.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import AsyncCache, Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult
from tests.servers import RedisCluster, RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

DOC = Path(__file__).resolve().parent.parent / "docs" / "acl.md"
Run = Callable[..., CliResult]
PASSWORD = "role-pw"


def documented_rules() -> dict[str, list[str]]:
    """Each documented user's ACL SETUSER arguments (after the name), by user name."""
    rules: dict[str, list[str]] = {}
    for line in DOC.read_text().splitlines():
        if line.startswith("ACL SETUSER "):
            _acl, _setuser, user, *args = line.split()
            rules[user] = args
    return rules


def cluster_extras() -> list[str]:
    """The rules docs/acl.md adds for a cluster."""
    found = re.search(r"On a Redis Cluster, also allow `([^`]+)`", DOC.read_text())
    assert found is not None, "docs/acl.md names the cluster's extra rules"
    return found.group(1).split()


def rules_for(user: str, namespace: str) -> list[str]:
    """A documented user's rules for namespace, with the test's password."""
    out = []
    for arg in documented_rules()[user]:
        arg = re.sub(r"~shop([:#])", rf"~{namespace}\1", arg)
        out.append(f">{PASSWORD}" if arg.startswith(">") else arg)
    return out


def url_as(url: str, user: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{PASSWORD}@{rest}"


@pytest.fixture
def roles(redis_server: RedisServer, redis_url: str, namespace: str) -> Iterator[dict[str, str]]:
    """The documented users on the shared server (flushed), for this test's namespace: role
    name -> URL."""
    users = {"app": "cachectl-app", "operator": "cachectl-operator", "flusher": "cachectl-flusher"}
    with redis_server.client() as admin:
        for user in users.values():
            admin.execute_command("ACL", "SETUSER", user, *rules_for(user, namespace))
    try:
        yield {role: url_as(redis_url, user) for role, user in users.items()}
    finally:
        with redis_server.client() as admin:
            admin.execute_command("ACL", "DELUSER", *users.values())


def test_the_documented_roles_are_three_and_namespace_bound() -> None:
    rules = documented_rules()
    assert set(rules) == {"cachectl-app", "cachectl-operator", "cachectl-flusher"}
    for user, args in rules.items():
        assert args[0] == "reset", user  # running the line again gives exactly these rules
        patterns = [arg for arg in args if "~" in arg]
        assert patterns and all(re.search(r"~shop[:#]", p) for p in patterns), user
        assert not any(arg in ("+@all", "allcommands", "allkeys", "~*") for arg in args), user


# -- the application ----------------------------------------------------------------------------


def _no_warnings(caplog: pytest.LogCaptureFixture) -> None:
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == []


def _exercise(cache: Cache) -> None:
    cache.set("product:1", {"name": "lamp"}, ttl=60, tags=("products",))
    cache.set_many({"product:2": 2, "product:3": 3}, ttl=60)
    assert cache.get("product:1") == {"name": "lamp"}
    assert cache.get_many(["product:2", "product:3", "product:9"]) == {
        "product:2": 2,
        "product:3": 3,
    }
    assert cache.add("lock:1", 1, ttl=10) and not cache.add("lock:1", 2, ttl=10)
    cache.set("visits", 0)
    assert cache.incr("visits") == 1 and cache.decr("visits", 3) == -2
    assert cache.touch("product:1", ttl=120)
    ttl = cache.ttl("product:1")
    assert isinstance(ttl, float) and 100 < ttl <= 120
    assert cache.has("product:2")
    assert cache.get_or_set("config", lambda: {"on": True}, ttl=30) == {"on": True}

    @cache.cached(ttl=60, prefix="report")
    def report(region: str) -> str:
        return f"report {region}"

    assert report("eu") == report("eu") == "report eu"
    report.invalidate("eu")
    assert cache.delete("product:3") == 1
    assert cache.invalidate_prefix("lock") >= 1
    assert cache.invalidate_pattern("visit*") >= 1
    assert cache.invalidate_tag("products") == 1
    assert cache.get("product:1") is None


def test_application_role_every_call_reaches_redis(
    roles: dict[str, str],
    namespace: str,
    raw_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cachectl")
    with Cache(roles["app"], namespace=namespace, stats_interval=0.01, **PATIENT) as cache:
        _exercise(cache)
        cache.set("kept", "in redis")
        assert cache.breaker_state == "closed"
        assert sum(c.fallback + c.errors for c in cache.recorder.prefixes.values()) == 0
    assert raw_redis.exists(f"{namespace}:kept")
    published = raw_redis.hgetall(f"{namespace}#stats")
    assert published, "the stats were published as the application user"
    clients = [c for c in raw_redis.client_list() if c.get("user") == "cachectl-app"]
    assert all(c["name"] == "cachectl" for c in clients)
    _no_warnings(caplog)


async def test_application_role_asyncio(
    roles: dict[str, str],
    namespace: str,
    raw_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cachectl")
    async with AsyncCache(roles["app"], namespace=namespace, **PATIENT) as cache:
        await cache.set("a:1", 1, tags=("t",))
        await cache.set_many({"a:2": 2, "a:3": 3})
        assert await cache.get_many(["a:1", "a:2"]) == {"a:1": 1, "a:2": 2}
        assert await cache.incr("a:2", 5) == 7
        assert await cache.invalidate_tag("t") == 1
        assert await cache.invalidate_prefix("a") == 2
        await cache.set("kept", 1)
        assert cache.breaker_state == "closed"
    assert raw_redis.exists(f"{namespace}:kept")
    _no_warnings(caplog)


@pytest.mark.cluster
def test_application_role_on_a_cluster(
    redis_cluster: RedisCluster, cluster_url: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachectl")
    user = "cachectl-app"
    rules = [*rules_for(user, namespace), *cluster_extras()]
    for node in redis_cluster.nodes:
        with node.client() as admin:
            admin.execute_command("ACL", "SETUSER", user, *rules)
    try:
        with Cache(url_as(cluster_url, user), namespace=namespace, **PATIENT) as cache:
            _exercise(cache)
            cache.set("kept", 1)
            assert cache.get("kept") == 1
            assert cache.breaker_state == "closed"
        _no_warnings(caplog)
    finally:
        for node in redis_cluster.nodes:
            with node.client() as admin:
                admin.execute_command("ACL", "DELUSER", user)


def test_application_role_cannot_reach_another_namespace(
    roles: dict[str, str], namespace: str, raw_redis: redis.Redis
) -> None:
    raw_redis.set("other:secret", b"x")
    with (
        redis.Redis.from_url(roles["app"]) as client,
        pytest.raises(redis.exceptions.NoPermissionError),
    ):
        client.get("other:secret")


# -- the operator ---------------------------------------------------------------------------


@pytest.fixture
def seeded(redis_url: str, namespace: str) -> Iterator[str]:
    """Entries, a tag and published stats in the namespace, written by an all-powerful user."""
    with Cache(redis_url, namespace=namespace, stats_interval=0.01, **PATIENT) as cache:
        for i in range(20):
            # Random bytes: no compression, so size grows with i (past allocator size classes).
            value = random.Random(i).randbytes(1000 * i * i)
            cache.set(f"product:{i}", value, ttl=600, tags=("catalog",) if i < 5 else ())
            cache.get(f"product:{i}")
        cache.set("session:1", {"user": 1})
    yield namespace


def _one_line_error(result: CliResult, *words: str) -> None:
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cachectl: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_operator_role_runs_every_read_only_command(
    roles: dict[str, str], seeded: str, run_script: Run
) -> None:
    base = ["--url", roles["operator"], "--namespace", seeded]
    stats = run_script(*base, "stats", "--json")
    assert stats.exit_code == 0, stats.stderr
    doc = stats.json()
    server = doc["servers"][0]
    assert server["version"] and server["used_memory"] > 0 and server["note"] is None
    assert doc["notes"] == []
    assert {row["prefix"] for row in doc["prefixes"]} >= {"product", "session"}
    assert all(row["memory"] for row in doc["prefixes"] if row["keys"])

    top = run_script(*base, "keys", "--top", "3", "--json")
    assert top.exit_code == 0, top.stderr
    listing = top.json()
    assert listing["ranked_by"] == "memory_usage"
    assert {row["key"] for row in listing["keys"]} == {"product:19", "product:18", "product:17"}

    for args in (
        ("keys",),
        ("keys", "--prefix", "product", "--sort", "ttl"),
        ("inspect", "product:3"),
        ("latency", "--samples", "3", "--interval", "0"),
        ("namespaces",),
        ("flush", "--all", "--dry-run"),
    ):
        result = run_script(*base, *args)
        assert result.exit_code == 0, (args, result.stderr)
        assert "error" not in result.stderr, (args, result.stderr)


def test_operator_role_cannot_flush(
    roles: dict[str, str], seeded: str, run_script: Run, raw_redis: redis.Redis
) -> None:
    before = sorted(set(raw_redis.scan_iter(match=f"{seeded}*")))
    for args in (("--all",), ("--prefix", "product"), ("--tag", "catalog"), ("--key", "session:1")):
        result = run_script(
            "--url", roles["operator"], "--namespace", seeded, "flush", *args, "--yes"
        )
        assert result.exit_code == 3, (args, result.stderr)
        _one_line_error(result, "NOPERM", "docs/acl.md")
    assert sorted(set(raw_redis.scan_iter(match=f"{seeded}*"))) == before  # nothing deleted


async def test_operator_page_read_only_token(
    roles: dict[str, str], seeded: str, raw_redis: redis.Redis
) -> None:
    """cachectl ui as the operator: the read-only token's calls work; a change asked with the
    admin token is a JSON error naming the refusal, and changes nothing."""
    admin, reader = "admin-token-acl", "reader-token-acl"
    with Cache(roles["operator"], namespace=seeded, **PATIENT) as cache:
        app = FastAPI()
        app.include_router(admin_router(cache, token=admin, read_only_token=reader), prefix="/c")
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://acl.test") as client:
            as_reader = {"Authorization": f"Bearer {reader}"}
            for method, path, params in (
                ("GET", "/c/api/overview", {}),
                ("GET", "/c/api/keys", {"prefix": "product"}),
                ("GET", "/c/api/keys/top", {"n": "3"}),
                ("GET", "/c/api/key", {"key": "product:2"}),
                ("POST", "/c/api/latency", {}),
                ("GET", "/c/api/audit", {}),
                ("GET", "/c/api/doctor", {"sample": "100"}),
            ):
                response = await client.request(method, path, params=params, headers=as_reader)
                assert response.status_code == 200, (path, response.text)
            response = await client.request(
                "DELETE",
                "/c/api/key",
                params={"key": "product:2"},
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert 400 <= response.status_code < 600 and response.status_code != 500
            assert "NOPERM" in response.json()["detail"]
    assert raw_redis.exists(f"{seeded}:product:2")


# -- the flusher ----------------------------------------------------------------------------


def test_flusher_role_flushes_and_records(
    roles: dict[str, str], seeded: str, run_script: Run, raw_redis: redis.Redis
) -> None:
    base = ["--url", roles["flusher"], "--namespace", seeded, "flush"]
    dry = run_script(*base, "--prefix", "product", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert raw_redis.exists(f"{seeded}:product:1")
    by_tag = run_script(*base, "--tag", "catalog", "--yes")
    assert by_tag.exit_code == 0, by_tag.stderr
    assert not raw_redis.exists(f"{seeded}:product:1")
    assert raw_redis.exists(f"{seeded}:product:7")
    by_key = run_script(*base, "--key", "session:1", "--yes")
    assert by_key.exit_code == 0, by_key.stderr
    everything = run_script(*base, "--all", "--yes")
    assert everything.exit_code == 0, everything.stderr
    assert sorted(set(raw_redis.scan_iter(match=f"{seeded}:*"))) == []
    audit = [json.loads(entry) for entry in raw_redis.lrange(f"{seeded}#audit", 0, -1)]
    assert len(audit) == 3 and {entry["action"] for entry in audit} == {"flush"}


def test_flusher_role_cannot_read(roles: dict[str, str], seeded: str, run_script: Run) -> None:
    result = run_script("--url", roles["flusher"], "--namespace", seeded, "stats")
    assert result.exit_code == 3
    _one_line_error(result, "HGETALL", "NOPERM")
    result = run_script("--url", roles["flusher"], "--namespace", seeded, "inspect", "product:1")
    assert result.exit_code == 3
    _one_line_error(result, "NOPERM")
    # The latency canary is written as the user first: its refusal is one line, not the
    # library's fallback and a failed probe.
    result = run_script("--url", roles["flusher"], "--namespace", seeded, "latency")
    assert result.exit_code == 3
    _one_line_error(result, "refused this user SET", "NOPERM")
