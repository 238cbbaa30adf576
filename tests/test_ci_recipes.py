"""The CI recipes of docs/recipes run: their commands, read from the YAML, against a real
redis-server and the reference application, so that a recipe cannot rot.

Each recipe's job starts Redis as a service, installs cachectl, warms the application from an
endpoint list with gates (--min-hit-ratio, --max-p95, --junit), checks Redis's latency
(--max-p99) and gates on the published hit ratio (stats --min-hit-ratio). Here the commands
run as written, with the job's variables pointed at the test's server, database and endpoint
list, and the gates loosened: this machine's timing is not what is under test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.plugins.cli import CLI_ENV_VARS

RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes"
#: The variables every recipe defines, which the test sets for this machine.
VARIABLES = (
    "CACHECTL_URL",
    "CACHECTL_NAMESPACE",
    "APP",
    "ENDPOINTS",
    "MIN_HIT_RATIO",
    "MAX_P95_MS",
    "MAX_P99_MS",
    "MIN_STATS_HIT_RATIO",
)
#: The reference shop's read endpoints that exist in the tests' small database.
ENDPOINTS = """\
# The small test shop's endpoints (300 users, 200 products).
GET /api/dashboard/summary
/api/landing-pages/summer-sale
/api/landing-pages/audio-deals
/api/v1/inventory/products?page={1..4}
/api/admin/users?page={1..3}
"""


@dataclass
class Recipe:
    """A CI job: its variables, its install commands and the commands that do the work."""

    name: str
    variables: dict[str, str]
    installs: list[str]
    commands: list[str]
    junit: list[str]  # report paths the job publishes


def _github(doc: dict[str, Any]) -> Recipe:
    job = doc["jobs"]["warm"]
    assert "redis" in job["services"] and job["services"]["redis"]["image"].startswith("redis")
    variables = {**doc.get("env", {}), **job.get("env", {})}
    installs, commands = [], []
    junit = []
    for step in job["steps"]:
        if "run" in step:
            run = str(step["run"]).strip()
            (installs if run.startswith("pip install") else commands).append(run)
        elif "junit" in str(step.get("uses", "")):
            junit.append(step["with"]["report_paths"])
    return Recipe("github-actions", variables, installs, commands, junit)


def _gitlab(doc: dict[str, Any]) -> Recipe:
    job = doc["cache-warm"]
    assert any(str(s["name"]).startswith("redis") for s in job["services"])
    return Recipe(
        "gitlab-ci",
        dict(job["variables"]),
        [str(line).strip() for line in job["before_script"]],
        [str(line).strip() for line in job["script"]],
        [job["artifacts"]["reports"]["junit"]],
    )


def recipes() -> list[Recipe]:
    return [
        _github(yaml.safe_load((RECIPES / "github-actions.yml").read_text())),
        _gitlab(yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())),
    ]


@pytest.fixture(params=recipes(), ids=lambda recipe: recipe.name)
def recipe(request: pytest.FixtureRequest) -> Recipe:
    return request.param  # type: ignore[no-any-return]


Shell = Callable[[str, dict[str, str]], subprocess.CompletedProcess[str]]


@pytest.fixture
def job(
    recipe: Recipe,
    redis_url: str,
    shop_db_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, str], Shell]:
    """The job's environment for this machine, and a shell that runs a command in it as the
    CI runner would (bash, -e and pipefail; the job's directory as working directory)."""
    shutil.copyfile(shop_db_template, tmp_path / "shop.sqlite3")
    (tmp_path / "endpoints.txt").write_text(ENDPOINTS)
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({name: str(value) for name, value in recipe.variables.items()})
    env.update(
        {
            # The service, with timeouts a busy test machine keeps to (the library's own
            # default suits a request path, not a shared CI box).
            "CACHECTL_URL": f"{redis_url}?socket_timeout=2&socket_connect_timeout=2",
            "ENDPOINTS": "endpoints.txt",
            "DEMO_DB_PATH": str(tmp_path / "shop.sqlite3"),
            "CACHECTL_ADMIN_TOKEN": "recipe-test-token",
            "MIN_HIT_RATIO": "0.5",
            "MAX_P95_MS": "60000",
            "MAX_P99_MS": "60000",
            "MIN_STATS_HIT_RATIO": "0.2",
        }
    )

    def shell(command: str, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", command],
            env={**env, **extra},
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return env, shell


def test_recipes_define_what_the_test_sets(recipe: Recipe) -> None:
    assert set(VARIABLES) <= set(recipe.variables), recipe.name
    assert recipe.variables["APP"] == "cachectl.demo.app:create_app"
    assert recipe.variables["CACHECTL_NAMESPACE"] == "shop"  # the reference app's
    # A fresh runner installs what the commands need: the tool and the app's web stack.
    assert recipe.installs == ['pip install "cachectl-redis[fastapi]"']
    words = " ".join(recipe.commands)
    for option in ("--min-hit-ratio", "--max-p95", "--junit", "--max-p99", "stats"):
        assert option in words, (recipe.name, option)
    assert recipe.junit == ["reports/warm.xml"] and "--junit reports/warm.xml" in words


def test_recipe_commands_run_and_publish_junit(
    recipe: Recipe, job: tuple[dict[str, str], Shell], tmp_path: Path
) -> None:
    _env, shell = job
    assert len(recipe.commands) == 3  # warm, latency, stats: each a step of the job
    for command in recipe.commands:
        done = shell(command, {})
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr
    report = ET.parse(tmp_path / "reports" / "warm.xml").getroot()
    suite = report if report.tag == "testsuite" else report.find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", "0")) >= 10  # an entry per endpoint, and the gates
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


def test_recipe_gates_fail_the_job(
    recipe: Recipe, job: tuple[dict[str, str], Shell], tmp_path: Path
) -> None:
    """A missed gate fails its step (exit 1) with the reason on stderr, and the JUnit report
    still says which gate failed: a red job, not a silent one."""
    _env, shell = job
    warm, latency, stats = recipe.commands
    done = shell(warm, {"MAX_P95_MS": "0.001"})
    assert done.returncode == 1, done.stderr[-2000:]
    assert "p95" in done.stderr and "exceeds the limit" in done.stderr
    assert "exceeds the limit" in (tmp_path / "reports" / "warm.xml").read_text()
    done = shell(latency, {"MAX_P99_MS": "0.000001"})
    assert done.returncode == 1 and "p99" in done.stderr, done.stderr[-2000:]
    done = shell(stats, {"MIN_STATS_HIT_RATIO": "1"})
    assert done.returncode == 1 and "hit ratio below" in done.stderr, done.stderr[-2000:]
