"""What the console script prints, run as a user runs it (a subprocess, no terminal, or a
forced terminal): hostile names escaped everywhere, exact JSON, tables that fit 80 columns,
listings that say which keys of how many they show."""

from __future__ import annotations

import io
import json
import random
import re
import sys
import unicodedata
from collections.abc import Callable

import pytest
import redis

from cachectl.cache import Cache
from tests.plugins.cli import CLI_NAMESPACE, CliResult
from tests.servers import RedisServer

Run = Callable[..., CliResult]
NS = CLI_NAMESPACE.encode()

#: Key names an attacker can write: a screen clear, a carriage return that rewrites the line,
#: backspaces, Rich markup, a right-to-left override, a C1 CSI, bytes that are not UTF-8.
HOSTILE = {
    b"esc\x1b[2Jclear": "esc\\x1b[2Jclear",
    b"cr\rspoof": "cr\\rspoof",
    b"bs\x08\x08x": "bs\\x08\\x08x",
    b"[bold red]x[/bold red]": "[bold red]x[/bold red]",
    "rtl\u202eevil".encode(): "rtl\\u202eevil",
    "c1\u009b31m".encode(): "c1\\x9b31m",
    b"bad\xff\xfe": "bad\\xff\\xfe",
}
SGR = re.compile(r"\x1b\[[0-9;]*m")
#: What Rich itself writes to a terminal: colours, and a progress bar's cursor moves.
RICH = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[\d*A")


def raw_controls(output: str) -> list[str]:
    """Characters in output that a terminal acts on or that reorder or hide text."""
    hidden = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    return [c for c in output if c != "\n" and unicodedata.category(c) in hidden]


@pytest.fixture
def run(run_script: Run, redis_url: str) -> Run:
    """The console script on the test server and namespace, 80 columns, no terminal."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> CliResult:
        base = ["--url", redis_url, "--namespace", CLI_NAMESPACE]
        return run_script(*base, *args, env={"COLUMNS": "80", **(env or {})})

    return invoke


@pytest.fixture
def hostile(raw_redis: redis.Redis) -> dict[bytes, str]:
    """The hostile keys written raw, each holding a value with an escape sequence in it."""
    for name in HOSTILE:
        raw_redis.set(NS + b":" + name, b"value \x1b[31mred\x1b]0;title\x07 \xe2\x80\xae")
    return HOSTILE


# -- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "forced-terminal"])
def test_hostile_names_and_values_are_escaped_in_every_human_output(
    run: Run, hostile: dict[bytes, str], terminal: bool
) -> None:
    env = {"TTY_COMPATIBLE": "1"} if terminal else {}
    outputs = {
        "keys": run("keys", env=env),
        "stats": run("stats", env=env),
        "dry run": run("flush", "--pattern", "*", "--dry-run", env=env),
        "inspect": run("inspect", "esc\x1b[2Jclear", env=env),
        "prefix title": run("keys", "--prefix", "rtl\u202eevil", env=env),
        "missing key": run("inspect", "gone\x1b[2J\r\u202e", env=env),
        "flush": run("flush", "--key", "cr\rspoof", "--yes", env=env),
    }
    for name, result in outputs.items():
        shown = result.stdout + result.stderr
        # The values' own sequences (a red, a screen clear) must not be among Rich's.
        assert "\x1b[31m" not in shown and "\x1b[2J" not in shown, name
        assert raw_controls(RICH.sub("", shown)) == [], (name, shown)
    listing = outputs["keys"].stdout
    for visible in hostile.values():
        assert visible in listing
    plan = outputs["dry run"].stdout
    assert "Would delete 7 keys" in plan and all(v in plan for v in hostile.values())
    assert "value \\x1b[31mred\\x1b]0;title\\x07 \\u202e" in outputs["inspect"].stdout
    assert "rtl\\u202eevil" in outputs["prefix title"].stdout
    missing = outputs["missing key"]
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("cachectl: error: key ")
    assert "Deleted 1 key (1 named key in namespace 'clitest')" in outputs["flush"].stdout


def test_rich_markup_in_a_name_is_text(run: Run, hostile: dict[bytes, str]) -> None:
    result = run("keys", "--prefix", "[bold red]x[/bold red]", env={"TTY_COMPATIBLE": "1"})
    assert result.exit_code == 0
    plain = SGR.sub("", result.stdout)
    assert "prefix '[bold red]x[/bold red]' in namespace 'clitest'" in plain
    assert "│ [bold red]x[/bold red] │" in plain
    # Bold red is SGR 1;31: markup interpreted would colour the title or the key.
    assert "\x1b[1;31m" not in result.stdout


def test_json_round_trips_every_hostile_key_exactly(run: Run, hostile: dict[bytes, str]) -> None:
    result = run("keys", "--json")
    assert result.exit_code == 0
    # Nothing a terminal would act on reaches it, even in --json: written as \u escapes.
    assert raw_controls(result.stdout) == []
    rows = {row["key"]: row for row in json.loads(result.stdout)["keys"]}
    exact = {name.decode("utf-8", "backslashreplace") for name in hostile}
    assert set(rows) == exact
    assert "esc\x1b[2Jclear" in rows and "rtl\u202eevil" in rows and "cr\rspoof" in rows
    # The one key that is not UTF-8: shown escaped, and its exact bytes in key_hex.
    assert rows["bad\\xff\\xfe"]["key_hex"] == b"bad\xff\xfe".hex()
    assert [r for r in rows.values() if "key_hex" in r] == [rows["bad\\xff\\xfe"]]
    plan = run("flush", "--pattern", "*", "--dry-run", "--json").json()
    assert set(plan["sample"]) == exact


def test_escaping_covers_every_control_format_and_surrogate_character() -> None:
    from cachectl.cli.render import HIDDEN, json_text, safe

    hidden = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        category = unicodedata.category(char)
        if category == "Cn":
            continue  # unassigned in this Python's Unicode: a newer one may assign it
        assert (category in hidden) == bool(HIDDEN.match(char)), hex(code)
        if category in hidden:
            shown = safe(f"a{char}b")
            assert raw_controls(shown) == [] and shown != f"a{char}b"
            document = {"k": f"a{char}b"}
            assert json.loads(json_text(document)) == document
            assert raw_controls(json_text(document).replace("\n", "")) == []
    assert safe(b"x\xffy\x1b") == "x\\xffy\\x1b"
    assert safe("a\nb\x1b", newlines=True) == "a\nb\\x1b"


def test_the_render_hook_escapes_what_was_not_made_safe() -> None:
    from rich.text import Text

    from cachectl.cli import render

    console = render._console(stderr=False)
    console.file = io.StringIO()
    console.print(Text("raw \x1b[2J and \u202e"), "[bold]markup[/bold] :smile:")
    written = console.file.getvalue()
    assert written == "raw \\x1b[2J and \\u202e [bold]markup[/bold] :smile:\n"


# -- tables that fit --------------------------------------------------------------------------

LONG = "very-long-prefix-name-that-keeps-going-for-the-dashboard-of-the-shop"


@pytest.fixture
def busy(cli_cache: Cache) -> Cache:
    """A long prefix with 1 KB values and thousands of reads, and a short one; published."""
    for i in range(150):
        cli_cache.set(f"{LONG}:{i}", random.Random(i).randbytes(900), ttl=3600)
        cli_cache.set(f"p:{i}", i)
    for i in range(3000):
        cli_cache.get(f"{LONG}:{i % 160}")
    cli_cache.publish_stats()
    return cli_cache


def cells(line: str) -> int:
    from rich.cells import cell_len

    return cell_len(line)


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "forced-terminal"])
def test_stats_at_80_columns_never_cuts_a_figure(run: Run, busy: Cache, terminal: bool) -> None:
    env = {"TTY_COMPATIBLE": "1", "FORCE_COLOR": "1"} if terminal else {}
    result = run("stats", env=env)
    assert result.exit_code == 0, result.stderr
    table = SGR.sub("", result.stdout)
    assert "\x1b" not in table
    assert max(cells(line) for line in table.splitlines()) <= 80
    header = next(line for line in table.splitlines() if line.startswith("prefix"))
    assert " ".join(header.split()) == "prefix hits misses ratio p50 ms p99 ms keys memory"
    doc = run("stats", "--json").json()
    rows = {row["prefix"]: row for row in doc["prefixes"]}
    long_row = next(line for line in table.splitlines() if line.startswith("very-lo"))
    name, *figures = long_row.split()
    # The prefix is shortened in the middle; every figure is whole.
    assert "…" in name and name.startswith("very-lo") and name.endswith("-shop")
    hits, misses = rows[LONG]["hits"], rows[LONG]["misses"]
    assert figures[:3] == [f"{hits:,}", f"{misses:,}", f"{hits / (hits + misses):.1%}"]
    assert figures[5] == "150" and "…" not in " ".join(figures)
    assert figures[-1] == "KiB" and float(figures[-2]) > 100


def test_pipes_get_plain_text(run: Run, busy: Cache) -> None:
    for args in (("stats",), ("keys", "--limit", "3"), ("latency", "--samples", "3")):
        result = run(*args, "--interval", "0") if args[0] == "latency" else run(*args)
        assert result.exit_code == 0, result.stderr
        assert "\x1b" not in result.stdout, args


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "forced-terminal"])
def test_keys_and_latency_tables_fit_80_columns(run: Run, busy: Cache, terminal: bool) -> None:
    env = {"TTY_COMPATIBLE": "1"} if terminal else {}
    keys = SGR.sub("", run("keys", "--prefix", LONG, "--limit", "3", env=env).stdout)
    latency = SGR.sub("", run("latency", "--samples", "3", "--interval", "0", env=env).stdout)
    for table in (keys, latency):
        assert max(cells(line) for line in table.splitlines()) <= 80, table
        assert "…" not in table
    # A long key wraps: every character of it is shown.
    assert LONG in keys.replace("│", "").replace(" ", "").replace("\n", "")
    assert "memory" in keys and re.search(r"│ +\d\.\d KiB │", keys)
    assert all(word in latency for word in ("PING", "GET", "p50", "p99", "max"))


# -- listings that say what they show ---------------------------------------------------------


@pytest.fixture
def items(cli_cache: Cache) -> list[str]:
    """60 keys written in random order, with random TTLs (item:042 expires soonest)."""
    names = [f"item:{n:03d}" for n in range(60)]
    for name in random.Random(7).sample(names, len(names)):
        ttl = 100 if name == "item:042" else 1000 + random.Random(name).randrange(5000)
        cli_cache.set(name, name, ttl=ttl)
    return names


def test_keys_limit_shows_the_first_keys_by_name_of_the_whole_selection(
    run: Run, items: list[str]
) -> None:
    doc = run("keys", "--limit", "5", "--json").json()
    assert [row["key"] for row in doc["keys"]] == items[:5]
    assert doc["matched"] == 60 and doc["truncated"] is True and doc["count"] == 5
    table = run("keys", "--limit", "5").stdout
    assert "the first 5 of 60 matching keys, by name (--limit shows more)" in table
    soonest = run("keys", "--sort", "ttl", "--limit", "1", "--json").json()["keys"]
    assert [row["key"] for row in soonest] == ["item:042"]
    assert run("keys", "--prefix", "item:007").stdout.splitlines()[-1].strip() == "1 key"


def test_top_with_limit_or_another_order_is_a_usage_error(run: Run, items: list[str]) -> None:
    for extra in (("--limit", "3"), ("--sort", "ttl")):
        result = run("keys", "--top", "2", *extra)
        assert result.exit_code == 2
        assert result.stderr == (
            "cachectl: error: --top N is --sort memory --limit N: give --top alone\n"
        )
    top = run("keys", "--top", "2", "--json").json()
    assert top["count"] == 2 and top["sort"] == "memory" and top["matched"] == 60


def test_dry_run_over_max_keys_says_the_real_run_would_be_refused(
    run: Run, items: list[str], raw_redis: redis.Redis
) -> None:
    result = run("flush", "--prefix", "item", "--dry-run", "--max-keys", "50")
    assert result.exit_code == 1
    assert "Would delete 60 keys" in result.stdout
    assert result.stdout.endswith(
        "Nothing was deleted (--dry-run).\n"
        "Without --dry-run it would be refused: more than --max-keys 50.\n"
    )
    assert result.stderr == (
        "cachectl: error: 60 keys match (prefix 'item' in namespace 'clitest'), more than "
        "--max-keys 50; nothing was deleted\n"
    )
    doc = run("flush", "--prefix", "item", "--dry-run", "--max-keys", "50", "--json")
    assert doc.exit_code == 1 and doc.json()["refused"] is True and doc.json()["count"] == 60
    within = run("flush", "--prefix", "item", "--dry-run", "--max-keys", "60")
    assert within.exit_code == 0 and "refused" not in within.stdout
    assert len(set(raw_redis.scan_iter(match=NS + b":item:*"))) == 60


@pytest.mark.parametrize("scripts", [True, False], ids=["server-steps", "scripts-refused"])
def test_ttl_and_memory_orders_cover_the_whole_selection(
    run_script: Run, own_redis: RedisServer, scripts: bool
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    rng = random.Random(3)
    names = [f"k:{n:05d}".encode() for n in range(6000)]
    pipe = client.pipeline(transaction=False)
    for i, name in enumerate(rng.sample(names, len(names))):
        # Sizes from 1 to 3,000 bytes; a TTL on two keys of three, all distinct.
        pipe.set(
            NS + b":" + name,
            b"v" * (1 + (i * 7919) % 3000),
            px=None if i % 3 == 0 else 600_000 + i * 1000,
        )
    pipe.execute()
    url = own_redis.url
    if not scripts:
        client.acl_setuser(
            "noscript",
            enabled=True,
            passwords=["+pw"],
            keys=["~*"],
            commands=["+@all", "-@scripting"],
        )
        url = url.replace("redis://", "redis://noscript:pw@")

    def listing(*args: str) -> dict[str, object]:
        result = run_script("--url", url, "--namespace", CLI_NAMESPACE, "keys", "--json", *args)
        assert result.exit_code == 0, result.stderr
        doc: dict[str, object] = result.json()
        assert doc["matched"] == 6000
        return doc

    memory = {name: client.memory_usage(NS + b":" + name) for name in names}
    ttls = {name: client.pttl(NS + b":" + name) for name in names}
    top = listing("--top", "7")["keys"]
    assert isinstance(top, list)
    assert [row["memory"] for row in top] == sorted(memory.values(), reverse=True)[:7]
    assert all(memory[row["key"].encode()] == row["memory"] for row in top)
    soonest = listing("--sort", "ttl", "--limit", "4")["keys"]
    assert isinstance(soonest, list)
    expiring = sorted((t, n) for n, t in ttls.items() if t >= 0)
    assert [row["key"].encode() for row in soonest] == [n for _t, n in expiring[:4]]
    first = listing("--limit", "3")["keys"]
    assert isinstance(first, list)
    assert [row["key"] for row in first] == ["k:00000", "k:00001", "k:00002"]
    client.close()


def test_the_flush_confirmation_shows_the_selection_escaped(
    cli: Run, hostile: dict[bytes, str], raw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cachectl.cli.common.stdin_is_terminal", lambda: True)
    declined = cli("flush", "--pattern", "esc\x1b*", input="n\n")
    assert declined.exit_code != 0
    prompt = declined.stderr.splitlines()[0]
    assert prompt.startswith(
        "Delete 1 key (pattern 'esc\\x1b*' in namespace 'clitest') on redis://"
    )
    assert raw_controls(declined.stderr) == []
    assert raw_redis.exists(NS + b":esc\x1b[2Jclear") == 1


def test_json_output_never_loads_rich(redis_url: str, hostile: dict[bytes, str]) -> None:
    import subprocess

    code = (
        "import sys; from cachectl.cli import main; "
        f"status = main(['--url', {redis_url!r}, '--namespace', {CLI_NAMESPACE!r}, "
        "'keys', '--json']); "
        "print(status, 'rich' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stderr.strip().splitlines()[-1] == "0 False"
    assert len(json.loads(done.stdout)["keys"]) == len(hostile)
