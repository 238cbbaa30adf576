"""`cachectl inspect` through the console script: bounded output, --json always a document,
names escaped, foreign values named as `keys` names them."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable

import pytest
import redis

from tests.plugins.cli import CLI_NAMESPACE, CliResult

pytestmark = pytest.mark.usefixtures("watchdog")

Run = Callable[..., CliResult]
FIVE_MB = 5_000_000


def inspect(run_script: Run, url: str, *args: str) -> CliResult:
    return run_script("--url", url, "--namespace", CLI_NAMESPACE, "inspect", *args, timeout=120)


def put(raw: redis.Redis, key: str, data: bytes) -> None:
    raw.set(f"{CLI_NAMESPACE}:{key}".encode(), data)


@pytest.mark.parametrize("raw_flag", [(), ("--raw",)], ids=["decoded", "raw"])
@pytest.mark.parametrize(
    "data",
    # Noise after a NUL: binary from its first byte (noise alone may begin like msgpack).
    [b"\x00" + os.urandom(FIVE_MB), b"word " * (FIVE_MB // 5)],
    ids=["binary", "text"],
)
def test_inspect_of_a_5mb_value_is_bounded(
    raw_redis: redis.Redis, redis_url: str, run_script: Run, data: bytes, raw_flag: tuple[str, ...]
) -> None:
    put(raw_redis, "big", data)
    result = inspect(run_script, redis_url, "big", *raw_flag)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout) < 40_000  # 4 KiB shown, as hex at most ~5 characters a byte
    assert "more " in result.stdout
    more = inspect(run_script, redis_url, "big", *raw_flag, "--max-bytes", "64")
    assert len(more.stdout) < len(result.stdout)


def test_raw_json_reports_what_was_left_out(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    put(raw_redis, "big", b"x" * 10_000)
    doc = inspect(run_script, redis_url, "big", "--raw", "--json", "--max-bytes", "100").json()
    assert bytes.fromhex(doc["raw_hex"]) == b"x" * 100
    assert (doc["size"], doc["raw_more_bytes"]) == (10_000, 9_900)
    whole = inspect(run_script, redis_url, "big", "--raw", "--json", "--max-bytes", "0").json()
    assert bytes.fromhex(whole["raw_hex"]) == b"x" * 10_000


def test_json_of_a_missing_key_is_an_error_document(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    put(raw_redis, "other", b"x")  # in a namespace that holds nothing it is status 5 (issue 16)
    result = inspect(run_script, redis_url, "nope", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["key"] == "nope" and "not found" in doc["error"]


def test_control_characters_and_markup_are_shown_escaped(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    key = "k\x1b[31mred[bold]x[/bold]"
    put(raw_redis, key, "v\x1b]0;title\x07 [red]y[/red] \x9b".encode())
    result = inspect(run_script, redis_url, key)
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[31mred[bold]x[/bold]" in result.stdout
    assert "[red]y[/red] \\x9b" in result.stdout and "\x9b" not in result.stdout


@pytest.mark.parametrize(
    ("data", "serializer"),
    [
        (b'{"a": [1, 2]}', "json"),
        (pickle.dumps({"a": 1}, protocol=4), "pickle"),
        (b"plain words", "text"),
    ],
)
def test_inspect_and_keys_name_the_codec_alike(
    raw_redis: redis.Redis, redis_url: str, run_script: Run, data: bytes, serializer: str
) -> None:
    put(raw_redis, "v", data)
    doc = inspect(run_script, redis_url, "v", "--json").json()
    assert doc["encoding"]["serializer"] == serializer
    listing = run_script("--url", redis_url, "--namespace", CLI_NAMESPACE, "keys", "--json")
    rows = listing.json()
    rows = rows["keys"] if isinstance(rows, dict) else rows
    assert [row["codec"] for row in rows] == [serializer]


def test_json_value_is_printed_as_json(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    put(raw_redis, "v", b'{"ok": true, "none": null}')
    result = inspect(run_script, redis_url, "v")
    assert '"ok": true' in result.stdout and '"none": null' in result.stdout
