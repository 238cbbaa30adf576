"""The review's drift examples, for every built-in backend pair: the async backend offers what
the sync one does (it lacked count_matching), and where scripts are refused both faces do the
same work with the same results (the async one unlinked without pipelining)."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from cachectl.backends.base import AsyncBackend, Backend
from cachectl.backends.memory import AsyncMemoryBackend, MemoryStore
from cachectl.backends.redis import AsyncRedisBackend, RedisBackend
from cachectl.config import build_config
from tests.servers import RedisServer

CONTRACT = sorted(
    name
    for name in set(dir(Backend)) | set(dir(AsyncBackend))
    if not name.startswith("_") and name not in ("errors", "transient_errors")
)


def _public(cls: type) -> dict[str, object]:
    return {n: v for n, v in inspect.getmembers(cls) if not n.startswith("_")}


@pytest.mark.parametrize(
    ("sync_cls", "async_cls"),
    [(RedisBackend, AsyncRedisBackend), (MemoryStore, AsyncMemoryBackend)],
    ids=["redis", "memory"],
)
def test_both_faces_keep_the_contract(sync_cls: type, async_cls: type) -> None:
    for name in CONTRACT:
        sync_attr, async_attr = getattr(sync_cls, name), getattr(async_cls, name)
        if name == "from_config":
            continue
        assert not inspect.iscoroutinefunction(sync_attr), name
        assert inspect.iscoroutinefunction(async_attr), name
        sync_params = list(inspect.signature(sync_attr).parameters)
        async_params = list(inspect.signature(async_attr).parameters)
        assert sync_params[: len(async_params)] == async_params or sync_params == async_params, name
    assert sync_cls.errors == async_cls.errors
    assert sync_cls.transient_errors == async_cls.transient_errors


#: Members that only one face has, by design: the sync backend renews its lock in a forked
#: child; the async one hands out the running event loop's client.
FACE_ONLY = {"after_fork", "client"}


def test_the_redis_backends_offer_the_same_methods() -> None:
    sync_public, async_public = _public(RedisBackend), _public(AsyncRedisBackend)
    for face in (sync_public, async_public):
        for name in FACE_ONLY:
            face.pop(name, None)
    assert sorted(sync_public) == sorted(async_public)
    for name, attr in async_public.items():
        # track makes the near cache's tracker, a thread for both faces (backends.redis.tracking).
        if callable(attr) and name not in ("from_config", "track"):
            assert inspect.iscoroutinefunction(attr) or inspect.isasyncgenfunction(attr), name
            sync_params = list(inspect.signature(sync_public[name]).parameters)  # type: ignore[arg-type]
            assert list(inspect.signature(attr).parameters) == sync_params, name


@pytest.mark.parametrize("scripts", [True, False], ids=["server-side", "scripts-refused"])
@pytest.mark.parametrize("face", ["sync", "async"])
def test_matching_keys_are_counted_and_deleted_alike(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    redis_url: str,
    scripts: bool,
    face: str,
) -> None:
    url = redis_url if scripts else str(request.getfixturevalue("no_script_url"))
    config = build_config(url, namespace="parity", socket_timeout=5.0, connect_timeout=5.0)
    with redis_server.client() as raw:
        raw.mset({f"parity:a:{i}".encode(): b"1" for i in range(2500)})
        raw.mset({b"parity:b:1": b"1", b"parity:b:2": b"1"})
    batches: list[int] = []
    if face == "sync":
        backend = RedisBackend(config)
        counted = [backend.count_matching(b"parity:a:*", n) for n in (10, 1000)]
        removed = backend.delete_matching([b"parity:a:*", b"parity:none:*"], batches.append, 1000)
        backend.close()
    else:

        async def run() -> tuple[list[int], int]:
            backend = AsyncRedisBackend(config)
            try:
                counts = [await backend.count_matching(b"parity:a:*", n) for n in (10, 1000)]
                return counts, await backend.delete_matching(
                    [b"parity:a:*", b"parity:none:*"], batches.append, 1000
                )
            finally:
                await backend.close()

        counted, removed = asyncio.run(run())
    assert counted == [2500, 2500]
    assert removed == 2500 == sum(batches)
    with redis_server.client() as raw:
        assert sorted(set(raw.scan_iter(b"parity:*"))) == [b"parity:b:1", b"parity:b:2"]
        raw.delete(b"parity:b:1", b"parity:b:2")
