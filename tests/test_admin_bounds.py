"""Every number the admin router reads, in every route's body and query, is finite and within
its bounds; anything else is a small JSON 422, and no input makes a route answer a 5xx.

The table below lists every route of the router and every field it reads (a test checks that
it is complete against the router itself). Each numeric field is sent infinities, NaN, 1e400
(as text and as a JSON number), strings for numbers, huge, negative and out-of-range values;
every other field is sent the same hostile texts, to show that nothing in it is read as a
number. Run on the router mounted in an application, and on `cachectl ui` (the console script).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.routing import APIRoute

from cachectl import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.ops.doctor import MAX_SAMPLE
from cachectl.ops.edit import MAX_TTL
from cachectl.ops.flush import MAX_LIMIT, MAX_RATE
from cachectl.testing import PATIENT

ADMIN, READER = "admin-token-n", "read-token-n"
SMALL = 2000
#: A key that does not exist: a TTL change that passes validation answers 404, changing nothing.
ABSENT = "no-such-key"


@dataclass(frozen=True)
class Field:
    """One field of one route: where it is read, the rest of a request, and its bounds."""

    method: str
    path: str
    where: str  # "query" or "body"
    name: str
    base: dict[str, Any] = field(default_factory=dict)
    #: Values (JSON text for a body) inside the bounds: the request is not refused for them.
    valid: tuple[str, ...] = ()
    #: Values (JSON text for a body) past this field's own bounds.
    beyond: tuple[str, ...] = ()
    numeric: bool = True

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {self.where}.{self.name}"


#: A flush with a confirmation that cannot match: a request that passes validation is a 409
#: and deletes nothing.
NO_FLUSH = {"prefix": "nothing-here", "confirm": "not this"}

NUMERIC: list[Field] = [
    Field("GET", "/latency", "query", "samples", valid=("1", "3"), beyond=("0", "1001")),
    Field("POST", "/api/latency", "query", "samples", valid=("1",), beyond=("0", "1001")),
    Field("POST", "/api/latency", "body", "samples", valid=("1",), beyond=("0", "1001", "2.5")),
    Field("GET", "/api/keys", "query", "count", valid=("1", "1000"), beyond=("0", "1001")),
    Field("GET", "/api/keys/top", "query", "n", valid=("1", "1000"), beyond=("0", "1001")),
    Field("GET", "/api/audit", "query", "limit", valid=("1", "1000"), beyond=("0", "1001")),
    Field(
        "GET",
        "/api/doctor",
        "query",
        "sample",
        valid=("1", "50"),
        beyond=("0", f"{MAX_SAMPLE + 1}"),
    ),
    Field(
        "POST",
        "/api/key/ttl",
        "body",
        "ttl",
        base={"key": ABSENT},
        valid=("null", "1", "0.5", str(MAX_TTL)),
        beyond=("0", "-0.0", str(MAX_TTL + 1)),
    ),
    Field(
        "POST",
        "/api/flush/plan",
        "body",
        "max_keys",
        base={"prefix": "nothing-here"},
        valid=("null", "0", str(MAX_LIMIT)),
        beyond=(str(MAX_LIMIT + 1), "2.0"),
    ),
    Field(
        "POST",
        "/api/flush",
        "body",
        "max_keys",
        base=NO_FLUSH,
        valid=("null", "0", str(MAX_LIMIT)),
        beyond=(str(MAX_LIMIT + 1), "2.0"),
    ),
    Field(
        "POST",
        "/api/flush",
        "body",
        "rate",
        base=NO_FLUSH,
        valid=("null", "1", "1.5", str(MAX_RATE)),
        beyond=("0.5", str(MAX_RATE + 1), "1e300"),
    ),
]

#: The listing's cursor is text holding three numbers: each is bounded too.
CURSOR = Field("GET", "/api/keys", "query", "cursor", valid=("0.0.0",), numeric=False)
CURSORS = [
    "0.0.inf",
    "0.0.NaN",
    "0.0.1e400",
    "0.0.-1",
    "0.0." + "9" * 400,
    "0.0.18446744073709551616",  # 2**64: past any SCAN cursor
    "0." + "9" * 30 + ".0",
    "9" * 30 + ".0.0",
    "inf.0.0",
    "0.0",
    "1.2.3.4",
]

#: Text fields: a hostile number in them is only text (or refused as the wrong shape).
TEXT: list[Field] = [
    *(Field("POST", "/flush", "query", f, numeric=False) for f in ("prefix", "tag", "pattern")),
    *(Field("GET", "/api/keys", "query", f, numeric=False) for f in ("prefix", "pattern", "tag")),
    Field("GET", "/api/keys", "query", "sort", numeric=False),
    *(Field("GET", "/api/keys/top", "query", f, numeric=False) for f in ("prefix", "pattern")),
    Field("GET", "/api/keys/top", "query", "tag", numeric=False),
    *(Field("GET", "/api/key", "query", f, numeric=False) for f in ("key", "key_hex")),
    *(Field("DELETE", "/api/key", "query", f, numeric=False) for f in ("key", "key_hex")),
    *(
        Field("POST", "/api/key/ttl", "body", f, base={"ttl": 5}, numeric=False)
        for f in ("key", "key_hex")
    ),
    *(
        Field("POST", "/api/flush/plan", "body", f, numeric=False)
        for f in ("prefix", "pattern", "tag", "keys", "all")
    ),
    *(
        Field("POST", "/api/flush", "body", f, base={"confirm": "not this"}, numeric=False)
        for f in ("prefix", "pattern", "tag", "keys", "all")
    ),
    Field("POST", "/api/flush", "body", "confirm", base={"prefix": "x"}, numeric=False),
    Field("GET", "/api/doctor", "query", "prefix", numeric=False),
]

#: Routes that read nothing: a hostile query is ignored by them, never a 5xx.
NO_INPUT = [
    ("GET", "/health"),
    ("GET", "/stats"),
    ("GET", "/api/whoami"),
    ("GET", "/api/overview"),
    ("GET", "/api/flush/progress"),
    ("GET", "/"),
    ("GET", "/static/app.js"),
]

#: Hostile numbers as query text, refused by every numeric field.
QUERY_REFUSED = [
    "inf", "-inf", "Infinity", "-Infinity", "NaN", "nan", "1e400", "-1e400", "1e308",
    "9" * 400, "-" + "9" * 400, "-1", "", "x", "0x10", "1e3000", "9" * 5000,
]  # fmt: skip
#: Hostile numbers as JSON, refused by every numeric field of a body: strings for numbers,
#: JSON's non-finite extensions, past any float, huge, negative, not a number at all.
BODY_REFUSED = [
    '"inf"', '"Infinity"', '"-inf"', '"NaN"', '"1e400"', '"5"', '"1"', "1e400", "-1e400",
    "NaN", "Infinity", "-Infinity", "9" * 400, "-" + "9" * 400, "-1", "1e308", "true",
    "[]", "{}", "[1]", "9" * 4000,
]  # fmt: skip
#: What every field of every route is sent (numbers where text is expected, too).
EVERYWHERE_QUERY = [*QUERY_REFUSED, "1", "0", "-0", "1.5", " 3", "3 ", "٣", "１"]
EVERYWHERE_BODY = [*BODY_REFUSED, "0", "1", "1.5", "null", '"x"', '"*"']


def _request(f: Field, value: str) -> dict[str, Any]:
    """httpx arguments for f's route with f set to value (JSON text for a body)."""
    if f.where == "query":
        return {"params": {**f.base, f.name: value}}
    fields = ", ".join(
        [*(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in f.base.items()), f'"{f.name}": {value}']
    )
    return {"content": "{" + fields + "}", "headers": {"Content-Type": "application/json"}}


def assert_small_json(response: httpx.Response, sent: str) -> None:
    """A JSON answer, small when it is an error, never quoting a long value whole."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    if response.status_code >= 400:
        assert len(response.content) < SMALL, response.content[:300]
        assert set(response.json()) == {"detail"}
        assert len(sent) < SMALL // 2 or sent not in response.text


def assert_refused(response: httpx.Response, sent: str) -> None:
    assert response.status_code == 422, (sent[:50], response.status_code, response.text[:300])
    assert_small_json(response, sent)


# -- the table is the router ---------------------------------------------------------------------


def _routes(router: Any) -> Iterator[APIRoute]:
    """The routes of a router, through the routers it includes (none of them adds a prefix)."""
    for route in router.routes:
        inner = getattr(route, "original_router", None)  # FastAPI >= 0.165 wraps included routers
        if inner is not None:
            yield from _routes(inner)
        else:
            assert isinstance(route, APIRoute)
            yield route


def _router_inputs() -> dict[tuple[str, str], set[str]]:
    """Every route of the router, by method and path, with the fields it reads."""
    router = admin_router(Cache("memory://", namespace="t"), token=ADMIN)
    found: dict[tuple[str, str], set[str]] = {}
    for route in _routes(router):
        for method in route.methods:
            found[(method, route.path)] = _fields(route.dependant)
    return found


def _fields(dependant: Any) -> set[str]:
    """The query parameters and body fields a route (or a dependency) reads, its own
    dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    for param in dependant.body_params:
        model = param.field_info.annotation
        args = getattr(model, "__args__", (model,))
        for kind in args:
            for name, info in getattr(kind, "model_fields", {}).items():
                names.add(info.alias or name)
    for sub in dependant.dependencies:
        names |= _fields(sub)
    return names


def test_the_table_covers_every_route_and_field_of_the_router() -> None:
    table: dict[tuple[str, str], set[str]] = {}
    for f in [*NUMERIC, CURSOR, *TEXT]:
        table.setdefault((f.method, f.path), set()).add(f.name)
    for route in NO_INPUT:
        table.setdefault(route, set())
    # The page's asset name is a path parameter; the legacy flush's confirm is a text field.
    table[("GET", "/static/{name}")] = table.pop(("GET", "/static/app.js"))
    table[("POST", "/flush")].add("confirm")
    assert table == _router_inputs()


# -- the router mounted in an application --------------------------------------------------------


@pytest.fixture
def cache(redis_url: str, namespace: str) -> Iterator[Cache]:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        for i in range(5):
            cache.set(f"user:{i}", i, ttl=600)
        yield cache


@pytest.fixture
async def client(cache: Cache) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(admin_router(cache, token=ADMIN, read_only_token=READER), prefix="/_cache")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://admin.test/_cache", headers=headers
    ) as http:
        yield http


def _stored(raw: redis.Redis, namespace: str) -> dict[bytes, bool]:
    """The namespace's entries and whether each has a TTL."""
    return {k: raw.pttl(k) > 0 for k in raw.scan_iter(match=f"{namespace}:*")}


@pytest.mark.parametrize("f", NUMERIC, ids=lambda f: f.id)
async def test_every_number_out_of_bounds_is_a_small_422(
    client: httpx.AsyncClient, f: Field, raw_redis: redis.Redis, namespace: str
) -> None:
    before = _stored(raw_redis, namespace)
    hostile = QUERY_REFUSED if f.where == "query" else BODY_REFUSED
    for value in [*hostile, *f.beyond]:
        response = await client.request(f.method, f.path, **_request(f, value))
        assert_refused(response, value)
    for value in f.valid:
        response = await client.request(f.method, f.path, **_request(f, value))
        assert response.status_code in (200, 404, 409), (value, response.text[:300])
        assert_small_json(response, value)
    assert _stored(raw_redis, namespace) == before


async def test_every_cursor_number_is_bounded(client: httpx.AsyncClient) -> None:
    for value in CURSORS:
        response = await client.get("/api/keys", params={"cursor": value})
        assert_refused(response, value)
    ok = await client.get("/api/keys", params={"cursor": "0.0.0", "count": 2})
    assert ok.status_code == 200 and len(ok.json()["keys"]) >= 1


@pytest.mark.parametrize("f", [*NUMERIC, CURSOR, *TEXT], ids=lambda f: f.id)
async def test_no_field_answers_a_5xx(
    client: httpx.AsyncClient, f: Field, raw_redis: redis.Redis, namespace: str
) -> None:
    before = _stored(raw_redis, namespace)
    values = EVERYWHERE_QUERY if f.where == "query" else EVERYWHERE_BODY
    for value in values:
        response = await client.request(f.method, f.path, **_request(f, value))
        assert_small_json(response, value)
    # A flush of a text field's value may delete (prefix '1', say): none of these name a key.
    assert set(_stored(raw_redis, namespace)) == set(before)


@pytest.mark.parametrize(("method", "path"), NO_INPUT, ids=lambda v: str(v))
async def test_routes_without_input_ignore_hostile_queries(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    for value in ["inf", "NaN", "1e400", "9" * 400]:
        response = await client.request(method, path, params={"samples": value, "n": value})
        assert response.status_code == 200, (value, response.text[:200])


async def test_the_flush_that_used_to_fail_on_rate_inf(
    client: httpx.AsyncClient, raw_redis: redis.Redis, namespace: str
) -> None:
    # The case: accepted before validation, then int(inf / 10) in ops.
    before = _stored(raw_redis, namespace)
    for rate in ['"inf"', '"Infinity"', '"1e400"', "1e400", "NaN"]:
        body = '{"prefix": "user", "confirm": "user", "rate": ' + rate + "}"
        response = await client.post(
            "/api/flush", content=body, headers={"Content-Type": "application/json"}
        )
        assert_refused(response, rate)
        assert "rate" in response.text or "finite" in response.text
    assert _stored(raw_redis, namespace) == before
    done = await client.post("/api/flush", json={"prefix": "user", "confirm": "user", "rate": 1e6})
    assert done.status_code == 200 and done.json()["removed"] == 5


# -- `cachectl ui`, the console script -------------------------------------------------------------


def test_the_table_against_cachectl_ui(
    cli_isolated: Path, cachectl_script: str, redis_url: str, namespace: str
) -> None:
    from tests.test_cli_ui import ui_process

    args = ["--url", redis_url, "--namespace", namespace, "ui", "--json"]
    with ui_process(cachectl_script, cli_isolated, *args) as (proc, told):
        auth = {"Authorization": f"Bearer {told['token']}"}
        with httpx.Client(base_url=told["url"].rstrip("/"), headers=auth, timeout=30) as http:
            for f in NUMERIC:
                hostile = QUERY_REFUSED if f.where == "query" else BODY_REFUSED
                for value in [*hostile, *f.beyond]:
                    response = http.request(f.method, f.path, **_request(f, value))
                    assert_refused(response, value)
            for f in [CURSOR, *TEXT]:
                values = EVERYWHERE_QUERY if f.where == "query" else EVERYWHERE_BODY
                for value in values:
                    assert_small_json(http.request(f.method, f.path, **_request(f, value)), value)
        proc.terminate()
        assert proc.wait(20) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
