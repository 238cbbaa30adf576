"""The near cache (issue 19) against real servers: a single redis-server and the cluster, on
both faces. Each test would fail without the feature it names: reads answered without a
command, invalidations from other processes and from the CLI, loss of tracking, the in-flight
race, refusal, bounds, and the process's own writes read at once.

No assertion here is about time: waits are bounded polls ("until this holds, at most N s").
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from cachectl import AsyncCache, Cache, NearCache
from cachectl.cache.near import Near
from cachectl.stats import Counters
from tests.servers import RedisCluster, RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

PATIENT = {"socket_timeout": 2.0, "connect_timeout": 2.0, "pool_timeout": 2.0}
FACES = ["sync", "async"]
#: Seconds any bounded wait gives up after (far above what a quiet machine needs).
WAIT = 10.0


class Face:
    """A Cache, or an AsyncCache driven on a loop of its own: one test body for both."""

    def __init__(self, kind: str, url: str, namespace: str, **options: Any) -> None:
        self.kind = kind
        options = {"near_cache": True, **PATIENT, **options}
        if kind == "sync":
            self.cache: Any = Cache(url, namespace=namespace, **options)
        else:
            self.loop = asyncio.new_event_loop()
            self.cache = AsyncCache(url, namespace=namespace, **options)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.cache, name)
        if self.kind == "async" and inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self.loop.run_until_complete(attr(*args, **kwargs))
        return attr

    @property
    def near(self) -> Near:
        near = self.cache.near
        assert near is not None
        return near

    def close(self) -> None:
        if self.kind == "sync":
            self.cache.close()
        elif not self.loop.is_closed():
            self.loop.run_until_complete(self.cache.close())
            self.loop.close()


def until(condition: Callable[[], object], what: str, seconds: float = WAIT) -> None:
    """Wait until condition() holds; fail naming what did not happen."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.005)


def warm(face: Face, key: str) -> Any:
    """Read key until the near cache holds it (tracking established, entry kept)."""
    full = face.cache.keys.full(key)

    def held() -> bool:
        face.get(key)
        return full in face.near.entries

    until(held, f"the near cache keeps {key!r}")
    return face.get(key)


@pytest.fixture(params=FACES)
def face_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(face_kind: str, namespace: str) -> Iterator[Callable[..., Face]]:
    """Faces of the parametrized kind, closed after the test."""
    made: list[Face] = []

    def build(url: str, **options: Any) -> Face:
        face = Face(face_kind, url, namespace, **options)
        made.append(face)
        return face

    yield build
    for face in made:
        face.close()


def gets(clients: list[redis.Redis]) -> int:
    """GET commands the servers have run so far."""
    total = 0
    for client in clients:
        stats = client.info("commandstats")
        total += int(stats.get("cmdstat_get", {"calls": 0})["calls"])
    return total


@pytest.fixture(params=["redis", "cluster"])
def where(
    request: pytest.FixtureRequest, namespace: str
) -> Iterator[tuple[str, list[redis.Redis]]]:
    """A server URL (flushed) and plain clients to each of its primaries."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url = str(request.getfixturevalue("redis_url"))
        clients = [server.client()]
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        url = str(request.getfixturevalue("cluster_url"))
        clients = [node.client() for node in cluster.nodes]
    yield url, clients
    for client in clients:
        client.close()


def raw_writer(url: str) -> Any:
    """A plain redis-py client for url (a cluster client for a cluster URL)."""
    if url.startswith("redis+cluster://"):
        return redis.RedisCluster.from_url(url.replace("+cluster", ""))
    return redis.Redis.from_url(url)


# -- reads answered in the process ------------------------------------------------------------


def test_a_repeated_get_sends_no_command(
    make: Callable[..., Face], where: tuple[str, list[redis.Redis]]
) -> None:
    url, clients = where
    face = make(url)
    face.set("user:1", {"name": "Ada"})
    assert warm(face, "user:1") == {"name": "Ada"}
    before = gets(clients)
    for _ in range(100):
        assert face.get("user:1") == {"name": "Ada"}
        assert face.has("user:1")
    assert gets(clients) == before
    stats = face.stats()
    assert stats["user"].near >= 200
    assert stats.near is not None and stats.near.state == "on"


def test_get_many_serves_what_it_holds_and_fetches_the_rest_at_once(
    make: Callable[..., Face], redis_server: RedisServer, redis_url: str
) -> None:
    face = make(redis_url)
    face.set_many({"a": 1, "b": 2, "c": 3})
    warm(face, "a")
    with redis_server.client() as raw:
        before = raw.info("commandstats")
        assert face.get_many(["a", "b", "c", "absent"]) == {"a": 1, "b": 2, "c": 3}
        after = raw.info("commandstats")
    assert after.get("cmdstat_mget", {"calls": 0})["calls"] == (
        before.get("cmdstat_mget", {"calls": 0})["calls"] + 1
    )
    assert after.get("cmdstat_get") == before.get("cmdstat_get")
    # Now every one of them is held, the absent one too (as absent).
    until(
        lambda: (
            face.get_many(["a", "b", "c", "absent"]) == {"a": 1, "b": 2, "c": 3}
            and {face.cache.keys.full(k) for k in "abc"} <= set(face.near.entries)
        ),
        "get_many keeps what it fetched",
    )


def test_a_miss_is_kept_until_the_key_is_written(
    make: Callable[..., Face], redis_server: RedisServer, redis_url: str
) -> None:
    face = make(redis_url)
    warm(face, "nothing-here")
    with redis_server.client() as raw:
        before = gets([raw])
        assert face.get("nothing-here", "default") == "default"
        assert not face.has("nothing-here")
        assert gets([raw]) == before
        raw_key = face.cache.keys.full("nothing-here")
        # Written by someone else in cachectl's format: announced, so no longer absent here.
        Cache(redis_url, namespace=face.cache.namespace).set("nothing-here", 7)
        del raw_key
    until(lambda: face.get("nothing-here") == 7, "the key written elsewhere is read")


# -- coherence with other processes ------------------------------------------------------------


WRITER = """
import sys
from cachectl import Cache
url, namespace, key, value = sys.argv[1:]
with Cache(url, namespace=namespace, socket_timeout=2.0) as cache:
    cache.set(key, value)
"""


def test_a_write_in_another_process_is_seen(
    make: Callable[..., Face], where: tuple[str, list[redis.Redis]]
) -> None:
    url, _ = where
    face = make(url)
    face.set("page:home", "old")
    assert warm(face, "page:home") == "old"
    subprocess.run(
        [sys.executable, "-c", WRITER, url, face.cache.namespace, "page:home", "new"],
        check=True,
        timeout=60,
    )
    until(lambda: face.get("page:home") == "new", "the other process's write is read")
    assert face.near.stats().invalidations >= 1


def test_a_cachectl_flush_is_seen(
    make: Callable[..., Face],
    redis_url: str,
    run_script: Callable[..., Any],
) -> None:
    face = make(redis_url)
    face.set_many({"user:1": 1, "user:2": 2, "other": 3}, tags=["people"])
    for key in ("user:1", "user:2", "other"):
        warm(face, key)
    namespace = face.cache.namespace
    base = ["--url", redis_url, "--namespace", namespace, "flush", "--yes"]
    assert run_script(*base, "--prefix", "user").exit_code == 0
    until(lambda: face.get("user:1") is None and face.get("user:2") is None, "--prefix seen")
    assert face.get("other") == 3
    assert run_script(*base, "--tag", "people").exit_code == 0
    until(lambda: face.get("other") is None, "--tag seen")
    face.set("last", 4)
    warm(face, "last")
    assert run_script(*base, "--all").exit_code == 0
    until(lambda: face.get("last") is None, "--all seen")


def test_flushall_empties_it(
    make: Callable[..., Face], redis_server: RedisServer, redis_url: str
) -> None:
    face = make(redis_url)
    face.set("k", 1)
    warm(face, "k")
    flushes = face.near.stats().flushes
    with redis_server.client() as raw:
        raw.flushall()
    until(lambda: face.get("k") is None, "FLUSHALL seen")
    assert face.near.stats().flushes > flushes


# -- losing tracking -------------------------------------------------------------------------


def tracking_ids(client: redis.Redis) -> list[int]:
    """Ids of the near cache's tracking connections on a server."""
    listed = client.client_list()
    return [int(c["id"]) for c in listed if c.get("name") == "cachectl-near"]


def test_client_kill_then_a_raw_write_is_never_served_stale(
    make: Callable[..., Face], where: tuple[str, list[redis.Redis]]
) -> None:
    url, clients = where
    face = make(url)
    face.set("price", 10)
    for round_ in range(3):
        assert warm(face, "price") == 10 + round_
        ids = [tracking_ids(client) for client in clients]
        assert [len(found) for found in ids] == [1] * len(clients)  # one per primary
        # One is enough: losing any, the near cache drops every tracking connection.
        turn = round_ % len(clients)
        clients[turn].client_kill_filter(_id=ids[turn][0])
        with raw_writer(url) as writer:
            # Written as cachectl writes it, by no cachectl: only tracking could tell.
            writer.set(face.cache.keys.full("price"), Cache("memory://").codec.encode(11 + round_))
        # The loss is seen, the near cache flushed: from then on never the old value.
        new = 11 + round_
        until(lambda: face.get("price") == new, "the write after CLIENT KILL is read")  # noqa: B023
        for _ in range(50):
            assert face.get("price") == new
    until(lambda: face.near.stats().state == "on", "tracking is established again")


def test_an_invalidation_during_a_read_leaves_nothing_stale(
    make: Callable[..., Face], where: tuple[str, list[redis.Redis]]
) -> None:
    """The reply of a read carries the old value; before it is kept, another process writes
    the key and its invalidation is applied. The old value must not be kept."""
    url, _ = where
    face = make(url)
    face.set("stock", 5)
    warm(face, "stock")
    face.delete("stock")  # this process's write: dropped at once, read again below
    face.set("stock", 5)
    near = face.near
    tracked = face.cache._tracked
    original = tracked.get_entry
    full = face.cache.keys.full("stock")
    encoded = Cache("memory://").codec.encode(6)

    def write_during(reply: tuple[bytes | None, int]) -> tuple[bytes | None, int]:
        seen = near.stats().invalidations
        with raw_writer(url) as writer:
            writer.set(full, encoded)
        until(lambda: near.stats().invalidations > seen, "the invalidation is applied")
        return reply  # the value read before the write

    if face.kind == "sync":

        def racing(key: bytes) -> tuple[bytes | None, int]:
            return write_during(original(key))

    else:

        async def racing(key: bytes) -> tuple[bytes | None, int]:  # type: ignore[misc]
            return write_during(await original(key))

    tracked.get_entry = racing
    try:
        assert face.get("stock") == 5  # the reply as it came: older than the write
    finally:
        del tracked.get_entry
    assert full not in near.entries
    assert face.get("stock") == 6


# -- refused, or not needed ---------------------------------------------------------------------


@pytest.mark.parametrize("denied", ["-client", "-client|tracking"])
def test_an_acl_user_without_client_works_without_it_and_is_warned(
    make: Callable[..., Face],
    redis_server: RedisServer,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
    denied: str,
) -> None:
    with redis_server.client() as admin:
        admin.execute_command("ACL", "SETUSER", "noclient", "on", ">pw", "~*", "+@all", denied)
    try:
        url = redis_url.replace("redis://", "redis://noclient:pw@")
        caplog.set_level(logging.WARNING, logger="cachectl")
        face = make(url)
        face.set("k", 1)
        until(lambda: face.get("k") == 1 and face.near.stats().state == "off", "refusal seen")
        with redis_server.client() as raw:
            before = gets([raw])
            for _ in range(5):
                assert face.get("k") == 1
            assert gets([raw]) == before + 5  # every read goes to Redis
        stats = face.near.stats()
        assert "refuses tracking" in stats.reason and "NOPERM" in stats.reason
        assert face.stats().near == stats
        warnings = [r for r in caplog.records if "near cache off" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        with redis_server.client() as admin:
            admin.execute_command("ACL", "DELUSER", "noclient")


def test_near_cache_on_memory_is_a_no_op(make: Callable[..., Face]) -> None:
    face = make("memory://")
    face.set("k", {"v": 1})
    assert face.get("k") == {"v": 1}
    assert face.cache.near is None
    stats = face.stats().near
    assert stats is not None and stats.state == "off"
    assert "memory://" in stats.reason


# -- this process's own writes -------------------------------------------------------------------

OWN_WRITES: dict[str, Callable[[Face], object]] = {
    "set": lambda f: f.set("k", 2),
    "set_many": lambda f: f.set_many({"k": 2}),
    "delete": lambda f: f.delete("k"),
    "delete_many": lambda f: f.delete_many(["k"]),
    "incr": lambda f: f.incr("k"),
    "touch": lambda f: f.touch("k", 0.001),
    "invalidate_prefix": lambda f: f.invalidate_prefix("k"),
    "invalidate_pattern": lambda f: f.invalidate_pattern("k*"),
    "invalidate_tag": lambda f: f.invalidate_tag("t"),
    "clear": lambda f: f.clear(),
}
AFTER = {"set": 2, "set_many": 2, "incr": 2}


@pytest.mark.parametrize("write", sorted(OWN_WRITES))
def test_own_writes_are_read_at_once(make: Callable[..., Face], redis_url: str, write: str) -> None:
    face = make(redis_url)
    face.set("k", 1, tags=["t"])
    assert warm(face, "k") == 1
    OWN_WRITES[write](face)
    if write == "touch":
        time.sleep(0.01)  # the new 1 ms expiry has passed
    assert face.get("k") == AFTER.get(write)


def test_add_and_get_or_set_read_their_own_write(make: Callable[..., Face], redis_url: str) -> None:
    face = make(redis_url)
    warm(face, "k")  # held as absent
    assert face.add("k", 1)
    assert face.get("k") == 1
    warm(face, "j")
    assert face.get_or_set("j", 5) == 5
    assert face.get("j") == 5


# -- bounds ------------------------------------------------------------------------------------


def test_entries_are_bounded_by_count(make: Callable[..., Face], redis_url: str) -> None:
    face = make(redis_url, near_cache=NearCache(max_entries=10))
    face.set_many({f"n:{i}": i for i in range(50)})
    warm(face, "n:0")
    for i in range(50):
        assert face.get(f"n:{i}") == i
    stats = face.near.stats()
    assert stats.entries <= 10
    assert stats.evictions >= 40


def test_entries_are_bounded_by_bytes(make: Callable[..., Face], redis_url: str) -> None:
    face = make(redis_url, near_cache=NearCache(max_bytes=64 * 1024))
    value = "x" * 4000
    face.set_many({f"b:{i}": value for i in range(100)})
    warm(face, "b:0")
    for i in range(100):
        assert face.get(f"b:{i}") == value
    assert face.near.stats().bytes <= 64 * 1024
    assert face.near.stats().entries < 100


def test_no_entry_outlives_its_key(make: Callable[..., Face], redis_url: str) -> None:
    face = make(redis_url)
    face.set("short", "lived", ttl=0.3)
    warm(face, "short")
    entry = face.near.entries[face.cache.keys.full("short")]
    assert entry[0] <= time.monotonic_ns() + 300_000_000
    until(lambda: face.get("short") is None, "the entry expires with its key")


def test_values_are_fresh_objects_unless_shared(make: Callable[..., Face], redis_url: str) -> None:
    face = make(redis_url)
    shared = make(redis_url, near_cache=NearCache(shared_values=True))
    face.set("doc", {"tags": ["a"]})
    first = warm(face, "doc")
    second = face.get("doc")
    assert first == second and first is not second
    first["tags"].append("changed by the caller")
    assert face.get("doc") == {"tags": ["a"]}
    one = warm(shared, "doc")
    assert shared.get("doc") is one


# -- faults ----------------------------------------------------------------------------------


def test_a_server_restart_empties_it(make: Callable[..., Face], own_redis: RedisServer) -> None:
    face = make(own_redis.url)
    face.set("k", 1)
    warm(face, "k")
    own_redis.restart()
    with own_redis.client() as raw:
        raw.set(face.cache.keys.full("k"), Cache("memory://").codec.encode(2))
    until(lambda: face.get("k") == 2, "the restarted server's value is read")
    assert face.near.stats().flushes >= 1


def test_the_breaker_opening_empties_it(make: Callable[..., Face], own_redis: RedisServer) -> None:
    face = make(own_redis.url, socket_timeout=0.2, failure_threshold=1, recovery_interval=0.2)
    face.set("k", 1)
    face.set("j", 1)
    warm(face, "k")
    own_redis.pause()
    try:
        face.get("j")  # times out: the breaker opens
        assert face.cache.breaker_state.value != "closed"
        assert face.near.stats().entries == 0
        assert face.cache.keys.full("k") not in face.near.entries
    finally:
        own_redis.resume()
    until(lambda: face.near.stats().state == "on", "tracking is established again")
    until(lambda: face.get("k") == 1, "reads recover")


def test_a_forked_child_serves_nothing_of_its_parents(redis_url: str, namespace: str) -> None:
    cache = Cache(redis_url, namespace=namespace, near_cache=True, **PATIENT)
    try:
        cache.set("k", "parent")
        face = Face.__new__(Face)
        face.kind, face.cache = "sync", cache
        warm(face, "k")
        with redis.Redis.from_url(redis_url) as raw:
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: the parent's entries and tracking are not its own
                os.close(read)
                held = bool(cache.near is not None and cache.near.entries)
                raw.set(cache.keys.full("k"), cache.codec.encode("child"))
                seen = cache.get("k")
                os.write(write, f"{held}|{seen}".encode())
                os._exit(0)
            os.close(write)
            answer = os.read(read, 100).decode()
            os.waitpid(pid, 0)
            os.close(read)
        assert answer == "False|child"
        until(lambda: cache.get("k") == "child", "the parent reads the child's write")
    finally:
        cache.close()


# -- what is published, and what cachectl stats shows ---------------------------------------------


def test_near_figures_are_published_and_shown(
    make: Callable[..., Face],
    redis_url: str,
    run_script: Callable[..., Any],
) -> None:
    face = make(redis_url, stats_interval=0.05)
    face.set_many({"user:1": 1, "page:1": 2})
    warm(face, "user:1")
    for _ in range(10):
        face.get("user:1")
    face.set("page:1", 3)  # an invalidation of page, received by this process too
    namespace = face.cache.namespace
    base = ["--url", redis_url, "--namespace", namespace, "stats"]

    def published() -> dict[str, Any]:
        face.publish_stats()
        done = run_script(*base, "--json")
        assert done.exit_code == 0, done.stderr
        report: dict[str, Any] = done.json()
        return report

    until(
        lambda: (r := published())["near"] is not None and r["total"]["near_invalidations"] >= 1,
        "the near figures are published",
    )
    report = published()
    assert report["near"]["processes"] == report["near"]["on"] == 1
    assert report["near"]["entries"] >= 1 and report["near"]["bytes"] > 0
    rows = {row["prefix"]: row for row in report["prefixes"]}
    assert rows["user"]["near"] >= 10
    table = run_script(*base)
    assert "Near caches: 1 process (1 on)" in table.stdout
    assert (
        " near "
        in table.stdout.splitlines()[
            table.stdout.splitlines().index(
                next(line for line in table.stdout.splitlines() if line.startswith("prefix"))
            )
        ]
    )
    prometheus = run_script(*base, "--format", "prometheus").stdout
    assert f'cachectl_near_total{{namespace="{namespace}",prefix="user"}}' in prometheus
    assert f'cachectl_near_caches{{namespace="{namespace}",state="on"}} 1.0' in prometheus
    assert f'cachectl_near_entries{{namespace="{namespace}"}}' in prometheus
    face.close()
    after = run_script(*base, "--json").json()
    assert after["near"] is None  # a closed near cache takes its snapshot back


def test_foreign_snapshots_are_skipped(
    redis_server: RedisServer, redis_url: str, namespace: str, run_script: Callable[..., Any]
) -> None:
    key = f"{namespace}#near"
    future = int(time.time() * 1000) + 60_000
    good = f"{'a' * 32}|on|5|1000|2"
    with redis_server.client() as raw:
        raw.set(f"{namespace}:k", b"\xc1\x01\x00\x01")
        raw.zadd(key, {good: future, "\x1b[31mevil|on|9|9|9": future, "x" * 500: future})
        report = run_script("--url", redis_url, "--namespace", namespace, "stats", "--json")
        near = report.json()["near"]
        assert near == {
            "processes": 1, "on": 1, "starting": 0, "off": 0,
            "entries": 5, "bytes": 1000, "flushes": 2, "skipped": 2,
        }  # fmt: skip
        table = run_script("--url", redis_url, "--namespace", namespace, "stats")
        assert "\x1b" not in table.stdout
        raw.delete(key)
        raw.set(key, "not a sorted set")
        report = run_script("--url", redis_url, "--namespace", namespace, "stats", "--json")
        assert report.json()["near"]["skipped"] == 1


async def test_the_pages_overview_shows_the_near_caches(redis_url: str, namespace: str) -> None:
    pytest.importorskip("fastapi")
    import httpx
    from fastapi import FastAPI

    from cachectl.contrib.fastapi import admin_router

    with Cache(redis_url, namespace=namespace, near_cache=True, **PATIENT) as cache:
        cache.set("user:1", {"n": 1})
        face = Face.__new__(Face)
        face.kind, face.cache = "sync", cache
        warm(face, "user:1")
        for _ in range(5):
            cache.get("user:1")
        cache.publish_stats()
        app = FastAPI()
        app.include_router(admin_router(cache, token="t0ken"), prefix="/_cache")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
            answer = await client.get(
                "/_cache/api/overview", headers={"Authorization": "Bearer t0ken"}
            )
        overview = answer.json()
        assert overview["near"]["processes"] == overview["near"]["on"] == 1
        assert overview["near"]["entries"] >= 1
        rows = {row["prefix"]: row for row in overview["prefixes"]}
        assert rows["user"]["near"] >= 5


class HelloRefusingProxy:
    """A TCP proxy to a Redis server that answers HELLO as a server older than 6 (or a proxy
    without RESP3) does, and forwards everything else."""

    def __init__(self, port: int) -> None:
        import socket as socket_module
        import threading

        self.target = port
        self.listener = socket_module.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.sockets: list[Any] = []
        self.accepting = threading.Thread(target=self._accept)
        self.accepting.start()

    def _accept(self) -> None:
        import socket as socket_module
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket_module.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, server]
            for target, args in (
                (self._upstream, (client, server)),
                (self._pipe, (server, client)),
            ):
                thread = threading.Thread(target=target, args=args)
                self.threads.append(thread)
                thread.start()

    def _upstream(self, client: Any, server: Any) -> None:
        import hiredis

        reader = hiredis.Reader()
        try:
            while data := client.recv(65536):
                reader.feed(data)
                while (command := reader.gets()) is not False:
                    if command and command[0].upper() == b"HELLO":
                        client.sendall(b"-ERR unknown command 'HELLO'\r\n")
                    else:
                        server.sendall(hiredis.pack_command(tuple(command)))
        except OSError:
            pass
        finally:
            server.close()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def close(self) -> None:
        import socket as socket_module

        with contextlib.suppress(OSError):
            self.listener.shutdown(socket_module.SHUT_RDWR)  # wakes the accept
        self.listener.close()
        self.accepting.join(5)
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket_module.SHUT_RDWR)
        for thread in self.threads:
            thread.join(5)
        for sock in self.sockets:
            sock.close()


def test_a_server_without_resp3_gets_no_near_cache_and_one_warning(
    make: Callable[..., Face],
    redis_server: RedisServer,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = HelloRefusingProxy(redis_server.port)
    try:
        caplog.set_level(logging.WARNING, logger="cachectl")
        face = make(f"redis://127.0.0.1:{proxy.port}/0")
        face.set("k", 1)
        until(lambda: face.get("k") == 1 and face.near.stats().state == "off", "refusal seen")
        assert "HELLO" in face.near.stats().reason
        assert [face.get("k") for _ in range(5)] == [1] * 5
        assert face.stats()["k"].near == 0
        warnings = [r for r in caplog.records if "near cache off" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        proxy.close()


def test_a_decorated_function_is_answered_by_the_near_cache(
    make: Callable[..., Face], redis_server: RedisServer, redis_url: str
) -> None:
    face = make(redis_url)
    calls: list[int] = []
    if face.kind == "sync":

        @face.cache.cached(ttl=60, prefix="report", stale=30)
        def report(n: int) -> dict[str, int]:
            calls.append(n)
            return {"n": n}

        call = report
    else:

        @face.cache.cached(ttl=60, prefix="report", stale=30)
        async def areport(n: int) -> dict[str, int]:
            calls.append(n)
            return {"n": n}

        def call(n: int) -> Any:
            return face.loop.run_until_complete(areport(n))

    assert call(1) == {"n": 1}
    until(lambda: call(1) == {"n": 1} and len(face.near.entries) == 1, "the result is held")
    with redis_server.client() as raw:
        before = gets([raw])
        assert [call(1) for _ in range(20)] == [{"n": 1}] * 20
        assert gets([raw]) == before
    assert calls == [1]


def test_a_malformed_invalidation_empties_the_near_cache_and_raises_nothing() -> None:
    """A push that is not a list of key names (a hostile or broken server) drops everything,
    from a reader's poll as from the thread, and never reaches the caller as an error."""
    import socket

    from cachectl.backends.redis.tracking import Link, Tracker
    from cachectl.codec import Codec
    from cachectl.config import build_config

    server_end, client_end = socket.socketpair()

    class Stub:
        def __init__(self) -> None:
            self._sock = client_end
            self.handshake_metadata = {b"role": b"master"}

        def disconnect(self) -> None:
            client_end.close()

    config = build_config("redis://127.0.0.1:1/0", namespace="m")
    near = Near(NearCache(), Codec())
    tracker = Tracker(config, near)
    try:
        tracker._links = [Link(Stub(), "stub")]
        client_end.setblocking(False)
        near.established()
        for hostile in (b">2\r\n$10\r\ninvalidate\r\n*2\r\n:1\r\n$3\r\nm:k\r\n",
                        b">2\r\n$10\r\ninvalidate\r\n$3\r\nm:k\r\n"):  # fmt: skip
            token = near.begin(b"m:k")
            near.keep(b"m:k", token, b"\xc1\x01\x00\x01", (1, None), -1, 0, Counters())
            assert b"m:k" in near.entries
            flushes = near.stats().flushes
            server_end.sendall(hostile)
            assert tracker.poll() is True
            assert b"m:k" not in near.entries and near.stats().flushes == flushes + 1
    finally:
        near.close()
        server_end.close()
        client_end.close()


def test_the_documented_application_role_runs_the_near_cache(
    make: Callable[..., Face], redis_server: RedisServer, redis_url: str, namespace: str
) -> None:
    """docs/acl.md's application user: the near cache on, its snapshot published."""
    from tests.test_acl_roles import PASSWORD, rules_for

    with redis_server.client() as admin:
        admin.execute_command("ACL", "SETUSER", "near-app", *rules_for("cachectl-app", namespace))
    try:
        face = make(redis_url.replace("redis://", f"redis://near-app:{PASSWORD}@"))
        face.set("k", 1)
        assert warm(face, "k") == 1
        assert face.near.stats().state == "on"
        face.publish_stats()
        with redis_server.client() as raw:
            assert raw.zcard(f"{namespace}#near") == 1
    finally:
        with redis_server.client() as admin:
            admin.execute_command("ACL", "DELUSER", "near-app")
