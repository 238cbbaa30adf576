"""The FastAPI admin router's flush endpoint against a real redis-server, through httpx.

Every bad selection is a 4xx with a JSON error body and deletes nothing; the router and
`cachectl flush` (the console script) accept and refuse the same selections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import AsyncCache, Cache
from cachectl.contrib.fastapi import admin_router
from tests.plugins.cli import CliResult

TOKEN = "router-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Run = Callable[..., CliResult]

# (query parameters, the `cachectl flush` options meaning the same, a word of the message)
BAD_SELECTIONS: list[tuple[list[tuple[str, str]], list[str] | None, str]] = [
    ([("prefix", "")], ["--prefix="], "non-empty prefix"),
    ([("prefix", ":")], ["--prefix", ":"], "non-empty prefix"),
    ([("prefix", ":::")], ["--prefix", ":::"], "non-empty prefix"),
    ([("pattern", "")], ["--pattern="], "non-empty glob"),
    ([("pattern", "user:[")], ["--pattern", "user:["], "never closed"),
    ([("pattern", "user:\\")], ["--pattern", "user:\\"], "lone backslash"),
    ([("tag", "")], ["--tag="], "non-empty tag"),
    ([("prefix", "a"), ("tag", "b")], ["--prefix", "a", "--tag", "b"], "choose one of"),
    ([("prefix", "a"), ("pattern", "b*")], ["--prefix", "a", "--pattern", "b*"], "choose one of"),
    ([], [], "choose what to"),
    ([("prefix", "a"), ("prefix", "b")], None, "more than once"),
    ([("key", "user:1")], None, "unknown query parameter"),
    ([("all", "1")], None, "unknown query parameter"),
]


@pytest.fixture(params=["sync", "async"])
async def router_app(
    request: pytest.FixtureRequest, redis_url: str, namespace: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Cache | AsyncCache]]:
    cache: Cache | AsyncCache
    if request.param == "sync":
        cache = Cache.from_url(redis_url, namespace=namespace)
    else:
        cache = AsyncCache.from_url(redis_url, namespace=namespace)
    app = FastAPI()
    app.include_router(admin_router(cache, token=TOKEN), prefix="/_cache")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
        yield client, cache
    if isinstance(cache, AsyncCache):
        await cache.aclose()
    else:
        cache.close()


def _keys(redis_url: str, namespace: str) -> set[bytes]:
    with redis.Redis.from_url(redis_url) as raw:
        return set(raw.scan_iter(match=f"{namespace}*"))


async def _fill(cache: Cache | AsyncCache) -> None:
    values: dict[str, Any] = {"user:1": 1, "user:2": 2, "user:[x": 3, "a:1": 4, "b1": 5}
    for key, value in values.items():
        if isinstance(cache, AsyncCache):
            await cache.set(key, value, tags=("t",))
        else:
            cache.set(key, value, tags=("t",))


@pytest.mark.parametrize(("params", "options", "word"), BAD_SELECTIONS)
async def test_a_bad_selection_is_a_4xx_with_a_json_error_and_deletes_nothing(
    router_app: tuple[httpx.AsyncClient, Cache | AsyncCache],
    redis_url: str,
    namespace: str,
    params: list[tuple[str, str]],
    options: list[str] | None,
    word: str,
) -> None:
    client, cache = router_app
    await _fill(cache)
    before = _keys(redis_url, namespace)
    response = await client.post("/_cache/flush", params=params, headers=AUTH)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and word in detail
    assert "--" not in detail  # query parameters, not command-line options
    assert _keys(redis_url, namespace) == before


@pytest.mark.parametrize(
    ("params", "options", "word"), [case for case in BAD_SELECTIONS if case[1] is not None]
)
def test_the_command_line_refuses_the_same_selections(
    run_script: Run, redis_url: str, params: object, options: list[str], word: str
) -> None:
    result = run_script("--url", redis_url, "--namespace", "routercli", "flush", *options, "--yes")
    assert result.exit_code == 2
    assert word in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("params", "removed", "left"),
    [
        ({"prefix": "user"}, 3, {"a:1", "b1"}),
        ({"prefix": "user:"}, 3, {"a:1", "b1"}),
        ({"pattern": "user:[12]"}, 2, {"user:[x", "a:1", "b1"}),
        ({"pattern": "user:\\[x"}, 1, {"user:1", "user:2", "a:1", "b1"}),
        ({"tag": "t"}, 5, set()),
        ({"tag": "no-such-tag"}, 0, {"user:1", "user:2", "user:[x", "a:1", "b1"}),
    ],
)
async def test_a_good_selection_flushes_what_the_command_line_would(
    router_app: tuple[httpx.AsyncClient, Cache | AsyncCache],
    redis_url: str,
    namespace: str,
    params: dict[str, str],
    removed: int,
    left: set[str],
) -> None:
    client, cache = router_app
    await _fill(cache)
    response = await client.post("/_cache/flush", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {**params, "removed": removed}
    remaining = {
        key.decode()[len(namespace) + 1 :]
        for key in _keys(redis_url, namespace)
        if key.startswith(f"{namespace}:".encode())
    }
    assert remaining == left


async def test_flush_still_needs_the_token(
    router_app: tuple[httpx.AsyncClient, Cache | AsyncCache],
) -> None:
    client, _ = router_app
    response = await client.post("/_cache/flush", params={"prefix": ""})
    assert response.status_code == 401
    assert response.json() == {"detail": "missing bearer token"}


@pytest.mark.parametrize("samples", ["0", "1001", "abc", ""])
async def test_a_bad_latency_sample_count_is_a_4xx_with_a_json_error(
    router_app: tuple[httpx.AsyncClient, Cache | AsyncCache], samples: str
) -> None:
    client, _ = router_app
    response = await client.get("/_cache/latency", params={"samples": samples}, headers=AUTH)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
