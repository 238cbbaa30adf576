"""`cachectl warm` as the installed console script, against servers on free ports.

The reference shop runs under uvicorn on the test redis-server; a small app of this module's own
adds what the shop has not: an endpoint answering 500, a slow one, one without cache headers.
Outcomes are read from the exit status, the one-line error, --json and --junit, and from what the
servers received; never from timing, except that a 0.3 s answer is above a 100 ms limit.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from tests.plugins.cli import CliResult
from tests.plugins.http import LiveShop, serve_asgi
from tests.servers import free_port

Run = Callable[..., CliResult]
SLOW_SECONDS = 0.3


# -- a small app of our own: /ok, /boom, /slow, /uncached --------------------------------------


@dataclass
class Received:
    """What the extra app was sent."""

    paths: Counter[str] = field(default_factory=Counter)
    authorization: list[str] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.paths.clear()
        self.authorization.clear()
        self.api_keys.clear()


def extra_app() -> tuple[FastAPI, Received]:
    received = Received()
    app = FastAPI()

    def seen(request: Request) -> str:
        path = request.url.path
        received.paths[path] += 1
        if "authorization" in request.headers:
            received.authorization.append(request.headers["authorization"])
        if "x-api-key" in request.headers:
            received.api_keys.append(request.headers["x-api-key"])
        return "MISS" if received.paths[path] == 1 else "HIT"

    @app.get("/ok")
    async def ok(request: Request) -> Response:
        return Response("ok", headers={"X-Cache": seen(request)})

    @app.get("/boom")
    async def boom(request: Request) -> Response:
        return Response("broken", status_code=500, headers={"X-Cache": seen(request)})

    @app.get("/slow")
    async def slow(request: Request) -> Response:
        await asyncio.sleep(SLOW_SECONDS)
        return Response("slow", headers={"X-Cache": seen(request)})

    @app.get("/uncached")
    async def uncached(request: Request) -> Response:
        seen(request)
        return Response("no cache headers")

    return app, received


@dataclass
class Extra:
    base_url: str
    received: Received


@pytest.fixture(scope="module")
def extra_server() -> Iterator[Extra]:
    app, received = extra_app()
    with serve_asgi(app) as base_url:
        yield Extra(base_url, received)


@pytest.fixture
def extra(extra_server: Extra) -> Extra:
    """The module's extra app with an empty request log (and so a cold 'cache')."""
    extra_server.received.clear()
    return extra_server


def endpoint_file(directory: Path, text: str, name: str = "endpoints.txt") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def one_error_line(result: CliResult) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cachectl: error: "), lines
    return lines[0].removeprefix("cachectl: error: ")


def by_path(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {httpx.URL(e["url"]).raw_path.decode(): e for e in document["endpoints"]}


# -- the reference shop: endpoint files with ranges, --min-hit-ratio, --json, --junit ---------


def test_warms_the_reference_shop_from_a_file_with_ranges(
    run_script: Run, live_shop: LiveShop, cli_isolated: Path
) -> None:
    path = endpoint_file(
        cli_isolated,
        """
        # the shop, by ranges
        GET /api/dashboard/summary
        /api/v1/inventory/products?page={1..4}
        /api/admin/users?page={2..6..2}   # every other page
        /api/landing-pages/summer-sale
        """,
    )
    junit = cli_isolated / "warm.xml"

    result = run_script(
        *("warm", str(path), "--base-url", live_shop.base_url, "--concurrency", "4"),
        *("--min-hit-ratio", "0.9", "--json", "--junit", str(junit)),
    )

    assert result.exit_code == 0, result
    assert result.stderr == ""
    report = json.loads(result.stdout)
    paths = [
        "/api/dashboard/summary",
        *(f"/api/v1/inventory/products?page={n}" for n in (1, 2, 3, 4)),
        *(f"/api/admin/users?page={n}" for n in (2, 4, 6)),
        "/api/landing-pages/summer-sale",
    ]
    assert [e["url"] for e in report["endpoints"]] == [live_shop.base_url + p for p in paths]
    assert [e["source"] for e in report["endpoints"]] == [
        f"{path}:{line}" for line in (2, 3, 3, 3, 3, 4, 4, 4, 5)
    ]
    for endpoint in report["endpoints"]:
        assert (endpoint["status"], endpoint["cold_cache"], endpoint["cache"]) == (
            200,
            "MISS",
            "HIT",
        ), endpoint
        assert not endpoint["failed"] and endpoint["error"] is None
    summary = report["summary"]
    assert (summary["targets"], summary["requests"], summary["measured_requests"]) == (9, 18, 9)
    assert (summary["hits"], summary["hit_ratio"], summary["status_counts"]) == (
        9,
        1.0,
        {"200": 18},
    )
    assert report["passed"] is True and report["failures"] == []
    assert report["thresholds"] == [
        {
            "name": "min_hit_ratio",
            "limit": 0.9,
            "actual": 1.0,
            "passed": True,
            "message": "hit ratio 100.0% meets 90.0%",
        }
    ]
    # What was warmed is what is now in Redis.
    assert live_shop.keys() == {
        "dashboard:summary",
        *(f"products:page:{n}" for n in (1, 2, 3, 4)),
        *(f"users:page:{n}" for n in (2, 4, 6)),
        "landing:summer-sale",
    }
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("10", "0", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        *(f"GET {live_shop.base_url}{p}" for p in paths),
        "min_hit_ratio",
    ]
    assert all(c.find("failure") is None for c in cases)
    assert {c.get("file") for c in cases[:-1]} == {str(path)}
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["hit_ratio"] == "1.0"
    assert properties["base_url"] == live_shop.base_url


def test_the_table_output_summarizes_the_run(
    run_script: Run, live_shop: LiveShop, cli_isolated: Path
) -> None:
    path = endpoint_file(cli_isolated, "/api/v1/inventory/products?page={1..3}\n")

    result = run_script("warm", str(path), "--base-url", live_shop.base_url)

    assert result.exit_code == 0, result
    assert result.stderr == ""
    for page in (1, 2, 3):
        assert f"GET /api/v1/inventory/products?page={page}" in result.stdout
    assert "3 endpoints x 2 passes = 6 requests" in result.stdout
    assert "hit ratio 100.0%" in result.stdout


# -- the extra app: a 500, a slow endpoint, an uncached one -------------------------------------


def test_an_endpoint_answering_500_fails_the_run(
    run_script: Run, extra: Extra, cli_isolated: Path
) -> None:
    path = endpoint_file(cli_isolated, "/ok\n/boom\n")
    junit = cli_isolated / "warm.xml"

    result = run_script(
        *("warm", str(path), "--base-url", extra.base_url, "--retries", "1"),
        *("--json", "--junit", str(junit)),
    )

    assert result.exit_code == 1, result
    assert one_error_line(result) == "1 endpoint failed (a status other than 2xx, or no response)"
    report = json.loads(result.stdout)
    assert report["passed"] is False
    endpoints = by_path(report)
    boom = endpoints["/boom"]
    assert (boom["status"], boom["failed"], boom["error"]) == (500, True, "HTTP 500")
    # Each of the two passes tried /boom twice: a 5xx is retried.
    assert (boom["retries"], extra.received.paths["/boom"]) == (2, 4)
    assert endpoints["/ok"]["failed"] is False and endpoints["/ok"]["cache"] == "HIT"
    assert report["summary"]["failed_endpoints"] == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [
        (case.get("name"), failure)
        for case in suite.findall("testcase")
        if (failure := case.find("failure")) is not None
    ]
    assert [name for name, _ in failed] == [f"GET {extra.base_url}/boom"]
    failure = failed[0][1]
    assert (failure.get("type"), failure.get("message")) == ("http-status", "HTTP 500")
    assert f"{path}:2" in (failure.text or "")


def test_a_slow_endpoint_over_max_p95_fails_the_run(
    run_script: Run, extra: Extra, cli_isolated: Path
) -> None:
    path = endpoint_file(cli_isolated, "/slow\n/ok\n/slow\n")
    junit = cli_isolated / "warm.xml"

    result = run_script(
        *("warm", str(path), "--base-url", extra.base_url, "--max-p95", "100"),
        *("--json", "--junit", str(junit)),
    )

    assert result.exit_code == 1, result
    message = one_error_line(result)
    assert message.startswith("p95 ") and message.endswith(" exceeds the limit of 100 ms")
    report = json.loads(result.stdout)
    assert report["summary"]["failed_endpoints"] == 0
    [threshold] = report["thresholds"]
    assert (threshold["name"], threshold["limit"], threshold["passed"]) == (
        "max_p95_ms",
        100,
        False,
    )
    assert threshold["actual"] > 100
    assert report["failures"] == [threshold["message"]] == [message]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("4", "1")
    [case] = [c for c in suite.findall("testcase") if c.get("name") == "max_p95_ms"]
    failure = case.find("failure")
    assert failure is not None
    assert (failure.get("type"), failure.get("message")) == ("threshold", message)


def test_min_hit_ratio_fails_against_an_uncached_endpoint(
    run_script: Run, extra: Extra, cli_isolated: Path
) -> None:
    path = endpoint_file(cli_isolated, "/uncached\n")

    result = run_script(
        "warm", str(path), "--base-url", extra.base_url, "--min-hit-ratio", "0.5", "--json"
    )

    assert result.exit_code == 1, result
    assert one_error_line(result) == "hit ratio 0.0% is below the minimum of 50.0%"
    report = json.loads(result.stdout)
    assert report["summary"]["hit_ratio"] == 0.0
    assert report["endpoints"][0]["cache"] == "unknown"
    assert report["endpoints"][0]["failed"] is False
    assert extra.received.paths["/uncached"] == 2


# -- secrets in headers ---------------------------------------------------------------------


def test_a_header_from_the_environment_is_sent_and_never_printed(
    run_script: Run, extra: Extra, cli_isolated: Path
) -> None:
    token = "tok-" + secrets.token_hex(16)
    path = endpoint_file(cli_isolated, "/ok\n/boom\n")
    junit = cli_isolated / "warm.xml"
    header = ("--header", "Authorization: Bearer ${API_TOKEN}")
    common = ("warm", str(path), "--base-url", extra.base_url, "--retries", "0", *header)

    as_json = run_script(*common, "--json", "--junit", str(junit), env={"API_TOKEN": token})
    as_table = run_script(*common, env={"API_TOKEN": token})

    assert extra.received.authorization == [f"Bearer {token}"] * 8
    for result in (as_json, as_table):
        assert result.exit_code == 1, result
        assert token not in result.stdout and token not in result.stderr
    report = json.loads(as_json.stdout)
    assert report["header_names"] == ["Authorization"]
    assert token not in json.dumps(report)
    junit_text = junit.read_text(encoding="utf-8")
    assert token not in junit_text
    ET.fromstring(junit_text)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{token}\r\nX-Injected: 1", "contains a line break"),
        ("{token}\u00e9", "is not ASCII"),
    ],
)
def test_a_bad_header_value_is_refused_without_quoting_it(
    run_script: Run, extra: Extra, cli_isolated: Path, value: str, problem: str
) -> None:
    token = "tok-" + secrets.token_hex(16)
    path = endpoint_file(cli_isolated, "/ok\n")

    result = run_script(
        *("warm", str(path), "--base-url", extra.base_url, "--json"),
        *("--header", "Authorization: Bearer ${API_TOKEN}"),
        env={"API_TOKEN": value.format(token=token)},
    )

    assert result.exit_code == 2, result
    assert problem in one_error_line(result)
    assert token not in result.stdout + result.stderr
    assert extra.received.paths == Counter()


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Authorization: Bearer ${API_TOKEN}", "{token} "),
        ("X-Api-Key: ${API_TOKEN}", " {token}"),
    ],
    ids=["trailing-space", "leading-space"],
)
def test_a_header_value_with_surrounding_whitespace_is_not_printed(
    run_script: Run, extra: Extra, cli_isolated: Path, header: str, value: str
) -> None:
    token = "tok-" + secrets.token_hex(16)
    path = endpoint_file(cli_isolated, "/ok\n")
    junit = cli_isolated / "warm.xml"
    env = {"API_TOKEN": value.format(token=token)}
    common = ("warm", str(path), "--base-url", extra.base_url, "--header", header)

    as_json = run_script(*common, "--json", "--junit", str(junit), env=env)
    as_table = run_script(*common, env=env)

    # Whitespace around a value is not part of it (RFC 9110): it is stripped, the run goes ahead,
    # and the value is never printed.
    for result in (as_json, as_table):
        assert result.exit_code == 0, result
        assert token not in result.stdout + result.stderr
    sent = extra.received.authorization + extra.received.api_keys
    assert sent == [header.partition(": ")[2].replace("${API_TOKEN}", token)] * 4
    assert not junit.exists() or token not in junit.read_text(encoding="utf-8")


# -- refused before any request: malformed endpoint files -------------------------------------


SITEMAP = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'


@pytest.mark.parametrize(
    ("name", "text", "line", "problem"),
    [
        ("urls.txt", "/ok\n# a comment\nFETCH /ok\n", 3, "unknown method 'FETCH'"),
        ("urls.txt", "/ok\n\n/ok and more\n", 3, "expected '[METHOD] PATH' but found 3 words"),
        ("urls.txt", "/ok\n/ok?page={1..9..0}\n", 2, "has a step of 0"),
        ("urls.txt", "/ok\nok-without-a-slash\n", 2, "expected a path starting with '/'"),
        ("urls.txt", "/ok\nGET\n", 2, "GET needs a path or URL after it"),
        ("urls.jsonl", '{"url": "/ok"}\n{"url": "/ok", "verb": "GET"}\n', 2, "unknown key(s)"),
        ("urls.jsonl", '{"url": "/ok"}\n{"url": \n', 2, "invalid JSON"),
        ("urls.txt", b"/ok\n/caf\xe9\n", 2, "not UTF-8 text"),
        ("sitemap.xml", f"{SITEMAP}<url><loc>BASE/ok</loc>\n</urlset>\n", 3, "malformed XML"),
        ("sitemap.xml", f"{SITEMAP}<url><loc>/ok</loc></url>\n</urlset>\n", 2, "absolute URL"),
    ],
)
def test_a_malformed_file_names_file_and_line_and_requests_nothing(
    run_script: Run,
    extra: Extra,
    cli_isolated: Path,
    name: str,
    text: str | bytes,
    line: int,
    problem: str,
) -> None:
    good = endpoint_file(cli_isolated, "/ok\n/slow\n", name="good.txt")
    bad = cli_isolated / name
    if isinstance(text, bytes):
        bad.write_bytes(text)
    else:
        bad.write_text(text.replace("BASE", extra.base_url), encoding="utf-8")
    junit = cli_isolated / "warm.xml"

    result = run_script(
        *("warm", str(good), str(bad), "--base-url", extra.base_url),
        *("--json", "--junit", str(junit)),
    )

    assert result.exit_code == 2, result
    assert result.stdout == ""
    message = one_error_line(result)
    assert message.startswith(f"{bad}:{line}: "), message
    assert problem in message
    assert extra.received.paths == Counter()
    assert not junit.exists()


def test_a_missing_file_is_a_usage_error(run_script: Run, extra: Extra, cli_isolated: Path) -> None:
    good = endpoint_file(cli_isolated, "/ok\n")

    result = run_script("warm", str(good), "nowhere.txt", "--base-url", extra.base_url)

    assert result.exit_code == 2, result
    assert one_error_line(result) == "nowhere.txt: no such file"
    assert extra.received.paths == Counter()


# -- an unreachable server ----------------------------------------------------------------------


@pytest.mark.parametrize("output", [(), ("--json",)], ids=["table", "json"])
def test_an_unreachable_base_url_exits_3_with_one_line(
    run_script: Run, cli_isolated: Path, output: tuple[str, ...]
) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    path = endpoint_file(cli_isolated, "/a\n/b?page={1..50}\n")

    result = run_script("warm", str(path), "--base-url", base_url, *output, timeout=60)

    assert result.exit_code == 3, result
    assert result.stdout == ""
    message = one_error_line(result)
    assert message.startswith(f"cannot reach {base_url}: ConnectError"), message


# -- --app: an ASGI application in process -----------------------------------------------------

TINY_APP = '''
"""A bare ASGI app with a lifespan that leaves a trace, and X-Cache headers."""
from pathlib import Path

TRACE = Path(__file__).with_name("lifespan.log")
seen = {}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            event = message["type"].removeprefix("lifespan.")
            with TRACE.open("a") as trace:
                trace.write(event + "\\n")
            await send({"type": f"lifespan.{event}.complete"})
            if event == "shutdown":
                return
    path = scope["path"]
    target = path + "?" + scope["query_string"].decode()
    seen[target] = seen.get(target, 0) + 1
    verdict = b"MISS" if seen[target] == 1 else b"HIT"
    status = 500 if path == "/boom" else 200
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"x-cache", verdict)]}
    )
    await send({"type": "http.response.body", "body": path.encode()})
'''


def test_app_mode_warms_an_asgi_app_in_process(run_script: Run, cli_isolated: Path) -> None:
    (cli_isolated / "tinyshop.py").write_text(TINY_APP, encoding="utf-8")
    path = endpoint_file(cli_isolated, "/items?page={1..3}\n/about\n")

    result = run_script(
        *("warm", str(path), "--app", "tinyshop:app", "--passes", "3"),
        *("--min-hit-ratio", "1", "--json"),
    )

    assert result.exit_code == 0, result
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["base_url"] == "http://testserver"
    assert [e["url"] for e in report["endpoints"]] == [
        *(f"http://testserver/items?page={n}" for n in (1, 2, 3)),
        "http://testserver/about",
    ]
    assert {(e["status"], e["cold_cache"], e["cache"], e["hits"]) for e in report["endpoints"]} == {
        (200, "MISS", "HIT", 2)
    }
    assert report["summary"]["hit_ratio"] == 1.0
    assert (cli_isolated / "lifespan.log").read_text() == "startup\nshutdown\n"


def test_app_mode_reports_a_failing_endpoint(run_script: Run, cli_isolated: Path) -> None:
    (cli_isolated / "tinyshop.py").write_text(TINY_APP, encoding="utf-8")
    path = endpoint_file(cli_isolated, "/fine\n/boom\n")

    result = run_script("warm", str(path), "--app", "tinyshop:app", "--retries", "0", "--json")

    assert result.exit_code == 1, result
    assert one_error_line(result) == "1 endpoint failed (a status other than 2xx, or no response)"
    assert by_path(json.loads(result.stdout))["/boom"]["error"] == "HTTP 500"
    assert (cli_isolated / "lifespan.log").read_text() == "startup\nshutdown\n"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("nosuchmodule:app", "--app nosuchmodule:app: no module named 'nosuchmodule'"),
        ("tinyshop:nothing", "--app tinyshop:nothing: tinyshop has no attribute 'nothing'"),
        ("tinyshop:TRACE", "--app tinyshop:TRACE: TRACE is not an ASGI app"),
    ],
)
def test_app_mode_names_what_it_cannot_import(
    run_script: Run, cli_isolated: Path, spec: str, problem: str
) -> None:
    (cli_isolated / "tinyshop.py").write_text(TINY_APP, encoding="utf-8")
    path = endpoint_file(cli_isolated, "/a\n")

    result = run_script("warm", str(path), "--app", spec)

    assert result.exit_code == 2, result
    assert one_error_line(result).startswith(problem)
    assert not (cli_isolated / "lifespan.log").exists()
