"""Hostile inputs to the command line that once hung it, filled its memory or gave the catch-all
status: an endless password or endpoint file, a database the server lacks, a password a
server without one refuses. The installed console script in a subprocess with no terminal, on
a real redis-server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from cachectl import Cache
from cachectl.config import MAX_PASSWORD_FILE, read_limited
from cachectl.errors import ConfigError
from cachectl.warm import targets
from tests.plugins.cli import CliResult

pytestmark = pytest.mark.usefixtures("watchdog")

Run = Callable[..., CliResult]


def _entries(url: str, namespace: str = "shop") -> None:
    with Cache(url, namespace=namespace) as cache:
        cache.set("product:1", {"id": 1}, ttl=600)


def test_an_endless_password_file_is_a_usage_error(redis_url: str, run_script: Run) -> None:
    _entries(redis_url)
    args = ["--url", redis_url, "--namespace", "shop", "--password-file", "/dev/zero"]
    done = run_script(*args, "keys", timeout=30)
    assert done.exit_code == 2
    assert done.stderr == (
        f"cachectl: error: password file /dev/zero holds more than {MAX_PASSWORD_FILE:,} bytes\n"
    )
    assert done.stdout == ""


def test_an_endless_endpoint_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "MAX_ENDPOINT_FILE", 4096)
    with pytest.raises(ConfigError, match=r"endpoint file /dev/zero holds more than 4,096 bytes"):
        targets.read_endpoint_file("/dev/zero")


def test_read_limited_takes_a_file_up_to_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_limited(path, 10, "file") == b"x" * 10
    with pytest.raises(ConfigError, match=r"^file .* holds more than 9 bytes$"):
        read_limited(path, 9, "file")


@pytest.mark.parametrize("command", [["stats"], ["keys"], ["flush", "--all", "--yes"]])
def test_a_database_the_server_lacks_is_a_usage_error(
    redis_url: str, run_script: Run, command: list[str]
) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/99"
    done = run_script("--url", url, "--namespace", "shop", *command, "--json")
    assert done.exit_code == 2
    assert done.stderr == (
        f"cachectl: error: {url} has no database 99: the server has as many as its "
        "`databases` setting (16 by default), numbered from 0\n"
    )
    assert done.stdout == ""


def test_latency_with_a_password_the_server_does_not_need(
    redis_url: str, run_script: Run, cli_isolated: Path
) -> None:
    """As every other command (redis-py goes on after such an AUTH): the probe runs."""
    _entries(redis_url)
    secret = cli_isolated / "password"
    secret.write_text("not-needed\n")
    args = ["--url", redis_url, "--namespace", "shop", "--password-file", str(secret)]
    done = run_script(*args, "latency", "--samples", "3", "--json")
    assert done.exit_code == 0, done.stderr
    probes = json.loads(done.stdout)["probes"]
    assert {probe["probe"] for probe in probes} >= {"PING", "GET"}
    assert all(probe["samples"] == 3 for probe in probes if probe["probe"] in ("PING", "GET"))


@pytest.mark.parametrize(
    "command", [["keys", "--tag", "t", "--json"], ["flush", "--tag", "t", "--yes"]]
)
def test_a_tag_key_of_another_type_is_foreign_data_not_a_refused_command(
    redis_url: str, run_script: Run, command: list[str]
) -> None:
    """Status 1 (a corrupt value), said so; never 'refused a command', which is status 3."""
    _entries(redis_url)
    with redis.Redis.from_url(redis_url) as client:
        client.set("shop#tag:{t}", "not a tag set")
    done = run_script("--url", redis_url, "--namespace", "shop", *command)
    assert done.exit_code == 1
    assert done.stderr.startswith(
        f"cachectl: error: a key of namespace 'shop' on {redis_url} is not of the type "
        "cachectl keeps there (WRONGTYPE "
    )
    assert done.stderr.endswith("): foreign or corrupt data\n")
    with redis.Redis.from_url(redis_url) as client:
        assert client.get("shop#tag:{t}") == b"not a tag set"
        assert client.exists("shop:product:1") == 1


def test_a_mistyped_prefix_does_not_pass_the_hit_ratio_gate(
    redis_url: str, run_script: Run
) -> None:
    with Cache(redis_url, namespace="shop", stats_interval=0.01) as cache:
        cache.set("product:1", {"id": 1}, ttl=600)
        for _ in range(3):
            cache.get("product:1")
    base = ["--url", redis_url, "--namespace", "shop", "stats", "--min-hit-ratio", "0.5"]
    typo = run_script(*base, "--prefix", "prodcut", "--json")
    assert typo.exit_code == 1
    assert typo.stderr == (
        "cachectl: error: no hit ratio to check: nothing is stored or published under prefix "
        "'prodcut' (a mistyped --prefix? cachectl stats lists them)\n"
    )
    assert [row["prefix"] for row in typo.json()["prefixes"]] == ["prodcut"]
    # The prefix that holds entries still passes on its published hit ratio.
    meant = run_script(*base, "--prefix", "product", "--json")
    assert meant.exit_code == 0, meant.stderr
    assert meant.json()["prefixes"][0]["hit_ratio"] == 1.0


def test_a_sentinel_url_naming_a_plain_redis_says_so(redis_url: str, run_script: Run) -> None:
    """Not 'refused the login: check sentinel_password', which no password would fix."""
    node = redis_url.split("://", 1)[1].rsplit("/", 1)[0]
    url = f"redis+sentinel://{node}/mymaster"
    done = run_script("--url", url, "--namespace", "shop", "stats")
    assert done.exit_code == 2
    assert done.stderr.startswith(f"cachectl: error: {node} in {url} is not a Sentinel (unknown ")
    assert done.stderr.endswith(
        "a redis+sentinel:// URL names Sentinels (often on port 26379); for the server itself "
        "use redis://\n"
    )


def test_a_negative_latency_threshold_is_a_usage_error(redis_url: str, run_script: Run) -> None:
    # It used to run the probe, then fail the gate (status 1) whatever the latency.
    done = run_script("--url", redis_url, "latency", "--max-p99", "-1", timeout=30)
    assert done.exit_code == 2
    assert "--max-p99" in done.stderr and "x>=0.0" in done.stderr


def test_a_junit_path_that_cannot_be_written_is_refused_before_the_run(
    tmp_path: Path, run_script: Run
) -> None:
    # Refused after every request was made, and the summary was lost with it.
    urls = tmp_path / "urls.txt"
    urls.write_text("/a\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    for junit in (tmp_path, blocker / "warm.xml"):
        done = run_script(
            "warm", str(urls), "--base-url", "http://127.0.0.1:9", "--junit", str(junit)
        )
        assert done.exit_code == 2
        assert done.stderr.startswith(f"cachectl: error: {junit}: cannot write the JUnit report")
        assert done.stdout == ""


def test_a_name_given_with_its_namespace_in_front_gets_the_hint(
    redis_url: str, run_script: Run
) -> None:
    # 'shop:config' in namespace 'shop' names the Redis key 'shop:shop:config': nothing
    # matched, and nothing said why (redis-cli and inspect's own output show full keys).
    _entries(redis_url)
    shop = ["--url", redis_url, "--namespace", "shop"]
    relative = "names are relative to namespace 'shop'"
    done = run_script(*shop, "inspect", "shop:product:1")
    assert done.exit_code == 1
    assert done.stderr.rstrip().endswith(f"; {relative}: did you mean 'product:1'?")
    listed = run_script(*shop, "keys", "--prefix", "shop:product", "--json")
    assert listed.exit_code == 0
    assert json.loads(listed.stdout)["notes"] == [f"{relative}: did you mean 'product'?"]
    dry = run_script(*shop, "flush", "--prefix", "shop", "--dry-run")
    assert dry.exit_code == 0
    assert "Names are relative to namespace 'shop': --all selects all of its keys" in dry.stdout
    flushed = run_script(*shop, "flush", "--key", "shop:product:1", "--yes")
    assert flushed.exit_code == 0
    assert "Names are relative to namespace 'shop': did you mean 'product:1'?" in flushed.stdout
    with Cache(redis_url, namespace="shop") as cache:
        assert cache.get("product:1") == {"id": 1}  # and a right name finds it


def test_a_command_option_before_the_command_says_where_it_goes(run_script: Run) -> None:
    # Connection options go before the name, so this is tried; click suggested --version.
    done = run_script("--json", "stats")
    assert done.exit_code == 2
    assert done.stderr.startswith(
        "cachectl: error: --json is an option of the command, not of cachectl: put it after "
    )


def test_the_demo_help_does_not_list_the_options_it_refuses(run_script: Run) -> None:
    shown = run_script("demo", "--help").stdout
    rows = set(re.findall(r"^\s*(--[a-z-]+)", shown, re.M))  # the options' own rows
    assert "--json" in rows and not {"--url", "--namespace", "--password-file", "--timeout"} & rows
    refused = run_script("demo", "--url", "redis://127.0.0.1:9/0")
    assert refused.exit_code == 2 and "drop --url" in refused.stderr


def test_a_tag_counts_the_keys_that_still_exist(redis_url: str, run_script: Run) -> None:
    # A member outlives its key when another program deletes the key (or Redis evicts it):
    # the dry run counted every member ("Would delete 3") where the flush removed 1.
    with Cache(redis_url, namespace="shop") as cache:
        for n in range(3):
            cache.set(f"product:{n}", n, ttl=600, tags=("sale",))
    redis.Redis.from_url(redis_url).delete("shop:product:0", "shop:product:1")
    shop = ["--url", redis_url, "--namespace", "shop"]
    dry = run_script(*shop, "flush", "--tag", "sale", "--dry-run", "--json")
    assert json.loads(dry.stdout)["count"] == 1
    assert json.loads(dry.stdout)["sample"] == ["product:2"]
    listed = run_script(*shop, "keys", "--tag", "sale", "--json")
    assert [k["key"] for k in json.loads(listed.stdout)["keys"]] == ["product:2"]
    assert json.loads(listed.stdout)["matched"] == 1
    limited = run_script(*shop, "flush", "--tag", "sale", "--yes", "--max-keys", "1", "--json")
    assert limited.exit_code == 0 and json.loads(limited.stdout)["removed"] == 1
