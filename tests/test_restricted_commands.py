"""Commands a managed service may refuse or rename, one at a time: CLIENT, INFO, MEMORY, CONFIG,
DEBUG and KEYS, each refused to an ACL user (`+@all -<command>`) and renamed away on a server of
the test's own (`rename-command <command> ""`).

Whatever is missing, the library works against Redis (nothing served from the fallback) and
every command of the tool succeeds; a figure that needs the missing command is absent with a
note saying why, never an invented zero (docs/acl.md, "Restricted and renamed commands").
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from cachectl import AsyncCache, Cache
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult
from tests.servers import RedisCluster, RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

Run = Callable[..., CliResult]
RESTRICTED = ("CLIENT", "INFO", "MEMORY", "CONFIG", "DEBUG", "KEYS")
USER = "restricted"


@dataclass
class Restricted:
    """A server where one command is unavailable, and how it is."""

    command: str
    how: str  # "acl" or "renamed"
    url: str  # as the application and the tool reach it
    admin: redis.Redis  # all-powerful, to look around the restriction

    def client_names(self) -> set[str]:
        """The names of the connections this test's user holds (the ACL variant shares the
        session's server with other tests' connections)."""
        clients = self.admin.client_list()
        if self.how == "acl":
            clients = [c for c in clients if c.get("user") == USER]
        return {c["name"] for c in clients}

    @property
    def note_words(self) -> str:
        """What a note says about the command's absence."""
        return "refused to this user (NOPERM)" if self.how == "acl" else "does not know"


@pytest.fixture(scope="module")
def renamed_servers() -> Iterator[dict[str, RedisServer]]:
    """One server per command, started when first asked for, that renamed it away."""
    servers: dict[str, RedisServer] = {}
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(params=[(c, h) for c in RESTRICTED for h in ("acl", "renamed")], ids=str)
def restricted(
    request: pytest.FixtureRequest,
    renamed_servers: dict[str, RedisServer],
) -> Iterator[Restricted]:
    command, how = request.param
    if how == "renamed":
        server = renamed_servers.get(command)
        if server is None:
            server = renamed_servers[command] = RedisServer(["--rename-command", command, ""])
            server.start()
        with server.client() as admin:
            admin.flushall()
            yield Restricted(command, how, server.url, admin)
        return
    server = request.getfixturevalue("redis_server")
    request.getfixturevalue("redis_url")  # flushed
    with server.client() as admin:
        admin.execute_command("ACL", "SETUSER", USER, "reset", "on", ">pw", "~*", "&*", "+@all")
        admin.execute_command("ACL", "SETUSER", USER, f"-{command.lower()}")
        try:
            yield Restricted(command, how, server.url.replace("://", f"://{USER}:pw@"), admin)
        finally:
            admin.execute_command("ACL", "DELUSER", USER)


@pytest.fixture(autouse=True)
def warned_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees its own warning: the process warns once per URL, and URLs recur here."""
    from cachectl.backends.redis import clients

    monkeypatch.setattr(clients, "_warned", set())


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_library_works_against_redis(
    restricted: Restricted, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachectl")
    with Cache(restricted.url, namespace=namespace, stats_interval=0.01, **PATIENT) as cache:
        cache.set("item:1", {"a": 1}, tags=("t",))
        cache.set("n", 1)
        assert cache.incr("n") == 2
        assert cache.get("item:1") == {"a": 1}
        assert cache.invalidate_tag("t") == 1
        cache.set("kept", "x")
        assert cache.breaker_state == "closed"
        assert sum(c.fallback + c.errors for c in cache.recorder.prefixes.values()) == 0
    assert restricted.admin.exists(f"{namespace}:kept")
    warned = _warnings(caplog)
    if restricted.command == "CLIENT":
        # The name is refused; one warning names the refused command, nothing else fails.
        assert len(warned) == 1 and "CLIENT SETNAME" in warned[0], warned
        assert "connections stay unnamed" in warned[0]
    else:
        assert warned == []
        assert "cachectl" not in restricted.client_names()  # closed: none left behind
    if restricted.command != "CLIENT":
        with Cache(restricted.url, namespace=namespace, **PATIENT) as cache:
            cache.get("kept")
            assert "cachectl" in restricted.client_names()


async def test_asyncio_library_works_against_redis(
    restricted: Restricted, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachectl")
    async with AsyncCache(restricted.url, namespace=namespace, **PATIENT) as cache:
        await cache.set("item:1", 1, tags=("t",))
        assert await cache.get("item:1") == 1
        assert await cache.invalidate_tag("t") == 1
        await cache.set("kept", "x")
        assert cache.breaker_state == "closed"
    assert restricted.admin.exists(f"{namespace}:kept")
    warned = _warnings(caplog)
    assert len(warned) == (1 if restricted.command == "CLIENT" else 0), warned


@pytest.fixture
def seeded(restricted: Restricted, namespace: str) -> Restricted:
    """Entries of growing sizes, a tag and published stats, written by an all-powerful user."""
    admin_url = restricted.url.replace(f"{USER}:pw@", "")
    with Cache(admin_url, namespace=namespace, stats_interval=0.01, **PATIENT) as cache:
        for i in range(1, 8):
            # Random bytes: stored uncompressed, so each is bigger than the one before.
            value = random.Random(i).randbytes(3000 * i)
            cache.set(f"item:{i}", value, tags=("t",) if i < 3 else ())
            cache.get(f"item:{i}")
    return restricted


def test_every_command_of_the_tool_succeeds(
    seeded: Restricted, namespace: str, run_script: Run
) -> None:
    base = ["--url", seeded.url, "--namespace", namespace]
    for args in (
        ("keys",),
        ("inspect", "item:1"),
        ("latency", "--samples", "3", "--interval", "0"),
        ("namespaces",),
        ("flush", "--prefix", "item", "--dry-run"),
        ("flush", "--key", "item:7", "--yes"),
    ):
        result = run_script(*base, *args)
        assert result.exit_code == 0, (args, result.stderr)
        assert "error" not in result.stderr, (args, result.stderr)
        assert ("CLIENT SETNAME" in result.stderr) == (seeded.command == "CLIENT")
    assert not seeded.admin.exists(f"{namespace}:item:7")


def test_stats_invents_no_figure(seeded: Restricted, namespace: str, run_script: Run) -> None:
    base = ["--url", seeded.url, "--namespace", namespace, "stats"]
    doc = run_script(*base, "--json")
    assert doc.exit_code == 0, doc.stderr
    report = doc.json()
    server = report["servers"][0]
    memory = [row["memory"] for row in report["prefixes"]]
    shown = run_script(*base, env={"COLUMNS": "150"})
    assert shown.exit_code == 0, shown.stderr
    if seeded.command == "INFO":
        assert server["used_memory"] is None and server["version"] is None
        assert server["hit_ratio"] is None and server["keys"] is None
        assert seeded.note_words in server["note"] and "INFO" in server["note"]
        # Where the figures would be: '-' and the note, no "0 B" nor "version ?".
        assert "0 B" not in shown.stdout and "?" not in shown.stdout
        assert "no figures" in shown.stdout and "INFO" in shown.stdout
        assert all(memory)
    elif seeded.command == "MEMORY":
        assert server["used_memory"] > 0 and server["note"] is None
        assert memory and all(m is None for m in memory)
        assert report["total"]["memory"] is None
        assert len(report["notes"]) == 1 and "MEMORY USAGE" in report["notes"][0]
        assert seeded.note_words in report["notes"][0]
        assert "memory not estimated" in shown.stdout and "0 B" not in shown.stdout
    else:
        assert server["used_memory"] > 0 and server["note"] is None and report["notes"] == []
        assert all(memory)


def test_keys_top_ranks_without_memory_usage(
    seeded: Restricted, namespace: str, run_script: Run
) -> None:
    base = ["--url", seeded.url, "--namespace", namespace]
    doc = run_script(*base, "keys", "--top", "3", "--json")
    assert doc.exit_code == 0, doc.stderr
    listing = doc.json()
    assert {row["key"] for row in listing["keys"]} == {"item:7", "item:6", "item:5"}
    inspected = run_script(*base, "inspect", "item:1", "--json").json()
    shown = run_script(*base, "keys", "--top", "3", env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.stderr
    if seeded.command == "MEMORY":
        assert listing["ranked_by"] == "strlen"
        assert [row["key"] for row in listing["keys"]] == ["item:7", "item:6", "item:5"]
        assert all(row["memory"] is None for row in listing["keys"])
        assert [row["length"] for row in listing["keys"]] == sorted(
            (row["length"] for row in listing["keys"]), reverse=True
        )
        assert any("STRLEN" in note for note in listing["notes"])
        assert "(by value length)" in shown.stdout and "MEMORY USAGE)" not in shown.stdout
        assert inspected["memory"] is None and seeded.note_words in inspected["memory_note"]
    else:
        assert listing["ranked_by"] == "memory_usage" and listing["notes"] == []
        assert "(MEMORY USAGE)" in shown.stdout
        assert inspected["memory"] > 0 and "memory_note" not in inspected


def test_namespaces_extrapolates_without_info(
    restricted: Restricted, namespace: str, run_script: Run
) -> None:
    """A partial sample is scaled by the database's size: INFO's, else DBSIZE's."""
    pipe = restricted.admin.pipeline(transaction=False)
    for i in range(600):
        pipe.set(f"{namespace}:item:{i}", b"x")
    pipe.execute()
    before = restricted.admin.dbsize()
    result = run_script("--url", restricted.url, "namespaces", "--sample", "100", "--json")
    after = restricted.admin.dbsize()
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    # The session's server is shared: another test's cache may publish a key meanwhile, and
    # a stray key in the sample moves the estimate by up to 6 keys (1 in 100, of 600).
    assert doc["exact"] is False and 600 <= before <= doc["total_keys"] <= after
    (found,) = [ns for ns in doc["namespaces"] if ns["name"] == namespace]
    assert abs(found["keys"] - 600) <= 6 * (after - 600)


@pytest.mark.cluster
@pytest.mark.parametrize("client_allowed", [True, False], ids=["named", "client-refused"])
async def test_cluster_connections_are_named_where_allowed(
    redis_cluster: RedisCluster,
    cluster_url: str,
    namespace: str,
    client_allowed: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both faces' cluster clients name every node's connections after the handshake, and
    work on when CLIENT is refused (one warning)."""
    caplog.set_level(logging.WARNING, logger="cachectl")
    rules = ["reset", "on", ">pw", "~*", "&*", "+@all"]
    if not client_allowed:
        rules.append("-client")
    for node in redis_cluster.nodes:
        with node.client() as admin:
            admin.execute_command("ACL", "SETUSER", USER, *rules)
    url = cluster_url.replace("://", f"://{USER}:pw@")

    def named() -> int:
        count = 0
        for node in redis_cluster.nodes:
            with node.client() as admin:
                count += sum(1 for c in admin.client_list() if c["user"] == USER and c["name"])
        return count

    try:
        with Cache(url, namespace=namespace, **PATIENT) as cache:
            for i in range(12):
                cache.set(f"k:{i}", i)
            assert cache.get("k:3") == 3 and cache.breaker_state == "closed"
            sync_named = named()
        async with AsyncCache(url, namespace=namespace, **PATIENT) as acache:
            for i in range(12):
                await acache.set(f"a:{i}", i)
            assert await acache.get("a:3") == 3 and acache.breaker_state == "closed"
            async_named = named()
    finally:
        for node in redis_cluster.nodes:
            with node.client() as admin:
                admin.execute_command("ACL", "DELUSER", USER)
    warned = _warnings(caplog)
    if client_allowed:
        assert sync_named >= 3 and async_named >= 3  # every primary's connections
        assert warned == []
    else:
        assert sync_named == async_named == 0
        assert len(warned) == 1 and "CLIENT SETNAME" in warned[0]
