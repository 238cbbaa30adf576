"""What `cachectl warm` reports is what happened: the load its latencies were measured under,
cold figures that were not cold, stats deltas without publishing lag, and --app factories.

The installed console script in a subprocess, against the reference shop on a real
redis-server, or a small app of the test's own served by uvicorn or imported with --app.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.plugins.cli import CliResult
from tests.plugins.http import LiveShop
from tests.warm_support import LiveServer, serve

Run = Callable[..., CliResult]

FACTORY_MODULE = '''
"""Factories and non-apps for --app."""
from fastapi import FastAPI, Response

def make_app():
    app = FastAPI()
    seen = set()

    @app.get("/item/{n}")
    async def item(n: int) -> Response:
        verdict = "HIT" if n in seen else "MISS"
        seen.add(n)
        return Response(str(n), headers={"X-Cache": verdict})

    return app

def make_with_defaults(title="shop", debug=False):
    return make_app()

def make_broken():
    raise RuntimeError("settings file missing")

def make_nothing():
    return 42

def needs_settings(settings):
    return make_app()

def needs_keyword(*, settings):
    return make_app()

application = make_app()
'''


@pytest.fixture
def server() -> Iterator[LiveServer]:
    with serve() as live:
        yield live


def _file(directory: Path, text: str, name: str = "endpoints.txt") -> str:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


# -- the load behind the figures ---------------------------------------------------------------


def test_the_table_states_the_concurrency_next_to_the_figures(
    run_script: Run, server: LiveServer, cli_isolated: Path
) -> None:
    path = _file(cli_isolated, "/cached/{1..5}\n")
    result = run_script("warm", path, "--base-url", server.base_url, "--concurrency", "4")
    assert result.exit_code == 0, result
    assert f"Warmed {server.base_url}: latency with 4 requests in flight" in result.stdout
    assert "measured with 4 requests in flight: latency includes queueing" in result.stdout

    sequential = run_script(
        "warm", path, "--base-url", server.base_url, "--concurrency", "1", "--json"
    )
    assert sequential.json()["summary"]["concurrency"] == 1


def test_one_request_at_a_time_says_so(
    run_script: Run, server: LiveServer, cli_isolated: Path
) -> None:
    path = _file(cli_isolated, "/cached/{1..3}\n")
    result = run_script("warm", path, "--base-url", server.base_url, "--concurrency", "1")
    assert result.exit_code == 0, result
    assert "measured one request at a time" in result.stdout
    assert f"Warmed {server.base_url}: latency one request at a time" in result.stdout


# -- a second run: the 'cold' pass was served from the cache ------------------------------------


def test_a_second_run_says_its_cold_pass_was_already_cached(
    run_script: Run, server: LiveServer, cli_isolated: Path
) -> None:
    path = _file(cli_isolated, "/cached/{1..4}\n")
    first = run_script("warm", path, "--base-url", server.base_url, "--json")
    assert first.json()["summary"]["already_cached"] == 0
    assert all(e["speedup"] is not None for e in first.json()["endpoints"])

    again = run_script("warm", path, "--base-url", server.base_url)
    assert again.exit_code == 0, again
    assert "* 4 endpoints were already cached on pass 1" in again.stdout
    rows = [line for line in again.stdout.splitlines() if "GET /cached/" in line]
    assert len(rows) == 4
    for row in rows:
        cells = [cell.strip() for cell in row.split("│") if cell.strip()]
        # cold figure starred, no speedup claimed from a warm 'cold' figure
        assert cells[2].endswith("*") and cells[4] == "-", row

    document = run_script("warm", path, "--base-url", server.base_url, "--json").json()
    assert document["summary"]["already_cached"] == 4
    assert {(e["cold_cache"], e["speedup"]) for e in document["endpoints"]} == {("HIT", None)}


# -- an answer that is not 2xx: a failure, and no speedup claimed ------------------------------


def test_a_404_fails_the_run_and_shows_no_speedup(
    run_script: Run, server: LiveServer, cli_isolated: Path
) -> None:
    path = _file(cli_isolated, "/gone\n/cached/fine\n")
    table = run_script("warm", path, "--base-url", server.base_url, "--concurrency", "1")
    assert table.exit_code == 1, table
    assert table.stderr == (
        "cachectl: error: 1 endpoint failed (a status other than 2xx, or no response)\n"
    )
    (row,) = [line for line in table.stdout.splitlines() if "GET /gone" in line]
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    # endpoint, status, cold ms, warm ms, speedup, cache: before issue 16 '2.4x' stood there.
    assert (cells[1], cells[4], cells[5]) == ("HTTP 404", "-", "MISS"), row
    (fine,) = [line for line in table.stdout.splitlines() if "GET /cached/fine" in line]
    assert fine.split("│")[5].strip().endswith("x")  # a 200 still shows its speedup

    report = run_script("warm", path, "--base-url", server.base_url, "--json").json()
    gone = {e["url"].removeprefix(server.base_url): e for e in report["endpoints"]}["/gone"]
    assert (gone["status"], gone["failed"], gone["error"], gone["speedup"]) == (
        404,
        True,
        "HTTP 404",
        None,
    )
    assert report["passed"] is False and report["summary"]["failed_endpoints"] == 1


# -- stats deltas without publishing lag --------------------------------------------------------


def test_stats_moved_counts_the_measured_passes_only(
    run_script: Run, live_shop: LiveShop, redis_url: str, cli_isolated: Path
) -> None:
    path = _file(
        cli_isolated,
        "/api/v1/inventory/products?page={1..4}\n/api/dashboard/summary\n/api/admin/users?page={1..2}\n",
    )
    result = run_script(
        "--url", redis_url, "--namespace", live_shop.namespace,
        "warm", path, "--base-url", live_shop.base_url, "--passes", "3", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result
    summary = result.json()["summary"]
    # 7 endpoints x 2 measured passes, each one cache hit; pass 1's misses are not in it.
    assert summary["hits"] == 14
    assert summary["stats_delta"] == {"hits": 14, "misses": 0}


# -- --app: an application or a factory ----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "flag"),
    [
        ("factories:make_app", None),
        ("factories:make_with_defaults", "--factory"),
        ("factories:make_with_defaults", None),
        ("factories:application", None),
        ("factories:application", "--no-factory"),
    ],
)
def test_app_accepts_an_application_or_a_factory(
    run_script: Run, cli_isolated: Path, spec: str, flag: str | None
) -> None:
    (cli_isolated / "factories.py").write_text(FACTORY_MODULE)
    path = _file(cli_isolated, "/item/{1..3}\n")
    result = run_script("warm", path, "--app", spec, *([flag] if flag else []), "--json")
    assert result.exit_code == 0, result
    endpoints = result.json()["endpoints"]
    assert {(e["status"], e["cold_cache"], e["cache"]) for e in endpoints} == {(200, "MISS", "HIT")}


@pytest.mark.parametrize(
    ("spec", "flag", "message"),
    [
        ("factories:make_broken", None, "the factory make_broken() failed: RuntimeError: settings"),
        ("factories:make_nothing", None, "the factory make_nothing() returned int, not an ASGI"),
        ("factories:needs_settings", None, "neither an ASGI application"),
        ("factories:needs_keyword", None, "neither an ASGI application"),
        ("factories:make_app", "--no-factory", "neither an ASGI application"),
        ("factories:application", "--factory", "not a factory callable without arguments"),
        ("json:dumps", None, "neither an ASGI application"),
    ],
)
def test_an_unusable_app_target_is_a_one_line_usage_error(
    run_script: Run, cli_isolated: Path, spec: str, flag: str | None, message: str
) -> None:
    (cli_isolated / "factories.py").write_text(FACTORY_MODULE)
    path = _file(cli_isolated, "/item/1\n")
    result = run_script("warm", path, "--app", spec, *([flag] if flag else []))
    assert result.exit_code == 2, result
    assert result.stderr.startswith(f"cachectl: error: --app {spec}: ")
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_warm_app_runs_the_reference_shop_factory_the_readme_names(
    run_script: Run, cli_isolated: Path, shop_db_template: Path
) -> None:
    db = Path(shutil.copyfile(shop_db_template, cli_isolated / "shop.sqlite3"))
    path = _file(cli_isolated, "/api/dashboard/summary\n/api/v1/inventory/products?page={1..2}\n")
    result = run_script(
        "warm", path, "--app", "cachectl.demo.app:create_app", "--json",
        env={"DEMO_DB_PATH": str(db), "CACHECTL_ADMIN_TOKEN": "readme-token"},
    )  # fmt: skip
    assert result.exit_code == 0, result
    document = json.loads(result.stdout)
    assert document["base_url"] == "http://testserver"
    assert {(e["status"], e["cold_cache"], e["cache"]) for e in document["endpoints"]} == {
        (200, "MISS", "HIT")
    }


def test_warm_app_says_a_token_was_generated_and_keeps_it_out_of_the_log(
    run_script: Run, cli_isolated: Path, shop_db_template: Path
) -> None:
    # No CACHECTL_ADMIN_TOKEN: the reference app generates a bearer token. Before issue 16 it
    # was printed to stderr, into whatever CI log captured the run.
    db = Path(shutil.copyfile(shop_db_template, cli_isolated / "shop.sqlite3"))
    path = _file(cli_isolated, "/api/dashboard/summary\n")
    result = run_script(
        "warm", path, "--app", "cachectl.demo.app:create_app", "--json",
        env={"DEMO_DB_PATH": str(db)},
    )  # fmt: skip
    assert result.exit_code == 0, result
    assert "take a bearer token generated for this process, not shown" in result.stderr
    assert "CACHECTL_ADMIN_TOKEN" in result.stderr  # how to choose one instead
    output = result.stdout + result.stderr
    assert "take the bearer token" not in output
    # secrets.token_urlsafe(16): 22 characters of the URL-safe alphabet, nowhere to be seen.
    assert not re.search(r"(?<![\w-])[\w-]{22}(?![\w-])", result.stderr), result.stderr
