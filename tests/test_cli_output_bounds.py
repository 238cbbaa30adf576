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

from tests.plugins.cli import CLI_NAMESPACE, CliResult

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


def test_an_application_with_bytes_keys_publishes_under_the_row_stats_shows(
    redis_url: str, run_script: Run
) -> None:
    # The library names a bytes key's prefix as `stats` names the keyspace's: one row, whose
    # published figures and key count belong together.
    from cachectl import Cache

    with Cache(redis_url, namespace=NS) as app:
        app.set(b"bad\xff\xfeutf:1", 1)
        assert app.get(b"bad\xff\xfeutf:1") == 1
        app.publish_stats()
    doc = cli(run_script, redis_url, "stats", "--json").json()
    rows = [row for row in doc["prefixes"] if row["prefix"].startswith("bad")]
    assert [(row["prefix"], row["hits"], row["keys"]) for row in rows] == [
        ("bad\\xff\\xfeutf", 1, 1)
    ]


def test_shortening_a_name_never_cuts_an_escape(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    from cachectl.cli.render import middle, safe

    for width in range(4, 30):
        cut = middle(safe("esc\x1b[2Jkey-with-a-longer-tail\xad\u202eend"), width)
        assert not re.search(r"\\(?:x[0-9a-f]?|u[0-9a-f]{0,3})…", cut), cut
        assert not re.search(r"\\x1b\[[0-9;]*…", cut), cut
    raw_redis.set(f"{NS}:esc\x1b[2Jkey-with-a-much-longer-name-than-fits:1".encode(), b"v")
    table = cli(run_script, redis_url, "stats", env={"COLUMNS": "50"})
    assert "\x1b" not in table.stdout
    assert not re.search(r"\\(?:x[0-9a-f]?|x1b\[[0-9;]*)…", table.stdout), table.stdout


def test_a_100kb_name_is_shortened_in_titles_and_notes(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    long = "p" * 100_000
    raw_redis.set(f"{NS}:{long}:1".encode(), b"v")
    assert len(cli(run_script, redis_url, "stats").stdout) < 20_000  # counted as (other)
    for args in (
        ["stats", "--prefix", long],
        ["keys", "--prefix", long],
        ["inspect", f"{long}:1"],
        ["inspect", f"{long}:2"],  # not found: the error line
        ["flush", "--prefix", long, "--dry-run"],
    ):
        result = cli(run_script, redis_url, *args)
        assert len(result.stdout) + len(result.stderr) < 20_000, args
        assert "…" in result.stdout + result.stderr, args
    whole = cli(run_script, redis_url, "keys", "--prefix", long, "--json").json()
    assert whole["keys"][0]["key"] == f"{long}:1"  # --json has the name whole


def test_narrow_stats_names_every_column_left_out(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    raw_redis.hset(f"{NS}#stats", mapping={"hits:dashboard": 123_456_789_012, "misses:x": 5})
    raw_redis.set(f"{NS}:dashboard:1", b"v")
    result = cli(run_script, redis_url, "stats", env={"COLUMNS": "50"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 50 for line in lines), [line for line in lines if len(line) > 50]
    assert "123,456,789,012" in result.stdout
    note = " ".join(result.stdout.split("Not shown at this width:")[1].split())
    header = next(line for line in lines if line.startswith("prefix"))
    for column in ("sets", "errors", "fallback", "p50 ms", "p99 ms", "keys", "memory"):
        assert (column in note) != (column in header), column  # shown, or named as left out
    assert note.endswith("(--json has every column).")


def test_namespaces_sentences_wrap_at_the_width(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    raw_redis.set(b"other:thing", b"v")  # a namespace that is not cachectl's
    raw_redis.set(b"plainkey", b"v")
    result = run_script("--url", redis_url, "namespaces", env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.stderr
    assert all(len(line) <= 60 for line in result.stdout.splitlines()), result.stdout
    assert "probably another program's keys" in " ".join(result.stdout.split())


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["flush", "--prefix"], "cachectl flush"),
        (["stats", "--format"], "cachectl stats"),
        (["stats", "--watch"], "cachectl stats"),
        (["--namespace"], "cachectl"),
        (["keys", "--limit", "x"], "cachectl keys"),
    ],
)
def test_a_missing_option_value_says_where_to_look(
    run_script: Run, args: list[str], command: str
) -> None:
    result = run_script(*args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("cachectl: error: ")
    assert result.stderr.rstrip().endswith(f"(see '{command} --help')"), result.stderr


def test_flush_without_a_selection_says_so_before_asking_for_yes(
    redis_url: str, run_script: Run
) -> None:
    result = cli(run_script, redis_url, "flush")
    assert result.exit_code == 2
    assert "choose what to act on" in result.stderr and "--yes" not in result.stderr.split(":")[2]
    refused = cli(run_script, redis_url, "flush", "--prefix", "x")
    assert refused.exit_code == 2 and "refusing to flush without --yes" in refused.stderr


def test_a_redis_list_cut_by_the_budget_counts_every_item_left_out(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    raw_redis.rpush(f"{NS}:rows", *[f"row-{i:04d}-" + "x" * 90 for i in range(1500)])
    result = cli(run_script, redis_url, "inspect", "rows", "--items", "1000")
    assert result.exit_code == 0, result.stderr
    shown = int(re.search(r"1,500 \(first (\d+) shown\)", result.stdout).group(1))  # type: ignore[union-attr]
    assert f"... {1500 - shown:,} more items" in result.stdout  # of the list, not of those read
    doc = cli(run_script, redis_url, "inspect", "rows", "--items", "1000", "--json").json()
    assert doc["clipped_items"] == 1500 - shown and doc["length"] == 1500
