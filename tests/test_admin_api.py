"""The admin router's JSON API (the page's contract), on the embedded store and a real redis-server.

For the same selection the router and the command line (the console script, or the ops the
command line calls) give the same answer; an outage is the same error; the read-only token
changes nothing; every bad request is a 4xx with a JSON body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cachectl import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.ops import selection as sel
from cachectl.ops.connect import for_cache
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult
from tests.servers import RedisServer

ADMIN, READER = "admin-token-x", "read-token-y"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_READER = {"Authorization": f"Bearer {READER}"}
Run = Callable[..., CliResult]
HOSTILE = "<img src=x onerror=alert(1)>"
BINARY = b"bin:\xff\xfe"

#: Application keys seeded, with their tags.
SEED: dict[str, tuple[str, ...]] = {
    **{f"user:{i}": ("team",) if i < 4 else () for i in range(23)},
    **{f"order:{i}": () for i in range(9)},
    "user": (),
    "username": ("team",),
    "user:[x": (),
    HOSTILE: (),
}


@dataclass
class Api:
    client: httpx.AsyncClient
    cache: Cache
    url: str

    def stored(self) -> set[bytes]:
        """The application keys stored now, read around the router."""
        conn = for_cache(self.cache)
        try:
            batches = sel.batches(conn, sel.select(conn.keys, required=False))
            return {conn.keys.app(k) for batch in batches for k in batch}
        finally:
            conn.close()


def seed(cache: Cache) -> None:
    for key, tags in SEED.items():
        cache.set(key, {"key": key, "n": len(key)}, tags=tags)
    cache.set(BINARY, b"\xff\x00binary")


def _app(cache: Cache) -> FastAPI:
    app = FastAPI()
    app.include_router(admin_router(cache, token=ADMIN, read_only_token=READER), prefix="/_cache")
    return app


@pytest.fixture
async def api(backend_url: str, namespace: str) -> AsyncIterator[Api]:
    with Cache(backend_url, namespace=namespace, **PATIENT) as cache:
        seed(cache)
        transport = httpx.ASGITransport(app=_app(cache), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
            yield Api(client, cache, backend_url)


def expected(selector: dict[str, Any]) -> set[bytes]:
    """The seeded keys a selection names, by its documented meaning."""
    if "prefix" in selector:
        p = selector["prefix"]
        return {k.encode() for k in SEED if k == p or k.startswith(p + ":")}
    if "tag" in selector:
        return {k.encode() for k, tags in SEED.items() if selector["tag"] in tags}
    if "keys" in selector:
        return {k.encode() for k in selector["keys"] if k in SEED}
    assert selector == {"pattern": "order:[1-3]"}
    return {b"order:1", b"order:2", b"order:3"}


SELECTORS: list[dict[str, Any]] = [
    {"prefix": "user"},
    {"pattern": "order:[1-3]"},
    {"tag": "team"},
    {"keys": ["order:1", "user", "no-such-key"]},
]


def cli_options(selector: dict[str, Any]) -> list[str]:
    (name, value), *_ = selector.items()
    if name == "keys":
        return [arg for key in value for arg in ("--key", key)]
    return [f"--{name}", value]


@pytest.mark.parametrize("selector", SELECTORS, ids=lambda s: next(iter(s)))
async def test_the_plan_counts_what_the_selection_names(
    api: Api, selector: dict[str, Any], run_script: Run, namespace: str
) -> None:
    response = await api.client.post("/_cache/api/flush/plan", json=selector, headers=AS_READER)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["count"] == len(expected(selector))
    assert {bytes.fromhex(k) for k in plan["sample_hex"]} <= expected(selector)
    if api.url.startswith("redis://"):
        dry = run_script(
            "--url", api.url, "--namespace", namespace, "flush", "--dry-run", "--json",
            *cli_options(selector),
        )  # fmt: skip
        assert dry.exit_code == 0, dry.stderr
        assert (dry.json()["count"], dry.json()["selection"]) == (plan["count"], plan["label"])


@pytest.mark.parametrize("selector", SELECTORS, ids=lambda s: next(iter(s)))
async def test_a_confirmed_flush_removes_exactly_the_selection(
    api: Api, selector: dict[str, Any]
) -> None:
    before = api.stored()
    plan = (await api.client.post("/_cache/api/flush/plan", json=selector, headers=AS_ADMIN)).json()

    response = await api.client.post(
        "/_cache/api/flush", json={**selector, "confirm": plan["confirm"]}, headers=AS_ADMIN
    )

    assert response.status_code == 200, response.text
    assert response.json()["removed"] == len(expected(selector))
    assert api.stored() == before - expected(selector)
    entries = (await api.client.get("/_cache/api/audit", headers=AS_READER)).json()["entries"]
    assert (entries[0]["action"], entries[0]["count"]) == ("flush", len(expected(selector)))
    assert entries[0]["selection"] == plan["label"] and entries[0]["role"] == "admin"


async def test_the_command_line_flushes_what_the_router_planned(
    redis_url: str, namespace: str, run_script: Run
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        seed(cache)
        transport = httpx.ASGITransport(app=_app(cache))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            plan = await client.post(
                "/_cache/api/flush/plan", json={"prefix": "user"}, headers=AS_READER
            )
        done = run_script(
            "--url", redis_url, "--namespace", namespace, "flush", "--prefix", "user", "--yes",
            "--json",
        )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert done.json()["removed"] == plan.json()["count"] == len(expected({"prefix": "user"}))


@pytest.mark.parametrize(
    "body", [{"prefix": "user", "confirm": "users"}, {"prefix": "user", "confirm": ""}]
)
async def test_a_wrong_confirmation_is_a_409_and_deletes_nothing(
    api: Api, body: dict[str, str]
) -> None:
    before = api.stored()
    response = await api.client.post("/_cache/api/flush", json=body, headers=AS_ADMIN)
    assert response.status_code == 409
    assert "'user'" in response.json()["detail"]
    assert api.stored() == before


async def test_over_max_keys_is_a_409_and_deletes_nothing(api: Api) -> None:
    before = api.stored()
    body = {"prefix": "user", "confirm": "user", "max_keys": 3}
    response = await api.client.post("/_cache/api/flush", json=body, headers=AS_ADMIN)
    assert response.status_code == 409
    assert "max_keys 3" in response.json()["detail"]
    assert api.stored() == before


async def test_pages_of_keys_cover_the_selection_once(api: Api) -> None:
    seen: list[bytes] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"prefix": "user", "count": 5, "sort": "memory"}
        if cursor:
            params["cursor"] = cursor
        response = await api.client.get("/_cache/api/keys", params=params, headers=AS_READER)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [bytes.fromhex(row["key_hex"]) for row in body["keys"]]
        memories = [row["memory"] or 0 for row in body["keys"]]
        assert memories == sorted(memories, reverse=True)  # sorted within the page
        cursor = body["cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(expected({"prefix": "user"}))


async def test_the_key_view_is_what_inspect_json_prints(
    api: Api, run_script: Run, namespace: str
) -> None:
    response = await api.client.get("/_cache/api/key", params={"key": HOSTILE}, headers=AS_READER)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["value"] == {"key": HOSTILE, "n": len(HOSTILE)}
    assert view["key"] == HOSTILE and bytes.fromhex(view["key_hex"]) == HOSTILE.encode()
    if api.url.startswith("redis://"):
        printed = run_script(
            "--url", api.url, "--namespace", namespace, "inspect", HOSTILE, "--json"
        )
        assert printed.exit_code == 0, printed.stderr
        assert {k: v for k, v in view.items() if k not in ("key_hex", "hexdump")} == printed.json()


async def test_a_key_that_is_not_utf8_is_named_by_key_hex(api: Api) -> None:
    params = {"key_hex": BINARY.hex()}
    view = await api.client.get("/_cache/api/key", params=params, headers=AS_READER)
    assert view.status_code == 200, view.text
    assert view.json()["value"] == {"$hex": b"\xff\x00binary".hex()}

    deleted = await api.client.delete("/_cache/api/key", params=params, headers=AS_ADMIN)

    assert deleted.json() == {"removed": 1}
    assert BINARY not in api.stored()
    missing = await api.client.get("/_cache/api/key", params=params, headers=AS_READER)
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]


async def test_the_ttl_is_set_and_removed(api: Api) -> None:
    body: dict[str, Any] = {"key": "user:1", "ttl": 120}
    response = await api.client.post("/_cache/api/key/ttl", json=body, headers=AS_ADMIN)
    assert response.status_code == 200, response.text
    assert 100 < response.json()["ttl"] <= 120
    view = await api.client.get("/_cache/api/key", params={"key": "user:1"}, headers=AS_READER)
    assert 100_000 < view.json()["ttl_ms"] <= 120_000

    body["ttl"] = None
    response = await api.client.post("/_cache/api/key/ttl", json=body, headers=AS_ADMIN)
    assert response.json() == {"ttl": None, "ttl_ms": None}
    entries = (await api.client.get("/_cache/api/audit", headers=AS_ADMIN)).json()["entries"]
    assert [e["action"] for e in entries[:2]] == ["ttl", "ttl"]
    assert "no expiry" in entries[0]["selection"]


async def test_overview_and_whoami(api: Api) -> None:
    who = (await api.client.get("/_cache/api/whoami", headers=AS_READER)).json()
    assert who["role"] == "read-only"
    assert who["backend"] == ("memory" if api.url == "memory://" else "redis")
    assert ADMIN not in json.dumps(who) and READER not in json.dumps(who)
    overview = (await api.client.get("/_cache/api/overview", headers=AS_READER)).json()
    keys = {row["prefix"]: row["keys"] for row in overview["prefixes"]}
    assert keys["user"] == len(expected({"prefix": "user"}))
    assert keys["order"] == 9
    assert overview["breaker"] == "closed"
    if api.url == "memory://":
        assert overview["server"] is None
    else:
        assert overview["server"]["version"][0].isdigit()


async def test_a_latency_probe_on_demand(api: Api) -> None:
    response = await api.client.post("/_cache/api/latency", json={"samples": 3}, headers=AS_READER)
    assert response.status_code == 200, response.text
    probes = response.json()["probes"]
    assert {p["probe"] for p in probes} >= {"GET", "cache set+get (1 KB)"}
    assert all(p["samples"] == 3 for p in probes)


DESTRUCTIVE: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/_cache/api/flush", {"json": {"prefix": "user", "confirm": "user"}}),
    ("POST", "/_cache/api/flush", {"json": {"bogus": 1}}),  # 403 before the body is read
    ("DELETE", "/_cache/api/key", {"params": {"key": "user:1"}}),
    ("POST", "/_cache/api/key/ttl", {"json": {"key": "user:1", "ttl": 5}}),
    ("POST", "/_cache/flush", {"params": {"prefix": "user"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), DESTRUCTIVE)
async def test_the_read_only_token_changes_nothing(
    api: Api, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    before = api.stored()
    response = await api.client.request(method, path, headers=AS_READER, **kwargs)
    assert response.status_code == 403
    assert response.json() == {"detail": "the read-only token cannot change the cache"}
    assert api.stored() == before
    view = await api.client.get("/_cache/api/key", params={"key": "user:1"}, headers=AS_READER)
    assert view.json()["ttl_ms"] is None  # the TTL was not set either
    assert (await api.client.get("/_cache/api/audit", headers=AS_READER)).json()["entries"] == []


BAD: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/_cache/api/key", {}),
    ("GET", "/_cache/api/key", {"params": {"key": "a", "key_hex": "61"}}),
    ("GET", "/_cache/api/key", {"params": {"key_hex": "zz"}}),
    ("GET", "/_cache/api/key", {"params": {"key": ""}}),
    ("GET", "/_cache/api/keys", {"params": {"sort": "size"}}),
    ("GET", "/_cache/api/keys", {"params": {"count": "0"}}),
    ("GET", "/_cache/api/keys", {"params": {"cursor": "not-a-cursor"}}),
    ("GET", "/_cache/api/keys", {"params": {"prefix": "a", "tag": "b"}}),
    ("GET", "/_cache/api/keys", {"params": {"pattern": "user:["}}),
    ("GET", "/_cache/api/keys/top", {"params": {"n": "0"}}),
    ("GET", "/_cache/api/audit", {"params": {"limit": "0"}}),
    ("POST", "/_cache/api/latency", {"json": {"samples": 0}}),
    ("POST", "/_cache/api/latency", {"json": {"samples": 1001}}),
    ("POST", "/_cache/api/flush/plan", {"json": {}}),
    ("POST", "/_cache/api/flush/plan", {"json": {"prefix": "a", "tag": "b"}}),
    ("POST", "/_cache/api/flush/plan", {"json": {"prefix": ""}}),
    ("POST", "/_cache/api/flush/plan", {"json": {"prefix": "a", "bogus": 1}}),
    ("POST", "/_cache/api/flush/plan", {"content": b"not json"}),
    ("POST", "/_cache/api/flush", {"json": {"prefix": "user"}}),
    ("POST", "/_cache/api/flush", {"json": {"pattern": "user:[", "confirm": "user:["}}),
    ("POST", "/_cache/api/flush", {"json": {"prefix": "user", "confirm": "user", "max_keys": -1}}),
    ("POST", "/_cache/api/key/ttl", {"json": {"key": "user:1", "ttl": -1}}),
    ("POST", "/_cache/api/key/ttl", {"json": {"key": "user:1", "ttl": "soon"}}),
    ("POST", "/_cache/api/key/ttl", {"json": {"key": "user:1"}}),
    ("POST", "/_cache/api/key/ttl", {"json": {"key": "no-such-key", "ttl": 5}}),
    ("DELETE", "/_cache/api/key", {"params": {"key_hex": "0"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), BAD)
async def test_every_bad_request_is_a_4xx_with_a_json_detail(
    api: Api, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    before = api.stored()
    response = await api.client.request(method, path, headers=AS_ADMIN, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    assert "--" not in json.dumps(response.json()["detail"])
    assert api.stored() == before


async def test_tokens_are_needed_and_never_echoed(api: Api) -> None:
    missing = await api.client.get("/_cache/api/overview")
    wrong = await api.client.get("/_cache/api/overview", headers={"Authorization": "Bearer no"})
    assert (missing.status_code, wrong.status_code) == (401, 403)
    for response in (missing, wrong):
        assert ADMIN not in response.text and READER not in response.text


# -- an outage ---------------------------------------------------------------------------------

OUTAGE_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/_cache/api/overview", {}),
    ("GET", "/_cache/api/keys", {}),
    ("GET", "/_cache/api/keys/top", {}),
    ("GET", "/_cache/api/key", {"params": {"key": "user:1"}}),
    ("POST", "/_cache/api/flush/plan", {"json": {"prefix": "user"}}),
    ("POST", "/_cache/api/flush", {"json": {"prefix": "user", "confirm": "user"}}),
    ("DELETE", "/_cache/api/key", {"params": {"key": "user:1"}}),
    ("POST", "/_cache/api/key/ttl", {"json": {"key": "user:1", "ttl": 5}}),
    ("GET", "/_cache/api/audit", {}),
    ("POST", "/_cache/flush", {"params": {"prefix": "user"}}),
    ("GET", "/_cache/stats", {}),
]


@pytest.mark.parametrize("connected", [True, False], ids=["connected-first", "never-connected"])
async def test_an_outage_is_a_503_everywhere_as_the_command_line_exits_3(
    own_redis: RedisServer, run_script: Run, connected: bool
) -> None:
    url = own_redis.url
    with Cache(url, namespace="outage", socket_timeout=1.0, connect_timeout=1.0) as cache:
        seed(cache)
        transport = httpx.ASGITransport(app=_app(cache))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            if connected:
                first = await client.get("/_cache/api/keys", headers=AS_ADMIN)
                assert first.status_code == 200
            own_redis.stop()
            cli = run_script(
                "--url", url, "--namespace", "outage", "flush", "--prefix", "user", "-y"
            )
            assert cli.exit_code == 3
            for method, path, kwargs in OUTAGE_CALLS:
                response = await client.request(method, path, headers=AS_ADMIN, **kwargs)
                assert response.status_code == 503, (path, response.text)
                assert response.headers["content-type"] == "application/json"
                detail = response.json()["detail"]
                assert f"cannot reach {url}" in detail and "cannot reach" in cli.stderr


@pytest.mark.parametrize("backend_url", ["cluster"], indirect=True)
async def test_on_a_cluster_pages_and_plans_cover_every_primary(api: Api) -> None:
    seen: set[bytes] = set()
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"pattern": "*", "count": 4}
        if cursor:
            params["cursor"] = cursor
        body = (await api.client.get("/_cache/api/keys", params=params, headers=AS_READER)).json()
        seen |= {bytes.fromhex(row["key_hex"]) for row in body["keys"]}
        cursor = body["cursor"]
        if cursor is None:
            break
    assert seen == {k.encode() for k in SEED} | {BINARY}
    who = (await api.client.get("/_cache/api/whoami", headers=AS_READER)).json()
    assert who["backend"] == "cluster"
    selector = {"prefix": "user"}
    plan = (await api.client.post("/_cache/api/flush/plan", json=selector, headers=AS_ADMIN)).json()
    assert plan["count"] == len(expected(selector))
    done = await api.client.post(
        "/_cache/api/flush", json={**selector, "confirm": "user"}, headers=AS_ADMIN
    )
    assert done.json()["removed"] == len(expected(selector))
    assert api.stored() == {k.encode() for k in SEED} - expected(selector) | {BINARY}


async def test_a_hostile_audit_log_is_read_bounded(
    redis_url: str, namespace: str, raw_redis: Any
) -> None:
    raw_redis.lpush(
        f"{namespace}#audit",
        b"\xff not json",
        b'{"time": "now", "count": 1}',
        b"[1, 2]",
        b'{"time": 1, "count": 2, "action": "' + b"x" * 5000 + b'"}',
        b'{"time": 1.5, "count": 3, "action": "flush", "selection": "<b>x</b>"}',
    )
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        transport = httpx.ASGITransport(app=_app(cache))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = (await client.get("/_cache/api/audit", headers=AS_READER)).json()
    assert body["entries"] == [
        {
            "time": 1.5,
            "action": "flush",
            "selection": "<b>x</b>",
            "count": 3,
            "address": None,
            "role": None,
            "source": "?",
            "user": None,
        }
    ]


async def test_an_async_cache_on_memory_is_operated_in_its_own_store() -> None:
    from cachectl import AsyncCache

    cache = AsyncCache("memory://", namespace="shop")
    for i in range(5):
        await cache.set(f"cart:{i}", i)
    await cache.set("menu", "x")
    app = FastAPI()
    app.include_router(admin_router(cache, token=ADMIN), prefix="/_cache")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        page = await client.get("/_cache/api/keys", params={"prefix": "cart"}, headers=AS_ADMIN)
        done = await client.post(
            "/_cache/api/flush", json={"prefix": "cart", "confirm": "cart"}, headers=AS_ADMIN
        )
    assert sorted(row["key"] for row in page.json()["keys"]) == [f"cart:{i}" for i in range(5)]
    assert done.json()["removed"] == 5
    assert await cache.get("cart:1") is None and await cache.get("menu") == "x"
    await cache.aclose()


async def test_foreign_keys_in_the_bookkeeping_break_neither_a_view_nor_a_delete(
    api: Api,
) -> None:
    """Someone else's string under the namespace's tag and audit names: every key still opens,
    and a delete is done and answered as done (its audit entry is what cannot be written)."""
    if api.cache.config.is_memory:
        pytest.skip("raw foreign keys need a Redis server")
    import redis

    ns = api.cache.namespace
    with redis.Redis.from_url(api.url) as raw:
        raw.set(f"{ns}#tag:{{foreign}}", b"x")
        raw.set(f"{ns}#audit", b"x")
    view = await api.client.get("/_cache/api/key", params={"key": "user:1"}, headers=AS_ADMIN)
    assert view.status_code == 200, view.text
    assert view.json()["tags"] == ["team"]
    deleted = await api.client.delete("/_cache/api/key", params={"key": "user:2"}, headers=AS_ADMIN)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["removed"] == 1
    assert b"user:2" not in api.stored()
    audit = await api.client.get("/_cache/api/audit", headers=AS_ADMIN)
    assert audit.status_code == 200, audit.text
    assert audit.json()["entries"] == []


# -- who is recorded: the peer the server gives, never a header the client wrote ------------------

FORWARDED = {"X-Forwarded-For": "10.0.0.1", "Forwarded": "for=10.0.0.2", "X-Real-IP": "10.0.0.3"}


async def test_the_audit_records_the_peer_the_server_gave(redis_url: str, namespace: str) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        seed(cache)
        transport = httpx.ASGITransport(app=_app(cache), client=("192.0.2.7", 5555))
        headers = {**AS_ADMIN, **FORWARDED}
        async with httpx.AsyncClient(transport=transport, base_url="http://t/_cache") as client:
            assert (
                await client.delete("/api/key", params={"key": "user:1"}, headers=headers)
            ).json()
            body = {"prefix": "order", "confirm": "order"}
            assert (await client.post("/api/flush", json=body, headers=headers)).status_code == 200
            entries = (await client.get("/api/audit", headers=AS_ADMIN)).json()["entries"]
    assert [(e["action"], e["address"]) for e in entries] == [
        ("flush", "192.0.2.7"),
        ("delete", "192.0.2.7"),
    ]


@pytest.mark.parametrize("behind_proxy", [False, True], ids=["direct", "opted-in-proxy"])
def test_forwarded_headers_count_only_when_the_server_is_told_to(
    redis_url: str, namespace: str, behind_proxy: bool
) -> None:
    # The README's recipe: uvicorn believes X-Forwarded-For from the proxy's address only when
    # told so (--forwarded-allow-ips); the router records whatever peer the server settled on.
    import threading
    import time

    import uvicorn

    from tests.servers import free_port

    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        seed(cache)
        port = free_port()
        options: dict[str, Any] = (
            {"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}
            if behind_proxy
            else {"proxy_headers": False}
        )
        server = uvicorn.Server(
            uvicorn.Config(_app(cache), host="127.0.0.1", port=port, log_level="warning", **options)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline
                time.sleep(0.01)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/_cache") as http:
                headers = {**AS_ADMIN, "X-Forwarded-For": "203.0.113.9"}
                assert http.delete("/api/key", params={"key": "user:1"}, headers=headers).json()
                entries = http.get("/api/audit", headers=AS_ADMIN).json()["entries"]
        finally:
            server.should_exit = True
            thread.join(10)
    assert entries[0]["address"] == ("203.0.113.9" if behind_proxy else "127.0.0.1")
