"""The server matrix: the command line and the page on the server the fixtures run.

`.ci/run` runs this file and tests/test_conformance.py once per server: Debian's Redis 7.0,
then CACHECTL_REDIS_SERVER set to a Redis 8.2 and a Valkey 8.1 taken from PyPI wheels
(scripts/matrix_servers.py). What differs between them is in docs/compatibility.md; the
figures that differ (the version, the mode, MEMORY USAGE) are checked against the server's own
INFO here, never against one server's numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from cachectl import Cache
from tests.plugins.cli import CliResult
from tests.servers import RedisServer, server_name
from tests.test_cli_ui import ui_process

Run = Callable[..., CliResult]
NS = "matrix"


def _seed(url: str) -> None:
    with Cache(url, namespace=NS, socket_timeout=2.0, connect_timeout=2.0) as cache:
        cache.set_many({f"user:{i}": {"id": i, "name": "x" * 200} for i in range(25)}, tags=["t"])
        cache.set_many({f"order:{i}": i for i in range(5)})


def test_the_fixtures_run_the_server_asked_for(redis_server: RedisServer) -> None:
    name, version = server_name().split()
    with redis_server.client() as client:
        info = client.info("server")
    assert info.get("server_name", "redis") == name
    assert info.get("valkey_version", info["redis_version"]) == version
    if os.environ.get("CACHECTL_REDIS_SERVER"):
        assert Path(os.environ["CACHECTL_REDIS_SERVER"]).samefile(f"/proc/{redis_server.pid}/exe")


def test_stats_keys_inspect_and_flush_on_this_server(
    redis_url: str, raw_redis: redis.Redis, run_script: Run
) -> None:
    _seed(redis_url)
    base = ("--url", redis_url, "--namespace", NS)
    name, version = server_name().split()

    stats = run_script(*base, "stats", "--json")
    assert stats.exit_code == 0, stats.stderr
    server = stats.json()["servers"][0]
    assert (server["server"], server["version"], server["mode"]) == (name, version, "standalone")
    assert server["used_memory"] > 0 and server["keys"] >= 30
    assert {p["prefix"]: p["keys"] for p in stats.json()["prefixes"]} == {"user": 25, "order": 5}
    shown = run_script(*base, "stats", env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and version in shown.stdout

    keys = run_script(*base, "keys", "--prefix", "user", "--json")
    assert keys.exit_code == 0, keys.stderr
    assert sorted(row["key"] for row in keys.json()["keys"]) == sorted(
        f"user:{i}" for i in range(25)
    )
    top = run_script(*base, "keys", "--top", "3", "--json")
    assert top.exit_code == 0, top.stderr
    assert all(row["memory"] > 0 for row in top.json()["keys"])

    inspect = run_script(*base, "inspect", "user:7", "--json")
    assert inspect.exit_code == 0, inspect.stderr
    view = inspect.json()
    assert view["value"] == {"id": 7, "name": "x" * 200}
    # MEMORY USAGE differs from server to server: the server's own figure, not a constant.
    assert view["memory"] == raw_redis.memory_usage(f"{NS}:user:7")

    flushed = run_script(*base, "flush", "--tag", "t", "--yes", "--json")
    assert flushed.exit_code == 0, flushed.stderr
    assert flushed.json()["removed"] == 25
    assert raw_redis.exists(*(f"{NS}:user:{i}" for i in range(25))) == 0
    assert raw_redis.exists(f"{NS}:order:1") == 1


def test_the_page_on_this_server(redis_url: str, cli_isolated: Path, cachectl_script: str) -> None:
    _seed(redis_url)
    name, version = server_name().split()
    args = ["--url", redis_url, "--namespace", NS, "ui", "--json"]
    with ui_process(cachectl_script, cli_isolated, *args) as (_proc, told):
        page = httpx.get(told["url"])
        assert page.status_code == 200 and "Cache management" in page.text
        auth = {"Authorization": f"Bearer {told['token']}"}
        overview = httpx.get(f"{told['url']}api/overview", headers=auth).json()
        assert (overview["server"]["server"], overview["server"]["version"]) == (name, version)
        assert {p["prefix"]: p["keys"] for p in overview["prefixes"]} == {"user": 25, "order": 5}
        listed = httpx.get(f"{told['url']}api/keys", params={"prefix": "order"}, headers=auth)
        assert sorted(row["key"] for row in listed.json()["keys"]) == [
            f"order:{i}" for i in range(5)
        ]
        key = httpx.get(f"{told['url']}api/key", params={"key": "order:3"}, headers=auth)
        assert key.status_code == 200 and key.json()["value"] == 3
