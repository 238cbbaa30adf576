"""Redis Sentinel: redis+sentinel:// URLs, both faces, a failover under load, the CLI and the page.

Each group is one primary, one replica and three of Debian's redis-sentinel, started on free
ports by tests/servers.py (Sentinel's timeouts set low: a failover takes a second or two).
The failover tests run bench/failover.py's workload (soak.py's: 8 threads or 20 tasks reading
and writing 4:1) while the primary is killed, and assert what must hold whatever the timing:
no exception reaches the caller, no read is stale, writes reach the new primary. Its timings
(p99 during the failover, seconds until writes arrive) are the benchmark's to print.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import AsyncCache, Cache, CacheConfig, ConfigError, redact_url
from cachectl.contrib.fastapi import admin_router
from cachectl.ops.connect import connection
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult
from tests.servers import SERVICE, Certificates, SentinelGroup
from tests.test_page_browser import browser, page  # noqa: F401  (the page's browser fixtures)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import failover  # bench/failover.py: the workload, shared with the benchmark

PASSWORD, SENTINEL_PASSWORD = "node-pw-Kx7", "sentinel-pw-Jv3"
Run = Callable[..., CliResult]


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    """A group for the tests that leave its primary alone (nodes and Sentinels with passwords)."""
    with SentinelGroup(password=PASSWORD, sentinel_password=SENTINEL_PASSWORD) as servers:
        yield servers


@pytest.fixture
def sentinel_url(group: SentinelGroup) -> str:
    """The group's URL, its primary flushed."""
    with group.node(group.primary_port()).client() as client:
        client.flushall()
    return group.url


@pytest.fixture
def own_group() -> Iterator[SentinelGroup]:
    """A group of the test's own, free to lose its primary."""
    with SentinelGroup() as servers:
        yield servers


# -- URLs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sentinels", "service", "db"),
    [
        (
            "redis+sentinel://h1:1,h2:2,h3/mymaster",
            [("h1", 1), ("h2", 2), ("h3", 26379)],
            "mymaster",
            0,
        ),
        ("redis+sentinel://u:p@h1:1/svc.a-b_c/3", [("h1", 1)], "svc.a-b_c", 3),
        ("redis+sentinel://[::1]:5,h/m?db=2", [("::1", 5), ("h", 26379)], "m", 2),
        ("rediss+sentinel://h/m?ssl_cert_reqs=none&sentinel_password=x", [("h", 26379)], "m", 0),
    ],
)
def test_a_sentinel_url_names_every_sentinel_the_service_and_the_database(
    url: str, sentinels: list[tuple[str, int]], service: str, db: int
) -> None:
    config = CacheConfig(url, stats=False)
    parsed = config.parsed_url
    assert parsed is not None and parsed.sentinel and not config.cluster
    assert (list(parsed.sentinels), parsed.service, parsed.db) == (sentinels, service, db)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+sentinel://h:1", "no service name"),
        ("redis+sentinel://h:1/", "no service name"),
        ("redis+sentinel://h:1/m/x", "only a database number"),
        ("redis+sentinel://h:1/m%20n", "may hold only"),
        ("redis+sentinel://h:1,h:1/m", "named twice"),
        ("redis+sentinel://h:1,/m", "a Sentinel without a host"),
        ("redis+sentinel://h:0/m", "between 1 and 65535"),
        ("redis+sentinel://h/m/1?db=2", "two different database numbers"),
        ("redis+sentinel://h/m?ssl_cert_reqs=none", "rediss:// (TLS) URLs only"),
        ("redis://h/0?sentinel_password=x", "redis+sentinel:// URLs only"),
        ("redis+sentinel://h/m?sentinel_port=1", "unknown option"),
    ],
)
def test_a_bad_sentinel_url_says_what_is_wrong(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(reason)):
        CacheConfig(url)


def test_a_sentinel_url_is_not_a_cluster() -> None:
    with pytest.raises(ConfigError, match="not a cluster"):
        CacheConfig("redis+sentinel://h/m", cluster=True)


def test_both_passwords_are_redacted() -> None:
    url = f"redis+sentinel://app:{PASSWORD}@h1:1,h2:2/m?sentinel_username=s&sentinel_password={SENTINEL_PASSWORD}"
    shown = redact_url(url)
    assert shown == "redis+sentinel://app:***@h1:1,h2:2/m?sentinel_username=s&sentinel_password=***"
    config = CacheConfig(url, stats=False)
    for text in (repr(config), config.display_url, repr(Cache(url, stats=False))):
        assert PASSWORD not in text and SENTINEL_PASSWORD not in text


# -- both faces ------------------------------------------------------------------------------------


def test_the_sync_face_writes_to_the_primary_sentinel_names(
    group: SentinelGroup, sentinel_url: str
) -> None:
    with Cache(sentinel_url, namespace="faces", **PATIENT) as cache:
        cache.set("k", {"v": 1}, tags=["t"])
        assert cache.get("k") == {"v": 1}
        assert cache.get_many(["k", "absent"]) == {"k": {"v": 1}}
        cache.set("n", 1)
        assert cache.incr("n", 2) == 3
        with group.node(group.primary_port()).client() as raw:
            assert raw.exists(b"faces:k") == 1
        assert cache.invalidate_tag("t") == 1
        assert cache.get("k") is None


def test_the_async_face_writes_to_the_primary_sentinel_names(
    group: SentinelGroup, sentinel_url: str
) -> None:
    async def main() -> None:
        async with AsyncCache(sentinel_url, namespace="faces", **PATIENT) as cache:
            await cache.set("k", [1, 2])
            assert await cache.get("k") == [1, 2]
            assert await cache.delete("k") == 1
            await cache.set("j", "x")

    asyncio.run(main())
    with group.node(group.primary_port()).client() as raw:
        assert raw.exists(b"faces:j") == 1


def test_a_data_connection_slow_to_close_leaves_no_sentinel_connection_open(
    sentinel_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis.asyncio raises TimeoutError when a socket takes longer than connect_timeout to
    close (seen in CI under load): close() returns, and the Sentinel clients are closed too,
    so nothing is left for the garbage collector to warn about."""
    wait_closed = asyncio.StreamWriter.wait_closed

    async def slow(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        await wait_closed(writer)

    async def main() -> None:
        cache = AsyncCache(sentinel_url, namespace="slow-close", connect_timeout=0.05)
        await cache.set("k", 1)
        assert await cache.get("k") == 1
        monkeypatch.setattr(asyncio.StreamWriter, "wait_closed", slow)
        await cache.close()

    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(repr(report)))
    asyncio.run(main())
    gc.collect()
    assert unraisable == []


def test_a_wrong_sentinel_password_or_service_is_a_clear_error(
    group: SentinelGroup, run_script: Run
) -> None:
    wrong_password = group.url.replace(SENTINEL_PASSWORD, "nope")
    no_password = group.url.partition("?")[0]
    wrong_service = group.url.replace(f"/{SERVICE}/", "/other/")
    wrong_node_password = group.url.replace(PASSWORD, "nope")
    cases = [
        (wrong_password, 3, "refused the login"),
        (no_password, 3, "needs a password: set sentinel_password"),
        (wrong_service, 2, "monitors the service 'other' (they monitor: 'mymaster')"),
        (wrong_node_password, 3, "authentication refused"),
    ]
    for url, status, message in cases:
        result = run_script("--url", url, "stats", timeout=30)
        assert result.exit_code == status, result.stderr
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert PASSWORD not in result.stderr and SENTINEL_PASSWORD not in result.stderr


# -- which node is the primary ---------------------------------------------------------------------


def test_stats_names_the_primary(group: SentinelGroup, sentinel_url: str, run_script: Run) -> None:
    primary = f"127.0.0.1:{group.primary_port()}"
    # --allow-empty: nothing is cached here (without it, status 5 since issue 16).
    shown = run_script("--url", sentinel_url, "stats", "--allow-empty", env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.stderr
    assert primary in shown.stdout
    assert re.search(rf"primary of +{SERVICE} \(Sentinel\)", shown.stdout), shown.stdout
    report = run_script("--url", sentinel_url, "stats", "--json", "--allow-empty")
    assert report.exit_code == 0, report.stderr
    server = report.json()["servers"][0]
    assert (server["node"], server["sentinel_service"]) == (primary, SERVICE)
    assert SENTINEL_PASSWORD not in shown.stdout + report.stdout


def test_the_page_overview_names_the_primary(group: SentinelGroup, sentinel_url: str) -> None:
    async def main() -> dict[str, Any]:
        with Cache(sentinel_url, namespace="page", **PATIENT) as cache:
            cache.set("user:1", 1)
            app = FastAPI()
            app.include_router(admin_router(cache, token="t0ken"), prefix="/_cache")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://a.test") as client:
                reply = await client.get(
                    "/_cache/api/overview", headers={"Authorization": "Bearer t0ken"}
                )
                assert reply.status_code == 200, reply.text
                data: dict[str, Any] = reply.json()
                return data

    server = asyncio.run(main())["server"]
    assert server["primary"] == f"127.0.0.1:{group.primary_port()}"
    assert server["sentinel_service"] == SERVICE


# -- failover --------------------------------------------------------------------------------------


def _assert_survived(run: failover.Failover) -> None:
    summary = run.summary()
    detail = json.dumps(summary, indent=1)
    assert summary["exceptions"] == 0, detail
    assert (summary["stale_reads"], summary["phantom_reads"]) == (0, 0), detail
    assert run.promoted is not None, detail
    assert run.arrived is not None, f"no write through the cache reached the new primary: {detail}"
    assert run.closed is not None, detail
    assert summary["failover_calls"] > 0, detail


# Known issue: on a loaded machine, redis.asyncio's Sentinel discovery during the failover
# sometimes leaves connections for the garbage collector after close(); not yet traced.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_killed_primary_fails_over_with_no_exception_and_no_stale_read(
    own_group: SentinelGroup, face: str
) -> None:
    namespace = f"failover-{face}"
    if face == "sync":
        run = failover.run_sync(own_group, 0.5, False, namespace)
    else:
        run = asyncio.run(failover.run_async(own_group, 0.5, False, namespace))
    _assert_survived(run)
    assert run.new_port != run.old_port == run.summary()["old_primary"]


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the known issue above
@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_flush_issued_during_the_failover_completes_on_the_new_primary(
    own_group: SentinelGroup, face: str
) -> None:
    namespace = f"flush-{face}"
    if face == "sync":
        run = failover.run_sync(own_group, 0.5, True, namespace)
    else:
        run = asyncio.run(failover.run_async(own_group, 0.5, True, namespace))
    _assert_survived(run)
    assert run.flush is not None
    assert run.flush.status == 0, run.flush.output
    assert "Traceback" not in run.flush.output
    assert run.flush.survivors == []


def test_readonly_from_a_demoted_primary_sends_writes_to_the_new_one(
    own_group: SentinelGroup,
) -> None:
    # An operator's switch that the pooled connections do not see: the old primary is made a
    # replica (it keeps its clients), and the Sentinels are told of the new one.
    old = own_group.node(own_group.primary_port())
    new = next(n for n in own_group.nodes if n is not old)
    with Cache(own_group.url, namespace="ro", **PATIENT) as cache:
        for i in range(20):
            cache.set(f"k{i}", i)
        assert cache.get("k3") == 3
        with new.client() as raw_new, old.client() as raw_old:
            raw_new.replicaof("NO", "ONE")
            raw_old.replicaof("127.0.0.1", new.port)
        for sentinel in own_group.sentinels:
            with sentinel.client() as client:
                client.execute_command("SENTINEL", "REMOVE", SERVICE)
                client.execute_command("SENTINEL", "MONITOR", SERVICE, "127.0.0.1", new.port, 2)
        for i in range(20):
            cache.set(f"k{i}", i + 100)  # READONLY on the old connections: transient
        # The write that met READONLY is owed: a miss until replayed, never the old value.
        assert all(cache.get(f"k{i}") in (i + 100, None) for i in range(20))
        deadline = time.monotonic() + 10
        while cache.breaker_state != "closed" and time.monotonic() < deadline:
            cache.get("k0")  # the probe and the replay of what the fallback served
            time.sleep(0.05)
        assert cache.breaker_state == "closed"
        assert all(cache.get(f"k{i}") in (i + 100, None) for i in range(20))
        cache.set("after", 1)
        with new.client() as raw_new:
            assert raw_new.exists(b"ro:after") == 1
    with pytest.raises(redis.ReadOnlyError), old.client() as raw_old:
        raw_old.set("x", 1)


def test_an_operation_waits_out_the_failover(own_group: SentinelGroup) -> None:
    own_group.kill(own_group.node(own_group.primary_port()))
    with connection(CacheConfig(own_group.url, namespace="ops", stats=False)) as conn:
        node = conn.primaries()[0]
        assert node.port in [n.port for n in own_group.nodes if n.running]
        assert conn.client.ping() is True


def test_rediss_sentinel_with_mutual_tls_fails_over(tmp_path: Path) -> None:
    # TLS from the client to the Sentinels and the data nodes, and between them all.
    with SentinelGroup(tls=Certificates(tmp_path), sentinel_password=SENTINEL_PASSWORD) as tls:
        assert tls.url.startswith("rediss+sentinel://")
        # Timeouts for TLS in Python under 8 threads on a small, shared machine.
        run = failover.run_sync(tls, 0.5, False, "failover-tls", socket_timeout=0.5)
    _assert_survived(run)


def test_the_page_shows_the_primary_in_a_browser(
    group: SentinelGroup,
    sentinel_url: str,
    page: Any,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    from cachectl.demo.environment import serve_asgi

    with Cache(sentinel_url, namespace="page", **PATIENT) as cache:
        cache.set("user:1", 1)
        app = FastAPI()
        app.include_router(admin_router(cache, token="t0ken-for-the-page"), prefix="/_cache")
        with serve_asgi(app) as base:
            page.goto(f"{base}/_cache/")
            page.fill("#token", "t0ken-for-the-page")
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#app:not([hidden])")
            page.wait_for_selector("#server dt")
            facts = page.locator("#server").inner_text()
            page.screenshot(path=str(tmp_path / "sentinel-overview.png"), full_page=True)
    assert f"127.0.0.1:{group.primary_port()} (Sentinel service {SERVICE})" in facts
    assert SENTINEL_PASSWORD not in page.content()
