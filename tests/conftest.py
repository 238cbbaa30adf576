"""Shared fixtures. Sectioned by topic; add new fixtures under the section they belong to."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.servers import RedisCluster, RedisServer

# CI runs the examples a fixed seed gives, so a red build is one anyone can run again; a local
# run keeps exploring new ones.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# ---------------------------------------------------------------------------------------------
# Real Redis: one shared server, and dedicated servers for tests that break theirs
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server shared by the whole session; use ``redis_url`` for a clean database."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the shared server, FLUSHALL-ed before the test."""
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A fresh redis-server of the test's own, free to stop, pause or restart; stopped after."""
    with RedisServer() as server:
        yield server


#: An ACL user that may do everything but run scripts (as on some managed services).
NO_SCRIPT_USER = "noscript"
NO_SCRIPT_ACL = ("on", ">pw", "~*", "+@all", "-@scripting")


def no_script(url: str) -> str:
    """url as NO_SCRIPT_USER (the user must exist on the server: see no_script_url)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{NO_SCRIPT_USER}:pw@{rest}"


@pytest.fixture
def no_script_url(redis_server: RedisServer, redis_url: str) -> Iterator[str]:
    """The shared server (flushed) as a user that may not run scripts."""
    with redis_server.client() as admin:
        admin.execute_command("ACL", "SETUSER", NO_SCRIPT_USER, *NO_SCRIPT_ACL)
    try:
        yield no_script(redis_url)
    finally:
        with redis_server.client() as admin:
            admin.execute_command("ACL", "DELUSER", NO_SCRIPT_USER)


# ---------------------------------------------------------------------------------------------
# Real Redis Cluster: three primaries, no replicas
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """The three-primary cluster shared by the whole session; use ``cluster_url`` in tests."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def cluster_url(redis_cluster: RedisCluster) -> str:
    """``redis+cluster://`` URL of the first node, every node FLUSHALL-ed before the test."""
    redis_cluster.flush()
    return f"redis+cluster://127.0.0.1:{redis_cluster.ports[0]}/0"


@pytest.fixture
def no_script_cluster_url(redis_cluster: RedisCluster, cluster_url: str) -> Iterator[str]:
    """The cluster (flushed) as a user that may not run scripts: ACLs are per node."""
    for node in redis_cluster.nodes:
        with node.client() as admin:
            admin.execute_command("ACL", "SETUSER", NO_SCRIPT_USER, *NO_SCRIPT_ACL)
    try:
        yield no_script(cluster_url)
    finally:
        for node in redis_cluster.nodes:
            with node.client() as admin:
                admin.execute_command("ACL", "DELUSER", NO_SCRIPT_USER)


# ---------------------------------------------------------------------------------------------
# -- core fixtures --
# The cache conformance suite: one fixture parametrized over the embedded store and a real
# redis-server (tests that care add "cluster" with indirect parametrization of backend_url).
# ---------------------------------------------------------------------------------------------

import hashlib  # noqa: E402  (kept inside this section, which the core tests own)
import signal  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402

from cachectl import AsyncCache, Cache  # noqa: E402

BACKENDS = ["memory", "redis"]
#: Timeouts for conformance tests: generous, because a slow reply on a busy machine must not
#: send a test that is not about the breaker to the fallback store.
PATIENT = {"socket_timeout": 2.0, "connect_timeout": 2.0, "pool_timeout": 2.0}


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> str:
    """A cache URL: memory://, our shared redis-server (flushed) or the cluster (flushed)."""
    kind = request.param
    if kind == "memory":
        return "memory://"
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    if kind == "cluster":
        return str(request.getfixturevalue("cluster_url"))
    raise ValueError(f"unknown backend {kind!r}")


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of this test's own, so that no two tests ever share keys."""
    digest = hashlib.blake2b(request.node.nodeid.encode(), digest_size=6).hexdigest()
    return f"t-{digest}"


@pytest.fixture
def cache(backend_url: str, namespace: str) -> Iterator[Cache]:
    """A Cache on each backend, closed after the test."""
    with Cache(backend_url, namespace=namespace, **PATIENT) as made:
        yield made


@pytest.fixture
async def acache(backend_url: str, namespace: str) -> AsyncIterator[AsyncCache]:
    """An AsyncCache on each backend, closed after the test."""
    async with AsyncCache(backend_url, namespace=namespace, **PATIENT) as made:
        yield made


@pytest.fixture
def default_reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Isolate cachectl's process-wide default cache; close whatever the test made of it."""
    from cachectl import default

    monkeypatch.delenv("CACHECTL_URL", raising=False)
    for name in ("_config", "_store", "_sync", "_async"):
        monkeypatch.setattr(default, name, None)
    yield
    if default._sync is not None:
        default._sync.close()


#: Far above what any core test needs; only there so that a deadlock fails instead of hanging.
WATCHDOG_SECONDS = 30


@pytest.fixture
def watchdog() -> Iterator[None]:
    """Fail a test that hangs (a deadlock) instead of blocking the whole run (main thread)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"test still running after {WATCHDOG_SECONDS} s: a deadlock?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------------------------
# -- CLI fixtures --
# The command-line tool, in process (Typer's CliRunner) and as the installed console script
# ---------------------------------------------------------------------------------------------

import json  # noqa: E402  (kept inside this section, which the CLI tests own)
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import redis  # noqa: E402

from cachectl.cache import Cache as CliCache  # noqa: E402

CLI_ENV_VARS = (
    "CACHECTL_URL",
    "REDIS_URL",
    "CACHECTL_NAMESPACE",
    "CACHECTL_PASSWORD",
    "CACHECTL_PASSWORD_FILE",
    "CACHECTL_TIMEOUT",
)
CLI_NAMESPACE = "clitest"


@pytest.fixture
def cli_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No cachectl settings from the environment or a settings file; returns the work dir."""
    for name in CLI_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclass
class CliResult:
    """What a run of the tool printed, and its exit status."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as the one JSON document it must be."""
        return json.loads(self.stdout)


@pytest.fixture
def cli(cli_isolated: Path, redis_url: str) -> Callable[..., CliResult]:
    """Run `cachectl --url <test server> --namespace clitest ARGS` in process."""
    from typer.testing import CliRunner

    from cachectl.cli.app import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, url: str | None = None) -> CliResult:
        base = ["--url", url or redis_url, "--namespace", CLI_NAMESPACE]
        result = runner.invoke(app, [*base, *args], input=input, prog_name="cachectl")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def cachectl_script() -> str:
    """The installed console script (next to this interpreter)."""
    script = Path(sys.executable).with_name("cachectl")
    if not script.exists():
        pytest.skip("the cachectl console script is not installed (pip install -e .)")
    return str(script)


@pytest.fixture
def run_script(cli_isolated: Path, cachectl_script: str) -> Callable[..., CliResult]:
    """Run the real console script in a subprocess, stdin not a terminal."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> CliResult:
        full_env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
        full_env.update(env or {})
        done = subprocess.run(
            [cachectl_script, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            cwd=cli_isolated,
            env=full_env,
            timeout=timeout,
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def cli_cache(redis_url: str) -> Iterator[CliCache]:
    """A cachectl.Cache on the test server, in the CLI tests' namespace, stats on."""
    with CliCache(redis_url, namespace=CLI_NAMESPACE, stats_interval=0.01) as instance:
        yield instance


@pytest.fixture
def raw_redis(redis_server: RedisServer, redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client to the (flushed) test server, to plant foreign values."""
    with redis_server.client() as client:
        yield client


@pytest.fixture
def password_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own that requires a password ('s3cret-pw')."""
    with RedisServer(["--requirepass", "s3cret-pw"]) as server:
        yield server


# ---------------------------------------------------------------------------------------------
# -- warm/demo fixtures --
# Real HTTP: any ASGI app under uvicorn on a free port, and the reference shop served that way
# over the test redis-server, on a small database generated once per session
# ---------------------------------------------------------------------------------------------


import shutil  # noqa: E402

from cachectl.demo.environment import serve_asgi as _serve_asgi  # noqa: E402

SHOP_USERS, SHOP_PRODUCTS, SHOP_ORDERS = 300, 200, 3_000
SHOP_NAMESPACE = "shop"
SHOP_ADMIN_TOKEN = "http-admin-token"
#: The shop's cache gets patient timeouts: a slow reply on a busy machine must not send a test
#: about invalidation to the in-memory fallback.
SHOP_CACHE_OPTIONS = {"socket_timeout": 2.0, "connect_timeout": 2.0, "pool_timeout": 2.0}


#: Serves an ASGI app with uvicorn on a free port in a thread (the demo's own helper).
serve_asgi = _serve_asgi


@dataclass
class LiveShop:
    """The reference application served over HTTP, and a plain client to its Redis."""

    base_url: str
    db_path: Path
    redis: redis.Redis
    namespace: str = SHOP_NAMESPACE
    admin_token: str = SHOP_ADMIN_TOKEN

    def keys(self) -> set[str]:
        """The application keys (namespace stripped) of every entry in Redis right now."""
        prefix = f"{self.namespace}:"
        return {key.decode()[len(prefix) :] for key in self.redis.scan_iter(match=f"{prefix}*")}


@pytest.fixture(scope="session")
def shop_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small shop database, generated once per session; copy it before writing to it."""
    from cachectl.demo.db import ensure_database

    path = tmp_path_factory.mktemp("http-shop") / "shop.sqlite3"
    return ensure_database(path, users=SHOP_USERS, products=SHOP_PRODUCTS, orders=SHOP_ORDERS)


@pytest.fixture
def live_shop(
    shop_db_template: Path, redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> Iterator[LiveShop]:
    """The reference shop under uvicorn on a free port, on a private copy of the database and
    the (flushed) test redis-server, namespace 'shop'; stopped after the test."""
    from cachectl.demo.app import create_app

    db_path = Path(shutil.copyfile(shop_db_template, tmp_path / "live-shop.sqlite3"))
    app = create_app(
        cache_url=redis_url,
        namespace=SHOP_NAMESPACE,
        db_path=db_path,
        admin_token=SHOP_ADMIN_TOKEN,
        cache_options=SHOP_CACHE_OPTIONS,
    )
    with serve_asgi(app) as base_url, redis_server.client() as client:
        yield LiveShop(base_url, db_path, client)
