"""`cachectl ui`: the console script in a subprocess serves the page and its API on 127.0.0.1
with a token of its own, and stops cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from cachectl.contrib.fastapi.page import CSP
from tests.plugins.cli import CLI_ENV_VARS, CliResult
from tests.servers import free_port


@contextmanager
def ui_process(script: str, cwd: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    """`cachectl ARGS ui --json ...` running; yields the process and its announcement."""
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
    proc = subprocess.Popen(
        [script, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"no announcement; stderr: {proc.stderr.read() if proc.stderr else ''}"
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ui_serves_the_page_and_the_api_until_stopped(
    cli_isolated: Path,
    cachectl_script: str,
    redis_url: str,
    raw_redis: redis.Redis,
    stop: signal.Signals,
) -> None:
    raw_redis.set("uitest:user:1", b"x")
    args = ["--url", redis_url, "--namespace", "uitest", "ui", "--json"]
    with ui_process(cachectl_script, cli_isolated, *args) as (proc, told):
        assert told["role"] == "admin"
        assert told["url"].startswith("http://127.0.0.1:") and told["url"].endswith("/")
        assert len(told["token"]) >= 24
        page = httpx.get(told["url"])
        assert page.status_code == 200 and "Cache management" in page.text
        assert page.headers["content-security-policy"] == CSP
        assert httpx.get(f"{told['url']}api/whoami").status_code == 401
        auth = {"Authorization": f"Bearer {told['token']}"}
        who = httpx.get(f"{told['url']}api/whoami", headers=auth).json()
        assert who["role"] == "admin" and who["namespace"] == "uitest"
        listed = httpx.get(f"{told['url']}api/keys", params={"prefix": "user"}, headers=auth)
        assert [row["key"] for row in listed.json()["keys"]] == ["user:1"]
        proc.send_signal(stop)
        assert proc.wait(20) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    with pytest.raises(httpx.ConnectError):
        httpx.get(told["url"])


def test_ui_read_only_token_changes_nothing(
    cli_isolated: Path, cachectl_script: str, redis_url: str, raw_redis: redis.Redis
) -> None:
    raw_redis.set("uitest:user:1", b"x")
    port = free_port()
    args = ["--url", redis_url, "--namespace", "uitest", "ui", "--json", "--read-only"]
    with ui_process(cachectl_script, cli_isolated, *args, "--port", str(port)) as (proc, told):
        assert told["url"] == f"http://127.0.0.1:{port}/"
        assert told["role"] == "read-only"
        auth = {"Authorization": f"Bearer {told['token']}"}
        assert httpx.get(f"{told['url']}api/whoami", headers=auth).json()["role"] == "read-only"
        body = {"prefix": "user", "confirm": "user"}
        refused = httpx.post(f"{told['url']}api/flush", json=body, headers=auth)
        assert refused.status_code == 403
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert raw_redis.get("uitest:user:1") == b"x"


def test_ui_prints_the_address_and_token_for_a_person(
    cli_isolated: Path, cachectl_script: str, redis_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
    proc = subprocess.Popen(
        [cachectl_script, "--url", redis_url, "ui"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cli_isolated,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first, second, third = (proc.stdout.readline() for _ in range(3))
        assert third == "Press Ctrl-C to stop.\n"
        assert first.startswith(f"Cache Management page for {redis_url}: http://127.0.0.1:")
        assert second.startswith("Admin token (valid until this process stops): ")
        token = second.rsplit(" ", 1)[1].strip()
        url = first.rsplit(" ", 1)[1].strip()
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{url}api/whoami", headers=auth).json()["role"] == "admin"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert out == ""
    assert err == "Stopped.\n"


def test_ui_on_an_unreachable_redis_is_one_line_and_status_3(
    run_script: Callable[..., CliResult],
) -> None:
    result = run_script("--url", "redis://127.0.0.1:1/0", "--timeout", "1", "ui", timeout=30)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith("cachectl: error: ")
    assert result.stderr.count("\n") == 1


def test_ui_without_the_fastapi_extra_says_how_to_install_it(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = cli("ui")
    assert result.exit_code == 2
    assert result.stderr == (
        "cachectl: error: cachectl ui needs the fastapi extra (uvicorn is missing): "
        "pip install 'cachectl-redis[fastapi]'\n"
    )


#: Host values a page on another site could make a browser send here (DNS rebinding), or that
#: name another server: all refused.
FOREIGN_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1",
    "localhost",
    "127.0.0.2:{port}",
    "0.0.0.0:{port}",
    "[::1]:{port}",
    "localhost:{other}",
    "127.0.0.1:{other}",
    "localhost.:{port}",
    "127.0.0.1:{port}.evil.example",
    "evil.example/127.0.0.1:{port}",
    "",
]


def test_ui_answers_only_its_own_host(
    cli_isolated: Path, cachectl_script: str, redis_url: str, raw_redis: redis.Redis
) -> None:
    raw_redis.set("uitest:user:1", b"x")
    args = ["--url", redis_url, "--namespace", "uitest", "ui", "--json"]
    with ui_process(cachectl_script, cli_isolated, *args) as (proc, told):
        port = int(told["url"].rsplit(":", 1)[1].strip("/"))
        auth = {"Authorization": f"Bearer {told['token']}"}
        for path in ("", "api/whoami", "static/app.js"):
            for template in FOREIGN_HOSTS:
                host = template.format(port=port, other=port + 1)
                refused = httpx.get(f"{told['url']}{path}", headers={**auth, "Host": host})
                assert refused.status_code == 400, (host, path, refused.text[:200])
                assert refused.headers["content-type"] == "application/json"
                assert refused.headers["x-content-type-options"] == "nosniff"
                assert refused.headers["cache-control"] == "no-store"
                assert "answers to Host" in refused.json()["detail"]
                assert "evil" not in refused.text
            for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"):
                ok = httpx.get(f"{told['url']}{path}", headers={**auth, "Host": host})
                assert ok.status_code == 200, (host, path, ok.text[:200])
        # HTTP/1.0 may leave Host out: refused too.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
        proc.terminate()
        assert proc.wait(20) == 0


@pytest.mark.parametrize(
    "forwarded",
    [
        {"X-Forwarded-For": "10.0.0.1"},
        {"X-Forwarded-For": "evil<script>"},
        {"X-Forwarded-For": "10.0.0.1, 127.0.0.1"},
        {"Forwarded": "for=10.0.0.1"},
        {"X-Real-IP": "10.0.0.1"},
    ],
    ids=["xff", "xff-markup", "xff-chain", "forwarded", "x-real-ip"],
)
def test_ui_records_the_peer_address_not_a_forwarded_one(
    cli_isolated: Path,
    cachectl_script: str,
    redis_url: str,
    raw_redis: redis.Redis,
    forwarded: dict[str, str],
) -> None:
    raw_redis.mset({"uitest:user:1": b"x", "uitest:user:2": b"y", "uitest:user:3": b"z"})
    args = ["--url", redis_url, "--namespace", "uitest", "ui", "--json"]
    with ui_process(cachectl_script, cli_isolated, *args) as (proc, told):
        auth = {"Authorization": f"Bearer {told['token']}", **forwarded}
        api = f"{told['url']}api"
        assert httpx.delete(f"{api}/key", params={"key": "user:1"}, headers=auth).json() == {
            "removed": 1
        }
        ttl = httpx.post(f"{api}/key/ttl", json={"key": "user:2", "ttl": 60}, headers=auth)
        assert ttl.status_code == 200
        body = {"prefix": "user", "confirm": "user"}
        assert httpx.post(f"{api}/flush", json=body, headers=auth).json()["removed"] == 2
        entries = httpx.get(f"{api}/audit", headers=auth).json()["entries"]
        assert [e["action"] for e in entries] == ["flush", "ttl", "delete"]
        assert {e["address"] for e in entries} == {"127.0.0.1"}
        proc.terminate()
        assert proc.wait(20) == 0
