"""Real servers: one redis-server shared by the session, servers of a test's own, a user that
may not run scripts, and the three-primary Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import RedisCluster, RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server shared by the whole session; use ``redis_url`` for a clean database."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def resumed(own_redis: RedisServer) -> Iterator[RedisServer]:
    """own_redis, resumed after the test even if it fails while the server is paused."""
    yield own_redis
    if own_redis.running:
        own_redis.resume()


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


@pytest.fixture
def password_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own that requires a password ('s3cret-pw')."""
    with RedisServer(["--requirepass", "s3cret-pw"]) as server:
        yield server


# -- Redis Cluster: three primaries, no replicas ----------------------------------------------


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
