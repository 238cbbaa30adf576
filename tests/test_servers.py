"""The real-Redis test fixtures themselves: servers start, hang, restart, cluster, clean up."""

from __future__ import annotations

import os
import time
from typing import Any, cast

import pytest
import redis
from redis.cluster import RedisCluster as ClusterClient

from tests.servers import CLUSTER_SLOTS, RedisCluster, RedisServer, RedisServerError


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_shared_server_answers_ping(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping() is True


def test_redis_url_flushes_before_the_test(
    redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    with redis_server.client() as client:
        client.set("left-over", b"x")
        url = request.getfixturevalue("redis_url")
        assert url == redis_server.url
        assert client.dbsize() == 0


def test_pause_times_out_and_resume_restores(own_redis: RedisServer) -> None:
    with own_redis.client(socket_timeout=0.1, retry=None) as client:
        assert client.ping() is True
        own_redis.pause()
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.ping()
        assert time.monotonic() - started < 2
        own_redis.resume()
        assert client.ping() is True


def test_restart_keeps_the_port(own_redis: RedisServer) -> None:
    port, pid = own_redis.port, own_redis.pid
    with own_redis.client() as client:
        client.set("k", b"v")
    own_redis.restart()
    assert (own_redis.port, own_redis.url) == (port, f"redis://127.0.0.1:{port}/0")
    assert own_redis.pid != pid
    assert _pid_gone(pid)
    with own_redis.client() as client:
        # Persistence is off, so a restart is also a flush.
        assert client.get("k") is None


def test_stop_leaves_no_process_behind_even_when_paused() -> None:
    server = RedisServer().start()
    pid, workdir = server.pid, server.log_path.parent
    server.pause()
    server.stop()
    server.stop()
    assert _pid_gone(pid)
    assert not server.running
    assert not workdir.exists()


def test_requirepass_and_unix_socket() -> None:
    with RedisServer(["--requirepass", "s3cret"], unix_socket=True) as server:
        assert server.unix_path is not None
        with server.client() as client:
            assert client.ping() is True
        with redis.Redis(unix_socket_path=server.unix_path, password="s3cret") as client:
            assert client.ping() is True
        with redis.Redis(port=server.port) as client, pytest.raises(redis.AuthenticationError):
            client.ping()


def test_start_failure_reports_the_log_tail() -> None:
    server = RedisServer(["--no-such-directive", "yes"])
    with pytest.raises(RedisServerError, match=r"(?s)exited with status.*no-such-directive"):
        server.start()
    assert not server.running


def test_cluster_covers_all_slots(redis_cluster: RedisCluster, cluster_url: str) -> None:
    assert cluster_url == f"redis+cluster://127.0.0.1:{redis_cluster.ports[0]}/0"
    assert redis_cluster.url == redis_cluster.urls[0]
    assert len(set(redis_cluster.ports)) == 3
    for url in redis_cluster.urls:
        with redis.Redis.from_url(url, decode_responses=True) as node:
            info = node.execute_command("CLUSTER INFO")
            assert (info["cluster_state"], info["cluster_slots_ok"]) == ("ok", str(CLUSTER_SLOTS))
    with redis_cluster.client() as client:
        assert isinstance(client, ClusterClient)
        # redis-py annotates a list, but the cluster client returns {(start, end): {...}}.
        slots = cast("dict[tuple[int, int], dict[str, Any]]", client.cluster_slots())
        assert sum(end - start + 1 for start, end in slots) == CLUSTER_SLOTS
        assert {node["primary"][1] for node in slots.values()} == set(redis_cluster.ports)
        client.set("greeting", b"hello")
        assert client.get("greeting") == b"hello"


def test_cluster_spreads_keys_and_flush_empties_every_node(
    redis_cluster: RedisCluster, cluster_url: str
) -> None:
    with redis_cluster.client() as client:
        for i in range(30):
            client.set(f"key:{i}", b"1")
    sizes = []
    for url in redis_cluster.urls:
        with redis.Redis.from_url(url) as node:
            sizes.append(node.dbsize())
    assert sum(sizes) == 30
    assert all(sizes), sizes
    redis_cluster.flush()
    for url in redis_cluster.urls:
        with redis.Redis.from_url(url) as node:
            assert node.dbsize() == 0
