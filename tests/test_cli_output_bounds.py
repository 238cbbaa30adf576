"""Output of the console script met as an operator meets it (issue 10): hex dumps of megabytes
written in time linear in their size, no terminal control character in any machine format,
names that are not UTF-8 shown as \\xNN, and what was left out counted in its own unit."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
import redis

from tests.conftest import CLI_NAMESPACE, CliResult

pytestmark = pytest.mark.usefixtures("watchdog")

Run = Callable[..., CliResult]
NS = CLI_NAMESPACE


def cli(
    run_script: Run, url: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> CliResult:
    return run_script("--url", url, "--namespace", NS, *args, timeout=timeout, env=env)


def test_a_5mb_hex_dump_with_no_limit_prints_every_line(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    data = os.urandom(5_000_000)
    raw_redis.set(f"{NS}:big".encode(), data)
    # The timeout is a hang guard: this took about 4 minutes when Rich laid the dump out.
    result = cli(run_script, redis_url, "inspect", "big", "--raw", "--max-bytes", "0", timeout=240)
    assert result.exit_code == 0, result.stderr
    dump = [line for line in result.stdout.splitlines() if re.match(r"[0-9a-f]{8}  ", line)]
    assert len(dump) == 312_500  # 16 bytes a line, every one of them
    assert dump[0].startswith("00000000  " + data[:16].hex(" "))
    assert dump[-1].startswith(f"{5_000_000 - 16:08x}  " + data[-16:].hex(" "))
    assert "more bytes" not in result.stdout


def test_a_hex_dump_names_what_it_leaves_out_with_separators(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    raw_redis.set(f"{NS}:big".encode(), os.urandom(2_000_000))
    result = cli(run_script, redis_url, "inspect", "big", "--raw")
    assert result.stdout.rstrip().endswith("... 1,995,904 more bytes")


def test_a_long_foreign_list_shows_its_item_count(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    raw_redis.set(f"{NS}:list".encode(), msgpack.packb(["y" * 1000] * 5000))
    result = cli(run_script, redis_url, "inspect", "list")
    assert result.exit_code == 0, result.stderr
    assert "... 4,995 more items" in result.stdout
    assert "+1" not in result.stdout and "'... " not in result.stdout  # a marker, not a string
    assert result.stdout.count("more characters") == 2  # the one string cut, the summary
    assert "(value shortened: 4,995 more items, 904 more characters left out)" in result.stdout
    whole = cli(run_script, redis_url, "inspect", "list", "--max-bytes", "0")
    assert "... 4,800 more items" in whole.stdout and "... +" not in whole.stdout
    assert "(value shortened: 4,800 more items left out)" in whole.stdout
    doc = cli(run_script, redis_url, "inspect", "list", "--json").json()
    assert (doc["clipped"], doc["clipped_items"]) == (904, 4995)


def test_text_shortened_counts_characters_with_separators(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    raw_redis.set(f"{NS}:log".encode(), b"abcdefghij" * 500_000)
    result = cli(run_script, redis_url, "inspect", "log")
    assert "... 4,995,904 more characters" in result.stdout
    assert "(value shortened: 4,995,904 more characters left out)" in result.stdout


@pytest.mark.parametrize("output", [False, True], ids=["stdout", "output-file"])
def test_prometheus_text_carries_no_control_character(
    raw_redis: redis.Redis, redis_url: str, run_script: Run, tmp_path: Path, output: bool
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    raw_redis.hset(
        f"{NS}#stats",
        mapping={b"hits:\x1b]0;pwned\x07": 3, b"hits:nul\x00p": 1, b"hits:cls\x1b[2J": 2},
    )
    args = ["stats", "--format", "prometheus"]
    target = tmp_path / "cachectl.prom"
    if output:
        args += ["--output", str(target)]
    result = cli(run_script, redis_url, *args)
    assert result.exit_code == 0, result.stderr
    text = target.read_text(encoding="utf-8") if output else result.stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    prefixes = {s.labels["prefix"]: s.value for s in families["cachectl_hits"].samples}
    assert prefixes["\\x1b]0;pwned\\x07"] == 3  # the escapes render.safe shows, parsed back
    assert prefixes["nul\\x00p"] == 1 and prefixes["cls\\x1b[2J"] == 2


def test_a_prefix_that_is_not_utf8_is_shown_as_escapes(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    raw_redis.set(f"{NS}:bad\xff\xfeutf:1".encode("latin-1"), b"v")
    raw_redis.set(f"{NS}:bad\xfe\xffutf:1".encode("latin-1"), b"v")  # another prefix, not merged
    table = cli(run_script, redis_url, "stats", env={"COLUMNS": "200"})
    assert "\ufffd" not in table.stdout
    assert "bad\\xff\\xfeutf" in table.stdout and "bad\\xfe\\xffutf" in table.stdout
    doc = cli(run_script, redis_url, "stats", "--json").json()
    names = {row["prefix"] for row in doc["prefixes"]}
    assert {"bad\\xff\\xfeutf", "bad\\xfe\\xffutf"} <= names
    keys = cli(run_script, redis_url, "keys", env={"COLUMNS": "200"})
    assert "bad\\xff\\xfeutf:1" in keys.stdout  # as `keys` shows it
