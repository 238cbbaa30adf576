"""Namespaces found, not guessed: `cachectl namespaces`, the hint on an empty namespace, and
reading keys outside any namespace with --no-namespace. The console script, no terminal."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import redis

from cachectl import Cache, ConfigError
from cachectl.config import build_config
from cachectl.keys import RawKeySpace
from cachectl.ops.connect import connection
from cachectl.ops.flush import delete
from cachectl.ops.selection import select
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult

pytestmark = pytest.mark.usefixtures("watchdog")

Run = Callable[..., CliResult]


def _shop(url: str, entries: int = 12) -> None:
    """Namespace 'shop': entries with a tag and published stats."""
    with Cache(url, namespace="shop", stats_interval=3600, **PATIENT) as cache:
        cache.set_many({f"dashboard:{i}": i for i in range(entries)}, tags=("daily",))
        cache.get("dashboard:1")
        cache.publish_stats()


def _api(url: str) -> None:
    """Namespace 'api': entries only (no tag, stats off)."""
    with Cache(url, namespace="api", stats=False, **PATIENT) as cache:
        cache.set_many({"user:1": {"name": "a"}, "user:2": {"name": "b"}, "token": "x"})


def _foreign(client: redis.Redis) -> None:
    """Another program's keys: 'legacy:*' plain values, a hash, a key of no namespace at all."""
    client.mset({"legacy:motd": "hello", "legacy:report": "r"})
    client.hset("legacy:session", mapping={"user": "1"})
    client.set(b"\x1b[31m[bold red]boom[/bold red]", b"v")


@pytest.fixture
def populated(redis_url: str, raw_redis: redis.Redis) -> str:
    _shop(redis_url)
    _api(redis_url)
    _foreign(raw_redis)
    return redis_url


def test_namespaces_lists_what_the_server_holds(populated: str, run_script: Run) -> None:
    done = run_script("--url", populated, "namespaces", "--json")
    assert done.exit_code == 0, done.stderr
    found = done.json()
    assert found["exact"] is True
    # shop: entries, their tags records, tag set, stats hash
    assert found["total_keys"] == 12 + 12 + 2 + 3 + 3 + 1
    assert found["foreign_keys"] == 1
    assert found["namespaces"] == [
        {"name": "shop", "keys": 12, "tags": 1, "stats": True, "cachectl": True},
        {"name": "api", "keys": 3, "tags": 0, "stats": False, "cachectl": True},
        {"name": "legacy", "keys": 3, "tags": 0, "stats": False, "cachectl": False},
    ]


def test_namespaces_human_output_is_a_plain_escaped_table(populated: str, run_script: Run) -> None:
    done = run_script("--url", populated, "namespaces")
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("every key examined (33)")
    assert re.match(r"namespace\s+keys\s+tags\s+stats\s+cachectl$", lines[1])
    assert re.match(r"shop\s+12\s+1\s+published\s+yes$", lines[2])
    assert re.match(r"api\s+3\s+0\s+-\s+yes$", lines[3])
    assert re.match(r"legacy\s+3\s+0\s+-\s+no$", lines[4])
    assert "1 keys belong to no namespace" in done.stdout
    # The hostile key name is counted, never printed, and no escape sequence reaches stdout.
    assert "\x1b" not in done.stdout and "boom" not in done.stdout


def test_namespaces_beyond_the_sample_are_estimated_and_say_so(
    redis_url: str, raw_redis: redis.Redis, run_script: Run
) -> None:
    _shop(redis_url, entries=3000)
    with Cache(redis_url, namespace="quiet", stats_interval=3600, **PATIENT) as cache:
        cache.set("only", 1)
        cache.get("only")
        cache.publish_stats()
    done = run_script("--url", redis_url, "namespaces", "--sample", "200", "--json")
    assert done.exit_code == 0, done.stderr
    found = done.json()
    assert found["exact"] is False
    assert found["total_keys"] == 3000 + 3000 + 2 + 2
    assert 200 <= found["examined"] < 3000
    by_name = {ns["name"]: ns for ns in found["namespaces"]}
    assert 2000 <= by_name["shop"]["keys"] <= 4000
    # A namespace the sample missed is still found from its published stats hash.
    assert by_name["quiet"]["stats"] is True
    human = run_script("--url", redis_url, "namespaces", "--sample", "200")
    assert "counts estimated from" in human.stdout
    assert re.search(r"^shop\s+~\d", human.stdout, re.MULTILINE)


HINT = "namespace 'cachectl' holds no entries, stats or tags; did you mean --namespace shop?"


@pytest.mark.parametrize(
    "args",
    [
        ["stats"],
        ["stats", "--json"],
        ["keys"],
        ["keys", "--prefix", "dashboard"],
        ["flush", "--all", "--yes"],
        ["flush", "--prefix", "dashboard", "--dry-run"],
        ["inspect", "dashboard:1"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_command_on_an_empty_namespace_names_the_ones_found(
    populated: str, run_script: Run, args: list[str]
) -> None:
    done = run_script("--url", populated, *args)
    # Status 5 since issue 16 (it was 0, 1 for inspect): the hint is the one error line.
    assert done.exit_code == 5, done.stderr
    assert done.stderr.startswith("cachectl: error: ") and done.stderr.count("\n") == 1
    assert HINT in done.stderr
    assert "shop (12 keys), api (3 keys)" in done.stderr
    assert "legacy" not in done.stderr  # not cachectl's: never suggested
    if "--json" in args:
        assert done.json()["namespace"] == "cachectl"  # stdout stays one JSON document


def test_no_hint_when_the_namespace_has_keys(populated: str, run_script: Run) -> None:
    done = run_script("--url", populated, "--namespace", "shop", "keys", "--prefix", "nothing")
    assert done.exit_code == 0
    assert "did you mean" not in done.stderr and done.stderr == ""


def test_hint_without_another_cachectl_namespace(
    redis_url: str, raw_redis: redis.Redis, run_script: Run
) -> None:
    empty = run_script("--url", redis_url, "keys")
    # An empty database: nothing to point at, and (since issue 16) status 5, not 0.
    assert empty.exit_code == 5
    assert "did you mean" not in empty.stderr
    assert "the database holds no keys at all" in empty.stderr
    _foreign(raw_redis)
    foreign = run_script("--url", redis_url, "stats")
    assert foreign.exit_code == 5
    assert "did you mean" not in foreign.stderr
    assert "no other cachectl namespace among 4 keys examined" in foreign.stderr
    assert "keys --no-namespace" in foreign.stderr


# -- keys outside any namespace ---------------------------------------------------------------


def test_keys_no_namespace_lists_full_redis_keys(populated: str, run_script: Run) -> None:
    done = run_script(
        "--url", populated, "keys", "--no-namespace", "--pattern", "legacy:*", "--json"
    )
    assert done.exit_code == 0, done.stderr
    listing = done.json()
    assert listing["selection"] == "pattern 'legacy:*' in the whole database (no namespace)"
    assert sorted(k["key"] for k in listing["keys"]) == [
        "legacy:motd",
        "legacy:report",
        "legacy:session",
    ]
    everything = run_script("--url", populated, "keys", "--no-namespace", "--json", "--limit", "50")
    names = {k["key"] for k in everything.json()["keys"]}
    assert {"shop:dashboard:1", "api:token", "shop#stats", "legacy:motd"} <= names


def test_inspect_no_namespace_reads_a_foreign_key(populated: str, run_script: Run) -> None:
    done = run_script("--url", populated, "inspect", "--no-namespace", "legacy:motd", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["value"] == "hello"
    inside = run_script("--url", populated, "inspect", "--no-namespace", "api:user:1", "--json")
    assert inside.json()["value"] == {"name": "a"}
    missing = run_script("--url", populated, "inspect", "--no-namespace", "legacy:nothing")
    assert missing.exit_code == 1
    assert "not found in the whole database (no namespace)" in missing.stderr
    assert "did you mean" not in missing.stderr


def test_no_namespace_is_for_reading_only(populated: str, run_script: Run) -> None:
    tagged = run_script("--url", populated, "keys", "--no-namespace", "--tag", "daily")
    assert tagged.exit_code == 2
    assert "--tag needs a namespace" in tagged.stderr
    flush = run_script("--url", populated, "flush", "--no-namespace", "--all", "--yes")
    assert flush.exit_code == 2  # no such option: flush never leaves its namespace
    # Nor can library code delete a selection made outside a namespace.
    with connection(build_config(populated, namespace="shop")) as conn:
        conn.keys = RawKeySpace()
        with pytest.raises(ConfigError, match="refusing to delete"):
            delete(conn, select(conn.keys, pattern="*"))
        with pytest.raises(ConfigError, match="--all needs a namespace"):
            select(conn.keys, everything=True)
    assert run_script("--url", populated, "namespaces", "--json").json()["total_keys"] == 33


def test_namespaces_on_a_cluster_covers_every_primary(cluster_url: str, run_script: Run) -> None:
    _shop(cluster_url, entries=300)
    done = run_script("--url", cluster_url, "namespaces", "--json")
    assert done.exit_code == 0, done.stderr
    found = done.json()
    assert found["exact"] is True
    assert found["namespaces"] == [
        {"name": "shop", "keys": 300, "tags": 1, "stats": True, "cachectl": True}
    ]
    hinted = run_script("--url", cluster_url, "keys")
    assert "did you mean --namespace shop?" in hinted.stderr
