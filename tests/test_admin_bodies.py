"""Hostile request bodies to the admin router, on a real redis-server: every one is a small 4xx
JSON answer {"detail": ...} that echoes nothing, and nothing in Redis changes.

FastAPI's own handlers answered a plain-text 500 for 1e400 or NaN, and a 422 quoting the whole
body; the router cannot install app handlers (it lives in the user's app), so its route class
does it (cachectl.contrib.fastapi.bounded).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.contrib.fastapi.bounded import MAX_BODY
from cachectl.testing import PATIENT
from tests.plugins.http import serve_asgi

ADMIN, READER = "admin-token-b", "read-token-b"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
#: Every route that takes a JSON body.
BODY_ROUTES = ["/api/latency", "/api/flush/plan", "/api/flush", "/api/key/ttl"]
#: What a small error is: far below any body the tests send.
SMALL = 2000

HOSTILE: dict[str, bytes] = {
    "huge-exponent": b'{"prefix": "user", "confirm": "user", "samples": 1e400, "ttl": 1e400}',
    "nan": b'{"prefix": NaN, "confirm": NaN, "samples": NaN, "ttl": NaN, "key": "user:1"}',
    "infinity": b'{"key": "user:1", "ttl": Infinity, "samples": -Infinity}',
    "deep-10k": b"[" * 10_000 + b"]" * 10_000,
    "deep-500": b'{"prefix": ' + b"[" * 500 + b"]" * 500 + b"}",
    "deep-object": b'{"a":' * 800 + b"1" + b"}" * 800,
    "many-digits": b'{"max_keys": ' + b"9" * 5000 + b', "prefix": "user", "confirm": "user"}',
    "not-json": b"prefix=user&confirm=user",
    "not-utf8": b'{"prefix": "\xff\xfe"}',
    "truncated": b'{"prefix": "us',
    "big-echo": json.dumps({"prefix": "x" * 900_000, "surplus": 1}).encode(),
    "long-field-name": json.dumps({"k" * 500_000: 1}).encode(),
    "many-errors": json.dumps({f"f{i}": i for i in range(20_000)}).encode(),
    "wrong-types": json.dumps(
        {"keys": list(range(5000)), "confirm": [1], "ttl": "x" * 10}
    ).encode(),
}

SEEDED = {f"user:{i}" for i in range(12)} | {"order:1"}


@dataclass
class Admin:
    client: httpx.AsyncClient
    raw: redis.Redis
    namespace: str

    def keys(self) -> set[bytes]:
        """Every Redis key of the namespace now (entries and bookkeeping)."""
        return set(self.raw.scan_iter(match=f"{self.namespace}[:#]*"))


def _app(cache: Cache) -> FastAPI:
    app = FastAPI()
    app.include_router(admin_router(cache, token=ADMIN, read_only_token=READER), prefix="/_cache")
    return app


@pytest.fixture
def seeded(redis_url: str, namespace: str) -> Iterator[Cache]:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        for key in SEEDED:
            cache.set(key, {"k": key}, tags=("team",), ttl=600)
        yield cache


@pytest.fixture
async def admin(seeded: Cache, raw_redis: redis.Redis, namespace: str) -> AsyncIterator[Admin]:
    transport = httpx.ASGITransport(app=_app(seeded), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
        yield Admin(client, raw_redis, namespace)


def assert_small_json_error(response: httpx.Response, statuses: set[int]) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    assert len(response.content) < SMALL, response.content[:300]
    body = response.json()
    assert set(body) == {"detail"} and body["detail"]


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize("name", HOSTILE)
async def test_a_hostile_body_is_a_small_json_4xx_and_changes_nothing(
    admin: Admin, route: str, name: str
) -> None:
    before = admin.keys()
    ttl_before = admin.raw.pttl(f"{admin.namespace}:user:1")

    response = await admin.client.post(f"/_cache{route}", content=HOSTILE[name], headers=AS_ADMIN)

    assert_small_json_error(response, {400, 422})
    # A field's name may be quoted, clipped; never a long run of what was sent.
    assert "x" * 200 not in response.text and "k" * 200 not in response.text
    assert admin.keys() == before
    assert 0 < admin.raw.pttl(f"{admin.namespace}:user:1") <= ttl_before


@pytest.mark.parametrize(
    ("name", "status"), [("huge-exponent", 422), ("nan", 422), ("infinity", 422), ("deep-10k", 400)]
)
async def test_the_refusal_names_what_was_wrong(admin: Admin, name: str, status: int) -> None:
    # A number out of bounds is a 422 like any other; a body that cannot be read, a 400.
    response = await admin.client.post(
        "/_cache/api/flush/plan", content=HOSTILE[name], headers=AS_ADMIN
    )
    assert response.status_code == status
    detail = response.json()["detail"]
    assert any(word in detail for word in ("finite", "NaN", "deeper")), detail


async def test_a_validation_error_lists_fields_not_input(admin: Admin) -> None:
    response = await admin.client.post(
        "/_cache/api/flush", content=HOSTILE["big-echo"], headers=AS_ADMIN
    )
    assert_small_json_error(response, {422})
    fields = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert fields == {("body", "surplus")}
    assert all(set(error) == {"loc", "msg", "type"} for error in response.json()["detail"])


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_bound_is_a_413(admin: Admin, route: str, chunked: bool) -> None:
    before = admin.keys()
    blob = b'{"prefix": "' + b"x" * (10 * MAX_BODY) + b'"}'  # 10 MiB

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(blob), 65536):
            yield blob[i : i + 65536]

    content = stream() if chunked else blob
    response = await admin.client.post(f"/_cache{route}", content=content, headers=AS_ADMIN)

    assert_small_json_error(response, {413})
    assert admin.keys() == before


async def test_a_body_at_the_bound_is_read(admin: Admin) -> None:
    # A legitimate large request: a plan naming 1,000 keys, padded close to the bound.
    keys = [f"user:{i}:" + "p" * 900 for i in range(1000)]
    body = json.dumps({"keys": keys}).encode()
    assert len(body) <= MAX_BODY
    response = await admin.client.post("/_cache/api/flush/plan", content=body, headers=AS_ADMIN)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["count"] == 0


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("wrong", 403), (READER, 403)],
    ids=["none", "wrong", "reader"],
)
@pytest.mark.parametrize("name", ["nan", "deep-10k", "big-echo"])
async def test_no_body_is_parsed_without_the_right_token(
    admin: Admin, token: str | None, status: int, name: str
) -> None:
    # Refused for the token, not for the body: the body was never read.
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = await admin.client.post("/_cache/api/flush", content=HOSTILE[name], headers=headers)
    assert_small_json_error(response, {status})
    assert response.json()["detail"] in (
        "missing bearer token",
        "wrong token",
        "the read-only token cannot change the cache",
    )


async def test_a_bad_query_is_a_small_422(admin: Admin) -> None:
    response = await admin.client.get(
        "/_cache/api/keys",
        params={"count": "9" * 3000, "sort": "y" * 3000},
        headers={"Authorization": f"Bearer {READER}"},
    )
    assert_small_json_error(response, {422})
    assert "9" * 200 not in response.text and "y" * 200 not in response.text


async def test_a_selection_error_quoting_the_request_is_clipped(admin: Admin) -> None:
    # The ops' own message names the glob it refuses; a long one must not come back whole.
    body = json.dumps({"prefix": "a", "pattern": "z" * 500_000}).encode()
    response = await admin.client.post("/_cache/api/flush/plan", content=body, headers=AS_ADMIN)
    assert_small_json_error(response, {422})


def test_hostile_bodies_through_a_real_uvicorn_server(
    seeded: Cache, raw_redis: redis.Redis
) -> None:
    namespace = seeded.namespace
    before = set(raw_redis.scan_iter(match=f"{namespace}[:#]*"))
    with serve_asgi(_app(seeded)) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        for name in ("huge-exponent", "nan", "deep-10k", "big-echo"):
            for route in ("/api/flush/plan", "/api/flush"):
                response = http.post(f"/_cache{route}", content=HOSTILE[name], headers=AS_ADMIN)
                assert_small_json_error(response, {400, 422})
        too_big = b"[" + b"1," * (MAX_BODY // 2) + b"1]"
        response = http.post("/_cache/api/flush/plan", content=too_big, headers=AS_ADMIN)
        assert_small_json_error(response, {413})
        # The server still answers after all of that.
        ok = http.post("/_cache/api/flush/plan", json={"prefix": "user"}, headers=AS_ADMIN)
        assert ok.status_code == 200 and ok.json()["count"] == 12
    assert set(raw_redis.scan_iter(match=f"{namespace}[:#]*")) == before
