"""A flush from the terminal is in the page's Audit view, as the page's own flushes are: one
operation (ops.flush.flush) writes the entry for both faces. A dry run writes nothing. The
audit log is namespace bookkeeping: never counted as an entry, a foreign key or a namespace
worth pointing at."""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.ops import audit
from cachectl.ops.connect import for_cache
from cachectl.ops.flush import flush
from cachectl.ops.selection import select
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult

Run = Callable[..., CliResult]
ADMIN = "admin-token-audit"


def _seed(cache: Cache) -> None:
    for i in range(7):
        cache.set(f"user:{i}", i, tags=("team",))
    for i in range(3):
        cache.set(f"order:{i}", i)


async def _audit_view(cache: Cache) -> list[dict[str, Any]]:
    """The entries the page's Audit view shows, through the router."""
    app = FastAPI()
    app.include_router(admin_router(cache, token=ADMIN), prefix="/_cache")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(
            "/_cache/api/audit", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries


async def test_a_console_flush_is_in_the_page_audit_view(
    redis_url: str, namespace: str, run_script: Run
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        _seed(cache)
        done = run_script(
            "--url", redis_url, "--namespace", namespace, "flush", "--prefix", "user", "--yes",
            "--json",
        )  # fmt: skip
        assert done.exit_code == 0, done.stderr
        (entry,) = await _audit_view(cache)
    assert entry["action"] == "flush"
    assert (
        entry["selection"]
        == done.json()["selection"]
        == f"prefix 'user' in namespace {namespace!r}"
    )
    assert entry["count"] == done.json()["removed"] == 7
    assert entry["source"] == "cli" and entry["role"] is None
    assert entry["user"] == getpass.getuser()
    assert entry["address"] == socket.gethostname()


async def test_console_and_page_flushes_share_one_log_newest_first(
    redis_url: str, namespace: str, run_script: Run
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        _seed(cache)
        app = FastAPI()
        app.include_router(admin_router(cache, token=ADMIN), prefix="/_cache")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            page = await client.post(
                "/_cache/api/flush", json={"tag": "team", "confirm": "team"}, headers=headers
            )
            assert page.status_code == 200, page.text
            done = run_script(
                "--url", redis_url, "--namespace", namespace, "flush", "--all", "--yes",
            )  # fmt: skip
            assert done.exit_code == 0, done.stderr
            entries = (await client.get("/_cache/api/audit", headers=headers)).json()["entries"]
    assert [(e["source"], e["selection"], e["count"]) for e in entries] == [
        ("cli", f"every key of namespace {namespace!r}", 3),
        ("api", f"tag 'team' in namespace {namespace!r}", 7),
    ]
    assert entries[1]["role"] == "admin" and entries[1]["user"] is None


@pytest.mark.parametrize(
    "args",
    [
        ["--prefix", "user", "--dry-run"],
        ["--all", "--dry-run", "--json"],
        ["--tag", "team", "--dry-run", "--max-keys", "1"],
    ],
    ids=["dry-run", "dry-run-json", "dry-run-refused"],
)
def test_a_dry_run_writes_nothing(
    redis_url: str, namespace: str, run_script: Run, raw_redis: redis.Redis, args: list[str]
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        _seed(cache)
    before = set(raw_redis.scan_iter(match=f"{namespace}[:#]*"))
    run_script("--url", redis_url, "--namespace", namespace, "flush", *args)
    assert not raw_redis.exists(f"{namespace}#audit")
    assert set(raw_redis.scan_iter(match=f"{namespace}[:#]*")) == before


def test_the_log_is_bookkeeping_not_an_entry(
    redis_url: str, namespace: str, run_script: Run, raw_redis: redis.Redis
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        _seed(cache)
    done = run_script(
        "--url", redis_url, "--namespace", namespace, "flush", "--prefix", "user", "--yes"
    )
    assert done.exit_code == 0, done.stderr
    assert raw_redis.exists(f"{namespace}#audit")
    # Bounded: it expires audit.TTL after the last action it records.
    assert 0 < raw_redis.ttl(f"{namespace}#audit") <= audit.TTL

    ns = ["--url", redis_url, "--namespace", namespace]
    keys = run_script(*ns, "keys", "--json").json()
    assert keys["matched"] == 3 and all(not k["key"].startswith("#") for k in keys["keys"])
    stats = run_script(*ns, "stats", "--json").json()
    assert stats["total"]["keys"] == 3
    found = run_script("--url", redis_url, "namespaces", "--json").json()
    assert found["foreign_keys"] == 0  # the log belongs to its namespace
    (mine,) = [n for n in found["namespaces"] if n["name"] == namespace]
    assert (mine["keys"], mine["cachectl"]) == (3, True)

    # Flushed whole: the namespace holds no entry, and says so; its log (and the flush it
    # records) stays, and no other namespace's hint points at it.
    whole = run_script(*ns, "flush", "--all", "--yes", "--json")
    assert whole.exit_code == 0, whole.stderr
    found = run_script("--url", redis_url, "namespaces", "--json").json()
    (mine,) = [n for n in found["namespaces"] if n["name"] == namespace]
    assert (mine["keys"], mine["tags"], mine["cachectl"]) == (0, 0, True)
    assert found["foreign_keys"] == 0
    assert run_script(*ns, "keys", "--json").json()["matched"] == 0
    other = run_script("--url", redis_url, "--namespace", "elsewhere", "keys")
    assert "did you mean" not in other.stderr
    logged = [json.loads(e)["count"] for e in raw_redis.lrange(f"{namespace}#audit", 0, -1)]
    assert logged == [whole.json()["removed"], 7]  # 3 entries and the tag set left by --prefix


def test_an_interrupted_flush_records_what_it_removed(redis_url: str, namespace: str) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        for i in range(50):
            cache.set(f"user:{i}", i)
        conn = for_cache(cache)
        try:
            selection = select(conn.keys, prefix="user")
            seen = 0

            def stop(n: int) -> None:
                nonlocal seen
                seen += n
                if seen:  # the first batch is the key equal to the prefix: none
                    raise KeyboardInterrupt

            with pytest.raises(KeyboardInterrupt):
                flush(conn, selection, audit.cli_actor(), on_batch=stop, scan_count=10)
            (entry,) = audit.read(conn)
        finally:
            conn.close()
    assert entry.count == seen > 0
    assert entry.selection.endswith("(interrupted)") and entry.source == "cli"


def test_the_embedded_store_records_flushes_too() -> None:
    with Cache("memory://", namespace="mem") as cache:
        _seed(cache)
        conn = for_cache(cache)
        try:
            result = flush(conn, select(conn.keys, tag="team"), audit.Actor("api", role="admin"))
            (entry,) = audit.read(conn)
        finally:
            conn.close()
    assert (
        (entry.count, entry.role, entry.source)
        == (result.removed, "admin", "api")
        == (
            7,
            "admin",
            "api",
        )
    )


def test_a_foreign_value_under_the_log_name_is_left_alone(
    redis_url: str, namespace: str, run_script: Run, raw_redis: redis.Redis
) -> None:
    # Someone else's string where the log would be: the flush is done and reported as done,
    # and their value keeps its bytes and its (absent) expiry.
    raw_redis.set(f"{namespace}#audit", b"theirs")
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        _seed(cache)
    done = run_script(
        "--url", redis_url, "--namespace", namespace, "flush", "--prefix", "user", "--yes",
        "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert done.json()["removed"] == 7
    assert raw_redis.get(f"{namespace}#audit") == b"theirs"
    assert raw_redis.ttl(f"{namespace}#audit") == -1


def test_a_cluster_flush_is_recorded(cluster_url: str, namespace: str, run_script: Run) -> None:
    with Cache(cluster_url, namespace=namespace, **PATIENT) as cache:
        _seed(cache)
        done = run_script(
            "--url", cluster_url, "--namespace", namespace, "flush", "--all", "--yes", "--json",
        )  # fmt: skip
        assert done.exit_code == 0, done.stderr
        conn = for_cache(cache)
        try:
            (entry,) = audit.read(conn)
        finally:
            conn.close()
    assert (entry.source, entry.count) == ("cli", done.json()["removed"])
