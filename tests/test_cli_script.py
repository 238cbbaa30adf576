"""The installed console script in a subprocess: exit statuses, refusals, redaction, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachectl.cache import Cache
from tests.plugins.cli import CLI_NAMESPACE, CliResult
from tests.servers import RedisServer, free_port

Run = Callable[..., CliResult]
PASSWORD = "s3cret-pw"


def with_url(url: str, *args: str) -> list[str]:
    return ["--url", url, "--namespace", CLI_NAMESPACE, *args]


def assert_one_error_line(result: CliResult, status: int) -> str:
    assert result.exit_code == status, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cachectl: error: ")
    return lines[0]


@pytest.fixture
def filled(cli_cache: Cache) -> Cache:
    for i in range(30):
        cli_cache.set(f"page:{i}", {"i": i}, tags=["pages"])
    cli_cache.get("page:1")
    cli_cache.get("page:missing")
    cli_cache.publish_stats()
    return cli_cache


def test_version(run_script: Run) -> None:
    result = run_script("--version")
    assert result.exit_code == 0
    assert result.stdout == "cachectl 0.1.0\n" and result.stderr == ""


def test_python_dash_m(cli_isolated: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cachectl", "--version"], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "cachectl 0.1.0\n")


def test_help_documents_exit_statuses(run_script: Run) -> None:
    result = run_script("--help")
    assert result.exit_code == 0
    for command in ("stats", "keys", "inspect", "flush", "latency"):
        assert f"  {command} " in result.stdout
    text = " ".join(result.stdout.split())
    for entry in (
        "Exit status: 0 success",
        "; 1 a check failed",
        "; 2 usage error",
        "; 3 Redis unreachable, authentication refused, or timed out",
        "; 4 flush declined at the confirmation prompt, nothing deleted",
        "; 130 interrupted",
    ):
        assert entry in text


def test_no_arguments_shows_the_help_with_status_2(run_script: Run) -> None:
    result = run_script()
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr and "Usage: cachectl" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nonsense"], "no such command 'nonsense' (see 'cachectl --help')"),
        (["--bogus", "stats"], "no such option: --bogus (see 'cachectl --help')"),
        (["keys", "--bogus"], "no such option: --bogus (see 'cachectl keys --help')"),
        (["keys", "--limit", "zero"], "invalid value for '--limit'"),
        (["stats", "--format", "xml"], "invalid value for '--format'"),
        (["inspect"], "missing argument"),
        (["--timeout", "soon", "stats"], "invalid value for '--timeout'"),
        (["--namespace"], "option '--namespace' requires an argument"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    run_script: Run, args: list[str], expected: str
) -> None:
    # The framework's errors in the tool's own style: no usage block, no 'Error:' line.
    line = assert_one_error_line(run_script(*args), 2)
    assert expected in line


def test_unreachable_exits_3_with_one_line(run_script: Run) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    line = assert_one_error_line(run_script(*with_url(url, "keys")), 3)
    assert f"cannot reach redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in line
    assert "hunter2" not in line
    assert "CACHECTL_URL" in line


def test_hung_server_times_out_with_exit_3(run_script: Run, own_redis: RedisServer) -> None:
    own_redis.pause()
    try:
        result = run_script(*with_url(own_redis.url, "--timeout", "0.3", "stats"), timeout=30)
    finally:
        own_redis.resume()
    line = assert_one_error_line(result, 3)
    assert "did not answer within 0.3s" in line


def test_wrong_password_is_refused_and_redacted(
    run_script: Run, password_redis: RedisServer
) -> None:
    url = f"redis://:wrong-one@127.0.0.1:{password_redis.port}/0"
    line = assert_one_error_line(run_script(*with_url(url, "keys")), 3)
    assert "authentication refused by redis://:***@127.0.0.1" in line
    assert "wrong-one" not in line


def test_missing_password_is_refused(run_script: Run, password_redis: RedisServer) -> None:
    line = assert_one_error_line(run_script(*with_url(password_redis.url, "latency")), 3)
    assert "needs a password" in line and "--password-file" in line


def test_password_from_file_or_environment_never_printed(
    run_script: Run, password_redis: RedisServer, tmp_path: Path
) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text(PASSWORD + "\n")
    by_file = run_script(
        *with_url(password_redis.url, "--password-file", str(secret), "stats", "--json"),
        "--allow-empty",  # an empty server: status 5 without it since issue 16
    )
    assert by_file.exit_code == 0, by_file.stderr
    assert json.loads(by_file.stdout)["url"] == password_redis.url
    by_env = run_script(
        *with_url(password_redis.url, "latency", "--samples", "3", "--json"),
        env={"CACHECTL_PASSWORD": PASSWORD},
    )
    assert by_env.exit_code == 0, by_env.stderr
    in_url = f"redis://:{PASSWORD}@127.0.0.1:{password_redis.port}/0"
    result = run_script(*with_url(in_url, "stats", "--json", "--allow-empty"))
    assert json.loads(result.stdout)["url"] == f"redis://:***@127.0.0.1:{password_redis.port}/0"
    for output in (by_file, by_env, result):
        assert PASSWORD not in output.stdout + output.stderr


def test_flush_refuses_without_yes_when_stdin_is_not_a_terminal(
    run_script: Run, redis_url: str, filled: Cache, raw_redis: redis.Redis
) -> None:
    line = assert_one_error_line(run_script(*with_url(redis_url, "flush", "--prefix", "page")), 2)
    assert "refusing to flush without --yes: standard input is not a terminal" in line
    assert len(set(raw_redis.scan_iter(match=b"clitest:page:*"))) == 30
    done = run_script(*with_url(redis_url, "flush", "--prefix", "page", "--yes", "--json"))
    assert (done.exit_code, json.loads(done.stdout)["removed"]) == (0, 30)


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "--json"],
        ["keys", "--json"],
        ["keys", "--top", "2", "--json"],
        ["inspect", "page:3", "--json"],
        ["flush", "--tag", "pages", "--dry-run", "--json"],
        ["latency", "--samples", "5", "--json"],
        ["flush", "--tag", "pages", "--yes", "--json"],
    ],
)
def test_json_output_is_one_document(
    run_script: Run, redis_url: str, filled: Cache, args: list[str]
) -> None:
    result = run_script(*with_url(redis_url, *args))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    json.loads(result.stdout)  # the whole of stdout, nothing before or after


def test_check_failures_exit_1(
    run_script: Run, redis_url: str, filled: Cache, raw_redis: redis.Redis
) -> None:
    raw_redis.set(b"clitest:broken", b"\x1f\x8b\x08\x00truncated")
    corrupt = run_script(*with_url(redis_url, "inspect", "broken"))
    assert corrupt.exit_code == 1
    assert "00000000  1f 8b 08 00" in corrupt.stdout
    assert corrupt.stderr == "cachectl: error: broken: truncated gzip layer\n"
    missing = run_script(*with_url(redis_url, "inspect", "absent"))
    assert_one_error_line(missing, 1)
    low = run_script(*with_url(redis_url, "stats", "--min-hit-ratio", "0.99", "--json"))
    assert low.exit_code == 1 and json.loads(low.stdout)["prefixes"]
    over = run_script(*with_url(redis_url, "flush", "--all", "--yes", "--max-keys", "3"))
    assert_one_error_line(over, 1)


def test_settings_file_in_the_working_directory(
    run_script: Run, redis_url: str, filled: Cache, cli_isolated: Path
) -> None:
    (cli_isolated / "cachectl.toml").write_text(
        f'url = "{redis_url}"\nnamespace = "{CLI_NAMESPACE}"\n'
    )
    result = run_script("keys", "--prefix", "page", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 30
    (cli_isolated / "cachectl.toml").write_text('colour = "blue"\n')
    assert_one_error_line(run_script("keys"), 2)


# -- the console script's quick exit ----------------------------------------------------------


def test_output_that_cannot_be_written_is_an_error_status(
    cli_isolated: Path, cachectl_script: str
) -> None:
    for unbuffered in ("", "1"):
        env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [cachectl_script, "--version"], stdout=full, stderr=subprocess.PIPE, env=env
            )
        assert done.returncode == 1
        assert done.stderr.decode().splitlines() == [
            "cachectl: error: cannot write the output: [Errno 28] No space left on device"
        ]


def test_a_reader_that_went_away_is_not_an_unreachable_server(
    cli_isolated: Path, cachectl_script: str, filled: Cache, redis_url: str
) -> None:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [cachectl_script, *with_url(redis_url, "keys", "--json")],
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert done.returncode == 1
    assert done.stderr == ""


def test_exit_handlers_of_an_application_still_run(
    cli_isolated: Path, cachectl_script: str
) -> None:
    # warm --app runs the application in the tool's process: its exit handlers and its
    # threads finish as they would with any other Python program.
    (cli_isolated / "exitapp.py").write_text(
        "import atexit, pathlib, threading, time\n"
        "atexit.register(lambda: pathlib.Path('atexit.done').write_text('ok'))\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        "    pathlib.Path('thread.done').write_text('ok')\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] == 'lifespan':\n"
        "        while True:\n"
        "            message = await receive()\n"
        "            if message['type'] == 'lifespan.startup':\n"
        "                await send({'type': 'lifespan.startup.complete'})\n"
        "            else:\n"
        "                threading.Thread(target=late).start()\n"
        "                await send({'type': 'lifespan.shutdown.complete'})\n"
        "                return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'ok'})\n"
    )
    (cli_isolated / "targets.txt").write_text("/a\n")
    done = subprocess.run(
        [cachectl_script, "warm", "targets.txt", "--app", "exitapp:app", "--passes", "1"],
        cwd=cli_isolated,
        env={**os.environ, "PYTHONPATH": str(cli_isolated)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (cli_isolated / "atexit.done").read_text() == "ok"
    assert (cli_isolated / "thread.done").read_text() == "ok"


# -- settings checked when given: each bad one is a usage error, one line, status 2 ---------------

BAD_SETTINGS: dict[str, tuple[list[str], dict[str, str], str]] = {
    # id: (arguments before the command, environment, settings file)
    "empty --namespace": (["--namespace", ""], {}, ""),
    "empty --url": (["--url", ""], {}, ""),
    "empty --password-file": (["--password-file", ""], {}, ""),
    "empty CACHECTL_NAMESPACE": ([], {"CACHECTL_NAMESPACE": ""}, ""),
    "empty CACHECTL_URL": ([], {"CACHECTL_URL": ""}, ""),
    "port out of range": (["--url", "redis://127.0.0.1:99999/0"], {}, ""),
    "unclosed IPv6": (["--url", "redis://[::1/0"], {}, ""),
    "timeout in the URL": (["--url", "redis://127.0.0.1:6379/0?socket_timeout=abc"], {}, ""),
    "unknown URL option": (["--url", "redis://127.0.0.1:6379/0?decode_responses=1"], {}, ""),
    "URL database": (["--url", "redis://127.0.0.1:6379/zero"], {}, ""),
    "--timeout inf": (["--timeout", "inf"], {}, ""),
    "--timeout nan": (["--timeout", "nan"], {}, ""),
    "--timeout -1": (["--timeout", "-1"], {}, ""),
    "--timeout 0": (["--timeout", "0"], {}, ""),
    "CACHECTL_TIMEOUT inf": ([], {"CACHECTL_TIMEOUT": "inf"}, ""),
    "CACHECTL_TIMEOUT true": ([], {"CACHECTL_TIMEOUT": "true"}, ""),
    "file timeout inf": ([], {}, "timeout = inf\n"),
    "file timeout true": ([], {}, "timeout = true\n"),
    "file namespace empty": ([], {}, 'namespace = ""\n'),
    "file URL malformed": ([], {}, 'url = "redis://h:1/0?socket_timeout=-1"\n'),
}


@pytest.mark.parametrize(("args", "env", "file"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_a_bad_setting_is_a_usage_error(
    run_script: Run, cli_isolated: Path, args: list[str], env: dict[str, str], file: str
) -> None:
    if file:
        (cli_isolated / "cachectl.toml").write_text(file)
    # --all --yes: were the setting taken for the default, this would delete.
    result = run_script(*args, "flush", "--all", "--yes", env=env, timeout=30)
    assert_one_error_line(result, 2)


def test_an_empty_namespace_deletes_nothing(
    run_script: Run, redis_url: str, raw_redis: redis.Redis
) -> None:
    raw_redis.set(b"cachectl:precious", b"x")  # the default namespace
    result = run_script("--url", redis_url, "--namespace", "", "flush", "--all", "--yes")
    line = assert_one_error_line(result, 2)
    assert "--namespace is empty" in line
    assert raw_redis.get(b"cachectl:precious") == b"x"


def test_a_cluster_node_with_a_database_number_is_a_usage_error(
    run_script: Run, cluster_url: str
) -> None:
    plain = cluster_url.replace("redis+cluster://", "redis://").removesuffix("/0") + "/3"
    line = assert_one_error_line(run_script("--url", plain, "keys"), 2)
    assert "is a Redis Cluster node: a cluster has only database 0" in line


MARKS = ("Kx7Qm", "Jv3Wn", "Hb5Rp")


def _check_hidden(run_script: Run, middle: str) -> None:
    password = f"{MARKS[0]}{middle}{MARKS[1]}{middle}{MARKS[2]}"
    port = free_port()
    for url in (
        f"redis://:{password}@127.0.0.1:{port}/0",
        f"redis://alice:{password}@127.0.0.1:{port}/0?socket_timeout=abc",
        f"rediss://:{password}@127.0.0.1:{port}/0",
    ):
        result = run_script("--url", url, "--timeout", "0.5", "keys", timeout=30)
        assert result.exit_code in (2, 3), result
        assert_one_error_line(result, result.exit_code)
        for mark in MARKS:
            assert mark not in result.stdout + result.stderr


@pytest.mark.parametrize("middle", ["/", "?", "#", "@", ":", "/?#@:", "99999/", "%2F", " \x1b"])
def test_a_password_is_never_printed(run_script: Run, middle: str) -> None:
    _check_hidden(run_script, middle)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(middle=st.text(st.characters(exclude_characters="\x00"), max_size=12))
def test_any_password_is_never_printed(run_script: Run, middle: str) -> None:
    _check_hidden(run_script, middle)
