"""Gates that cannot pass by mistake, and connection options after the command name.

A namespace that holds nothing of cachectl's (a mistyped --namespace) fails stats, keys,
inspect and flush with status 5 and the nearest names, and nothing they do writes to Redis.
The installed console script in a subprocess with no terminal, on a real redis-server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cachectl import Cache
from cachectl.config import CLI_MAX_TIMEOUT, CLI_TIMEOUT_RANGE, build_config
from cachectl.ops.connect import connection
from cachectl.ops.namespaces import NamespaceInfo, edit_distance, holds_anything, nearest
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult

pytestmark = pytest.mark.usefixtures("watchdog")

Run = Callable[..., CliResult]


def _namespace(url: str, name: str, entries: int, tag: str | None = None) -> None:
    """entries entries under 'inv:', tagged when tag is given, and published stats."""
    with Cache(url, namespace=name, stats_interval=3600, **PATIENT) as cache:
        cache.set_many({f"inv:{i}": i for i in range(entries)}, tags=(tag,) if tag else ())
        cache.get("inv:0")
        cache.publish_stats()


@pytest.fixture
def shops(redis_url: str) -> str:
    """'billing' (5 entries, tagged) and 'shop' (50 entries, the bigger)."""
    _namespace(redis_url, "billing", 5, tag="monthly")
    _namespace(redis_url, "shop", 50)
    return redis_url


def _everything(client: redis.Redis) -> dict[bytes, tuple[bytes, bytes | None]]:
    """Every key of the database with its type and (for strings) its value."""
    out = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        out[key] = (kind, client.get(key) if kind == b"string" else None)
    return out


GATED: list[list[str]] = [
    ["stats"],
    ["stats", "--json"],
    ["stats", "--min-hit-ratio", "0.9"],
    ["keys"],
    ["keys", "--json"],
    ["keys", "--prefix", "inv"],
    ["keys", "--top", "3"],
    ["inspect", "inv:1"],
    ["inspect", "inv:1", "--json"],
    ["flush", "--all", "--yes"],
    ["flush", "--all", "--yes", "--json"],
    ["flush", "--prefix", "inv", "--yes"],
    ["flush", "--key", "inv:1", "--yes"],
    ["flush", "--tag", "monthly", "--yes"],
    ["flush", "--prefix", "inv", "--dry-run"],
]


@pytest.mark.parametrize("args", GATED, ids=" ".join)
def test_a_mistyped_namespace_fails_the_gate_with_the_nearest_name(
    shops: str, run_script: Run, args: list[str]
) -> None:
    done = run_script("--url", shops, "--namespace", "billng", *args)
    assert done.exit_code == 5, (done.stdout, done.stderr)
    # One line, and the nearest name first, though 'shop' is ten times bigger.
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(
        "cachectl: error: namespace 'billng' holds no entries, stats or tags; "
        "did you mean --namespace billing? Namespaces found: billing (5 keys), shop (50 keys)"
    )
    assert "--allow-empty" in done.stderr
    if "--json" in args:
        json.loads(done.stdout)  # stdout stays one JSON document


@pytest.mark.parametrize("args", GATED, ids=" ".join)
def test_allow_empty_lets_a_job_that_expects_nothing_pass(
    shops: str, run_script: Run, args: list[str]
) -> None:
    done = run_script("--url", shops, "--namespace", "billng", *args, "--allow-empty")
    # inspect still reports the key it did not find (status 1); every other command passes.
    assert done.exit_code == (1 if args[0] == "inspect" else 0), done.stderr
    assert "did you mean" not in done.stderr and "holds no entries" not in done.stderr


def test_the_gate_and_an_empty_flush_write_nothing(
    shops: str, run_script: Run, raw_redis: redis.Redis
) -> None:
    before = _everything(raw_redis)
    for args in (
        ["stats", "--json"],
        ["keys"],
        ["inspect", "inv:1"],
        ["flush", "--all", "--yes"],
        ["flush", "--all", "--yes", "--allow-empty"],
        ["flush", "--tag", "monthly", "--yes", "--allow-empty"],
    ):
        run_script("--url", shops, "--namespace", "myap", *args)
    # Before issue 16 the empty flush wrote 'myap#audit': a phantom namespace for 30 days.
    assert _everything(raw_redis) == before
    found = run_script("--url", shops, "namespaces", "--json").json()
    assert [ns["name"] for ns in found["namespaces"]] == ["shop", "billing"]


def test_a_namespace_in_use_passes_whatever_the_selection_matches(
    shops: str, run_script: Run
) -> None:
    for args in (["keys", "--prefix", "none"], ["flush", "--prefix", "none", "--yes"]):
        done = run_script("--url", shops, "--namespace", "billing", *args)
        assert done.exit_code == 0, done.stderr
        assert done.stderr == ""
    missing = run_script("--url", shops, "--namespace", "billing", "inspect", "none")
    assert missing.exit_code == 1  # a key not found, in a namespace that holds something
    assert missing.stderr == "cachectl: error: key 'none' not found in namespace 'billing'\n"


@pytest.mark.parametrize(
    ("plant", "holds"),
    [
        ({"solo#stats": ("hash", {"hits:x": "1"})}, True),  # published stats only
        ({"solo#tag:{t}": ("zset", {"solo:gone": 1.0})}, True),  # a tag set only
        ({"solo#tag::gone": ("set", {"solo#tag:{t}"})}, True),  # a tag record only
        ({"solo:k": ("string", "v")}, True),  # an entry (any program's value)
        ({"solo#audit": ("list", ['{"action": "flush"}'])}, False),  # a log of its flush
        ({"solo.v2:k": ("string", "v"), "solox:k": ("string", "v")}, False),  # other names
        ({}, False),
    ],
    ids=["stats", "tag set", "tag record", "entry", "audit log only", "neighbours", "nothing"],
)
def test_what_a_namespace_holds(
    redis_url: str, raw_redis: redis.Redis, run_script: Run, plant: dict[str, Any], holds: bool
) -> None:
    for key, (kind, value) in plant.items():
        if kind == "hash":
            raw_redis.hset(key, mapping=value)
        elif kind == "zset":
            raw_redis.zadd(key, value)
        elif kind == "set":
            raw_redis.sadd(key, *value)
        elif kind == "list":
            raw_redis.rpush(key, *value)
        else:
            raw_redis.set(key, value)
    with connection(build_config(redis_url, namespace="solo")) as conn:
        assert holds_anything(conn) is holds
    done = run_script("--url", redis_url, "--namespace", "solo", "keys", "--prefix", "x")
    assert done.exit_code == (0 if holds else 5), done.stderr


def test_a_namespace_with_stats_is_settled_by_one_exists_without_a_scan(
    shops: str, raw_redis: redis.Redis
) -> None:
    with connection(build_config(shops, namespace="billing")) as conn:
        raw_redis.config_resetstat()
        assert holds_anything(conn) is True
        commands = raw_redis.info("commandstats")
    assert "cmdstat_exists" in commands and "cmdstat_scan" not in commands


def test_a_small_namespace_without_stats_among_many_keys_is_found(
    redis_url: str, raw_redis: redis.Redis, run_script: Run
) -> None:
    for start in range(0, 25_000, 5_000):  # more than two SCAN steps of 10,000
        raw_redis.mset({f"big:k{i}": b"x" for i in range(start, start + 5_000)})
    raw_redis.set("quiet:one", b"1")  # no stats, one entry among 25,001 keys
    with connection(build_config(redis_url, namespace="quiet")) as conn:
        assert holds_anything(conn) is True
    with connection(build_config(redis_url, namespace="quiet2")) as conn:
        assert holds_anything(conn) is False
    done = run_script("--url", redis_url, "--namespace", "quiet", "flush", "--prefix", "x", "--yes")
    assert done.exit_code == 0, done.stderr


# -- the nearest names --------------------------------------------------------------------------


def _ns(name: str, keys: int) -> NamespaceInfo:
    return NamespaceInfo(name, keys, 0, True, True)


def test_edit_distance() -> None:
    assert edit_distance("billng", "billing") == 1
    assert edit_distance("myap", "myapp") == 1
    assert edit_distance("shpo", "shop") == 1  # a swap of neighbours is one edit
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == edit_distance("abc", "") == 3
    assert edit_distance("same", "same") == 0


def test_nearest_puts_typos_first_then_the_rest_biggest_first() -> None:
    found = [_ns("shop", 5000), _ns("billing", 12), _ns("Billings", 40), _ns("api", 300)]
    close, far = nearest("billng", found)
    assert [ns.name for ns in close] == ["billing", "Billings"]
    assert [ns.name for ns in far] == ["shop", "api"]
    close, far = nearest("cachectl", found)
    assert close == [] and [ns.name for ns in far] == ["shop", "billing", "Billings", "api"]


def test_a_forgotten_namespace_points_at_the_biggest(shops: str, run_script: Run) -> None:
    # The default namespace, 'cachectl', is near no name: the biggest is the likely one.
    done = run_script("--url", shops, "keys")
    assert done.exit_code == 5
    assert "did you mean --namespace shop? Namespaces found: shop (50 keys), billing" in (
        done.stderr
    )


def test_a_namespace_flushed_whole_is_still_the_nearest(shops: str, run_script: Run) -> None:
    flushed = run_script("--url", shops, "--namespace", "billing", "flush", "--all", "--yes")
    assert flushed.exit_code == 0, flushed.stderr  # its stats hash stays: it holds something
    done = run_script("--url", shops, "--namespace", "billng", "keys")
    assert done.exit_code == 5
    assert "did you mean --namespace billing? Namespaces found: billing (0 keys), shop" in (
        done.stderr
    )


def test_names_equally_near_are_all_suggested(redis_url: str, run_script: Run) -> None:
    _namespace(redis_url, "ship", 3)
    _namespace(redis_url, "shop", 9)
    done = run_script("--url", redis_url, "--namespace", "shp", "stats")
    assert done.exit_code == 5
    assert "did you mean --namespace shop or --namespace ship?" in done.stderr


# -- connection options after the command name ---------------------------------------------------


def _without_volatile(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "servers"}


def test_connection_options_after_the_command_name(
    shops: str, run_script: Run, cli_isolated: Path
) -> None:
    before = run_script("--url", shops, "--namespace", "billing", "stats", "--json")
    after = run_script("stats", "--url", shops, "--namespace", "billing", "--json")
    assert after.exit_code == before.exit_code == 0, after.stderr
    assert _without_volatile(after.json()) == _without_volatile(before.json())
    mixed = run_script("--url", shops, "keys", "--json", "--namespace", "billing", "--limit", "2")
    assert mixed.exit_code == 0 and mixed.json()["matched"] == 5
    for command in (["latency", "--samples", "2"], ["namespaces"], ["inspect", "inv:1"]):
        done = run_script(*command, "--namespace", "billing", "--url", shops, "--json")
        assert done.exit_code == 0, (command, done.stderr)


def test_after_the_name_wins_over_before_it(shops: str, run_script: Run) -> None:
    # As with any option given twice, the last one counts.
    done = run_script(
        "--url", "redis://127.0.0.1:1/0", "--namespace", "billng",
        "keys", "--url", shops, "--namespace", "billing", "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert done.json()["selection"] == "namespace 'billing'"


def test_after_the_name_the_same_checks_apply(
    shops: str, run_script: Run, cli_isolated: Path
) -> None:
    empty = run_script("flush", "--all", "--yes", "--url", shops, "--namespace", "")
    assert empty.exit_code == 2
    assert empty.stderr == (
        "cachectl: error: --namespace is empty: give it a value or leave the option out\n"
    )
    huge = run_script("stats", "--url", shops, "--timeout", "1e300")
    assert huge.exit_code == 2
    assert huge.stderr.startswith("cachectl: error: invalid value for '--timeout': ")
    assert "(see 'cachectl stats --help')" in huge.stderr
    secret = cli_isolated / "password"
    secret.write_text("not-needed\n")
    refused = run_script("keys", "--url", shops, "--password-file", str(cli_isolated / "absent"))
    assert refused.exit_code == 2 and "cannot read password file" in refused.stderr


def test_every_command_lists_the_connection_options_with_the_same_help(
    run_script: Run,
) -> None:
    group = run_script("--help").stdout
    for command in ("stats", "keys", "inspect", "flush", "latency", "namespaces", "ui"):
        text = " ".join(run_script(command, "--help").stdout.split())
        for option in ("--url URL", "--namespace NAME", "--password-file FILE", "--timeout"):
            assert option in text, (command, option)
        assert "Else $CACHECTL_URL, $REDIS_URL" in text and "At most 3,600." in text
    assert "go before the command name or after it" in " ".join(group.split())
    warm = " ".join(run_script("warm", "--help").stdout.split())
    # warm's own --timeout is per request: the connection one goes before the command name.
    assert "--url URL" in warm and "Seconds per request" in warm
    assert "Wait this long to connect" not in warm


def test_demo_refuses_a_connection_option_after_its_name_too(run_script: Run) -> None:
    done = run_script("demo", "--url", "redis://127.0.0.1:1/0")
    assert done.exit_code == 2
    assert "cachectl demo runs on a Redis of its own" in done.stderr


# -- loose ends ----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["inspect", ""], ["inspect", "", "--no-namespace", "--json"]])
def test_inspect_refuses_an_empty_key_before_connecting(run_script: Run, args: list[str]) -> None:
    # Nothing listens on port 1: the usage error comes first (it showed the key '<ns>:').
    done = run_script("--url", "redis://127.0.0.1:1/0", *args)
    assert done.exit_code == 2
    assert done.stderr == "cachectl: error: inspect needs a non-empty key\n"
    assert done.stdout == ""


@pytest.fixture
def where_given(request: pytest.FixtureRequest, cli_isolated: Path) -> Iterator[Any]:
    """Gives a timeout through the flag, CACHECTL_TIMEOUT or the settings file."""

    def give(value: str) -> tuple[list[str], dict[str, str]]:
        if request.param == "flag":
            return ["--timeout", value], {}
        if request.param == "environment":
            return [], {"CACHECTL_TIMEOUT": value}
        (cli_isolated / "cachectl.toml").write_text(f"timeout = {value}\n")
        return [], {}

    yield give


@pytest.mark.parametrize("where_given", ["flag", "environment", "settings file"], indirect=True)
@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "1e300", "3601"])
def test_one_message_for_a_timeout_out_of_range(
    redis_url: str, run_script: Run, where_given: Any, value: str
) -> None:
    args, env = where_given(value)
    done = run_script("--url", redis_url, *args, "stats", env=env)
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1
    # Before issue 16 the environment said "at most 1e+09" where --help says 3,600.
    assert CLI_TIMEOUT_RANGE in done.stderr
    assert f"At most {CLI_MAX_TIMEOUT:,}." in run_script("--help").stdout
    assert "1e+09" not in done.stderr


def test_the_maximum_timeout_is_the_one_help_states() -> None:
    from cachectl.cli.common import MAXIMA

    assert MAXIMA["timeout"] == CLI_MAX_TIMEOUT
