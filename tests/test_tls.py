"""TLS and mutual TLS against real servers: a node and a three-primary cluster that speak only TLS
and require a client certificate, with certificates the fixtures make (tests/servers.py).

From the library (both faces), the console script and the admin router; and each way a TLS
connection goes wrong (a wrong CA, a certificate for another host, no client certificate, a
TLS client on a plain port) is one line that names the cause and the setting to fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cachectl import AsyncCache, BackendUnavailable, Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult
from tests.servers import Certificates, RedisCluster, RedisServer, TlsRedisServer

Run = Callable[..., CliResult]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_node(certs: Certificates) -> Iterator[TlsRedisServer]:
    """A node that speaks only TLS and requires a client certificate (mutual TLS)."""
    with TlsRedisServer(certs) as server:
        yield server


@pytest.fixture(scope="module")
def tls_cluster(certs: Certificates) -> Iterator[RedisCluster]:
    """Three primaries with TLS between clients and nodes and on the cluster bus."""
    with RedisCluster(tls=certs) as cluster:
        yield cluster


@pytest.fixture(params=["node", "cluster"])
def tls_url(request: pytest.FixtureRequest, certs: Certificates) -> str:
    """rediss:// to the node, or rediss+cluster:// to the cluster, flushed, with mutual TLS."""
    if request.param == "node":
        node: TlsRedisServer = request.getfixturevalue("tls_node")
        with node.client() as client:
            client.flushall()
        return node.url
    cluster: RedisCluster = request.getfixturevalue("tls_cluster")
    cluster.flush()
    return f"rediss+cluster://127.0.0.1:{cluster.ports[0]}/0?{certs.query()}"


def test_the_sync_face_over_tls(tls_url: str) -> None:
    with Cache(tls_url, namespace="tls", **PATIENT) as cache:
        cache.set_many({f"user:{i}": {"n": i} for i in range(30)}, tags=["t"])
        assert cache.get("user:7") == {"n": 7}
        assert cache.invalidate_tag("t") == 30
        assert cache.get("user:7") is None
        assert cache.breaker_state == "closed"


def test_the_async_face_over_tls(tls_url: str) -> None:
    async def main() -> None:
        async with AsyncCache(tls_url, namespace="tls", **PATIENT) as cache:
            await cache.set("k", [1, 2])
            assert await cache.get("k") == [1, 2]
            assert await cache.invalidate_prefix("k") == 1
            assert cache.breaker_state == "closed"

    asyncio.run(main())


def test_the_command_line_over_tls(tls_url: str, run_script: Run) -> None:
    with Cache(tls_url, namespace="tls", **PATIENT) as cache:
        cache.set_many({f"user:{i}": i for i in range(12)})
    base = ("--url", tls_url, "--namespace", "tls")
    stats = run_script(*base, "stats", "--json")
    assert stats.exit_code == 0, stats.stderr
    prefixes = {row["prefix"]: row["keys"] for row in stats.json()["prefixes"]}
    assert prefixes["user"] == 12
    keys = run_script(*base, "keys", "--json")
    assert keys.exit_code == 0, keys.stderr
    assert len(keys.json()["keys"]) == 12
    inspect = run_script(*base, "inspect", "user:3", "--json")
    assert inspect.exit_code == 0, inspect.stderr
    flushed = run_script(*base, "flush", "--prefix", "user", "--yes", "--json")
    assert flushed.exit_code == 0, flushed.stderr
    assert flushed.json()["removed"] == 12


def test_the_page_over_tls(tls_url: str) -> None:
    async def main() -> dict[str, Any]:
        with Cache(tls_url, namespace="tls", **PATIENT) as cache:
            cache.set("user:1", 1)
            app = FastAPI()
            app.include_router(admin_router(cache, token="t0ken"), prefix="/_cache")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://a.test") as client:
                headers = {"Authorization": "Bearer t0ken"}
                reply = await client.get("/_cache/api/overview", headers=headers)
                assert reply.status_code == 200, reply.text
                data: dict[str, Any] = reply.json()
                return data

    overview = asyncio.run(main())
    assert overview["server"]["version"][0].isdigit()
    assert {row["prefix"]: row["keys"] for row in overview["prefixes"]}["user"] == 1


# -- what goes wrong, said once --------------------------------------------------------------------


@pytest.fixture(scope="module")
def elsewhere_node(certs: Certificates) -> Iterator[TlsRedisServer]:
    """A TLS node whose certificate names another host only."""
    with TlsRedisServer(certs, server="elsewhere") as server:
        yield server


@pytest.fixture(scope="module")
def plain_node() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _bad_urls(request: pytest.FixtureRequest, certs: Certificates) -> dict[str, tuple[str, str]]:
    node: TlsRedisServer = request.getfixturevalue("tls_node")
    elsewhere: TlsRedisServer = request.getfixturevalue("elsewhere_node")
    plain: RedisServer = request.getfixturevalue("plain_node")
    at = f"rediss://localhost:{node.port}/0"
    return {
        "wrong CA": (
            f"{at}?{certs.query(ca='other-ca')}",
            "TLS: the server's certificate is not signed by a trusted CA",
        ),
        "wrong host": (
            f"rediss://localhost:{elsewhere.port}/0?{certs.query()}",
            "TLS: the server's certificate is not valid for the host 'localhost'",
        ),
        "no client certificate": (
            f"{at}?{certs.query(client_cert=False)}",
            "TLS: the server requires a client certificate (mutual TLS) and none was given: "
            "set ssl_certfile and ssl_keyfile",
        ),
        "client certificate refused": (
            f"{at}?{certs.query(client='stranger')}",
            "TLS: the server refused the client certificate in ssl_certfile",
        ),
        "not a TLS port": (
            f"rediss://localhost:{plain.port}/0?{certs.query()}",
            "or does not speak TLS on this port (then use redis://)",
        ),
    }


CASES = [
    "wrong CA",
    "wrong host",
    "no client certificate",
    "client certificate refused",
    "not a TLS port",
]


@pytest.mark.parametrize("case", CASES)
def test_a_tls_failure_is_one_line_naming_its_cause_on_the_command_line(
    case: str, request: pytest.FixtureRequest, certs: Certificates, run_script: Run
) -> None:
    url, message = _bad_urls(request, certs)[case]
    result = run_script("--url", url, "stats")
    assert result.exit_code == 3
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", CASES)
def test_a_tls_failure_names_its_cause_in_the_library(
    case: str,
    request: pytest.FixtureRequest,
    certs: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, message = _bad_urls(request, certs)[case]
    with Cache(url, namespace="tls", failure_threshold=1, **PATIENT) as cache:
        with pytest.raises(BackendUnavailable, match="TLS: ") as caught:
            cache.ping()
        assert message in str(caught.value)
        with caplog.at_level(logging.WARNING, logger="cachectl"):
            cache.set("k", 1)  # served by the fallback; the breaker's one warning says why
        assert cache.get("k") == 1
    assert any(message in r.getMessage() for r in caplog.records), caplog.text


def test_hostname_checking_can_be_turned_off(
    elsewhere_node: TlsRedisServer, certs: Certificates
) -> None:
    url = f"rediss://localhost:{elsewhere_node.port}/0?{certs.query()}&ssl_check_hostname=false"
    with Cache(url, namespace="tls", **PATIENT) as cache:
        cache.set("k", 1)
        assert cache.get("k") == 1
        assert cache.breaker_state == "closed"


def test_the_fixture_certificates_are_files(certs: Certificates) -> None:
    for stem in ("ca", "server", "elsewhere", "client", "other-ca", "stranger"):
        assert Path(certs.path(stem)).read_text().startswith("-----BEGIN CERTIFICATE-----")
