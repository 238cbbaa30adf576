"""Settings checked when they are given: URLs, options, and redaction of any password."""

from __future__ import annotations

import asyncio
import math
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cachectl import AsyncCache, BackendUnavailable, Cache, CacheConfig, ConfigError, redact_url
from cachectl.ops.connect import describe
from cachectl.testing import PATIENT
from cachectl.url import OPTIONS, SENTINEL_OPTIONS, parse_url
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.usefixtures("watchdog")

#: URLs that redis-py would misread, or refuse only on the first command.
BAD_URLS = {
    "port out of range": "redis://host:99999/0",
    "port zero": "redis://host:0/0",
    "port empty": "redis://host:/0",
    "port not a number": "redis://host:http/0",
    "unclosed IPv6": "redis://[::1/0",
    "IPv6 without brackets": "redis://::1:6379/0",
    "not an IPv6 address": "redis://[nothost]:6379/0",
    "no host": "redis://:6379/0",
    "host with a space": "redis://my host:6379/0",
    "control character": "redis://host\x1b[31m:6379/0",
    "db not a number": "redis://host:6379/zero",
    "two path parts": "redis://host:6379/0/1",
    "two databases": "redis://host:6379/1?db=2",
    "fragment": "redis://host:6379/0#frag",
    "timeout not a number": "redis://localhost:6379/0?socket_timeout=abc",
    "timeout infinite": "redis://localhost:6379/0?socket_timeout=inf",
    "timeout nan": "redis://localhost:6379/0?socket_timeout=nan",
    "timeout zero": "redis://localhost:6379/0?socket_connect_timeout=0",
    "timeout negative": "redis://localhost:6379/0?socket_timeout=-1",
    "empty option": "redis://localhost:6379/0?socket_timeout=",
    "option without value": "redis://localhost:6379/0?socket_keepalive",
    "not a flag": "redis://localhost:6379/0?socket_keepalive=maybe",
    "fractional interval": "redis://localhost:6379/0?health_check_interval=1.5",
    "zero interval": "redis://localhost:6379/0?health_check_interval=0",
    "bad protocol": "redis://localhost:6379/0?protocol=4",
    "bad pool size": "redis://localhost:6379/0?max_connections=0",
    "bad codec": "redis://localhost:6379/0?encoding=klingon",
    "client name with a space": "redis://localhost:6379/0?client_name=my%20app",
    "unknown option": "redis://localhost:6379/0?sockettimeout=1",
    "option twice": "redis://localhost:6379/0?socket_timeout=1&socket_timeout=2",
    "decode_responses": "redis://localhost:6379/0?decode_responses=true",
    "retry_on_error": "redis://localhost:6379/0?retry_on_error=x",
    "ssl option without TLS": "redis://localhost:6379/0?ssl_cert_reqs=none",
    "bad ssl_cert_reqs": "rediss://localhost:6379/0?ssl_cert_reqs=sometimes",
    "bad verify flag": "rediss://localhost:6379/0?ssl_include_verify_flags=VERIFY_NOTHING",
    "bad TLS version": "rediss://localhost:6379/0?ssl_min_version=5",
    "raw '@' in a query value": "redis://localhost:6379/0?client_name=a@b",
    "unix without a path": "unix://",
    "unix with a host": "unix://host/run/redis.sock",
    "cluster database": "redis+cluster://localhost:7000/2",
    "cluster db option": "redis+cluster://localhost:7000/0?db=1",
    "memory with a path": "memory://somewhere",
    "upper-case scheme": "REDIS://localhost:6379/0",
    "no scheme": "localhost:6379",
    "empty": "",
}


@pytest.mark.parametrize("url", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_bad_url_is_refused_when_the_cache_is_made(url: str) -> None:
    if url == "":
        pytest.skip("an empty URL means the embedded store in the library (not on the CLI)")
    with pytest.raises(ConfigError) as caught:
        Cache.from_url(url, namespace="bad")
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message
    with pytest.raises(ConfigError):
        AsyncCache.from_url(url, namespace="bad")


def test_a_bad_url_message_says_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match=r"the port 99999 is not between 1 and 65535"):
        CacheConfig("redis://host:99999/0")
    with pytest.raises(ConfigError, match=r"without its closing '\]'"):
        CacheConfig("redis://[::1/0")
    with pytest.raises(ConfigError, match=r"socket_timeout must be a positive, finite number"):
        CacheConfig("redis://h:1/0?socket_timeout=abc")
    with pytest.raises(ConfigError, match=r"unknown option 'sockettimeout' \(known: .*socket_"):
        CacheConfig("redis://h:1/0?sockettimeout=1")
    with pytest.raises(ConfigError, match=r"control character"):
        CacheConfig("redis://h\x1b[31m:1/0")


GOOD_URLS: list[tuple[str, tuple[str, int, int]]] = [
    ("redis://localhost:6379/0", ("localhost", 6379, 0)),
    ("redis://localhost", ("localhost", 6379, 0)),
    ("redis://cache.example.com:6380/15", ("cache.example.com", 6380, 15)),
    ("redis://redis_1/", ("redis_1", 6379, 0)),
    ("redis://[::1]:7000/2", ("::1", 7000, 2)),
    ("redis://10.0.0.1:6379?db=3", ("10.0.0.1", 6379, 3)),
    ("redis://user:p%40ss@h:1/0?socket_timeout=0.5&socket_keepalive=yes", ("h", 1, 0)),
    ("rediss://h:6380/0?ssl_cert_reqs=none&ssl_check_hostname=false", ("h", 6380, 0)),
    (
        "rediss://h/0?ssl_include_verify_flags=VERIFY_X509_STRICT,VERIFY_X509_PARTIAL_CHAIN",
        ("h", 6379, 0),
    ),
    ("redis+cluster://node:7000/0", ("node", 7000, 0)),
    ("redis://h:1/0?protocol=3&health_check_interval=30&client_name=app-1", ("h", 1, 0)),
]


@pytest.mark.parametrize(("url", "expected"), GOOD_URLS)
def test_a_good_url_is_read_as_redis_py_reads_it(url: str, expected: tuple[str, int, int]) -> None:
    parsed = parse_url(url)
    assert parsed is not None
    assert (parsed.host, parsed.port, parsed.db) == expected


def test_unix_socket_urls() -> None:
    parsed = parse_url("unix:///run/redis-server@main/redis.sock?db=2")
    assert parsed is not None and (parsed.path, parsed.db) == (
        "/run/redis-server@main/redis.sock",
        2,
    )
    assert redact_url("unix:///run/redis-server@main/redis.sock") == (
        "unix:///run/redis-server@main/redis.sock"
    )
    assert redact_url("unix://:pw@/tmp/r.sock") == "unix://:***@/tmp/r.sock"


def test_a_plain_url_to_a_cluster_node_keeps_database_0() -> None:
    # What `connect` does when it finds that a plain URL points at a cluster node.
    with pytest.raises(ConfigError, match=r"a Redis Cluster cannot use database 3"):
        CacheConfig("redis://node:7000/3").replace(cluster=True)
    with pytest.raises(ConfigError, match=r"a Redis Cluster cannot use a unix socket"):
        CacheConfig("unix:///tmp/r.sock", cluster=True)


def test_every_option_redis_py_reads_is_checked() -> None:
    from redis.connection import URL_QUERY_ARGUMENT_PARSERS

    from cachectl.url import REFUSED

    assert set(URL_QUERY_ARGUMENT_PARSERS) <= set(OPTIONS) | set(REFUSED)


#: A value that works for each option (the ssl_ ones on rediss://).
OPTION_SAMPLES = {
    "db": "3",
    "socket_timeout": "0.2",
    "socket_connect_timeout": "0.2",
    "socket_read_size": "1",
    "socket_keepalive": "no",
    "retry_on_timeout": "yes",
    "max_connections": "2",
    "health_check_interval": "1",
    "protocol": "3",
    "legacy_responses": "false",
    "username": "default",
    "client_name": "app-1",
    "encoding": "latin-1",
    "encoding_errors": "replace",
}


QUIET: dict[str, Any] = {**PATIENT, "stats": False}


def test_every_accepted_option_works_on_a_real_server() -> None:
    # Accepted when given means no ValueError or TypeError on the first command either.
    with RedisServer() as server:
        for name, value in OPTION_SAMPLES.items():
            url = f"redis://127.0.0.1:{server.port}?{name}={quote(value)}"
            with Cache(url, namespace="options", **QUIET) as cache:
                cache.ping()
                cache.set("k", name)
                assert cache.get("k") == name, url

            async def roundtrip(url: str = url, name: str = name) -> None:
                async with AsyncCache(url, namespace="options", **QUIET) as cache:
                    await cache.ping()
                    await cache.set("k", name)
                    assert await cache.get("k") == name, url

            asyncio.run(roundtrip())
    # (The Sentinel options are tried on real Sentinels in test_sentinel.py.)
    tried = set(OPTION_SAMPLES) | {n for n in OPTIONS if n.startswith("ssl_")} | {"password"}
    assert tried | set(SENTINEL_OPTIONS) == set(OPTIONS)


# -- every numeric setting ----------------------------------------------------------------------

BAD_OPTIONS: list[tuple[str, Any]] = [
    ("socket_timeout", math.inf),
    ("socket_timeout", math.nan),
    ("socket_timeout", -1),
    ("socket_timeout", 0),
    ("socket_timeout", True),
    ("socket_timeout", "1"),
    ("connect_timeout", math.inf),
    ("pool_timeout", False),
    ("recovery_interval", math.nan),
    ("stats_interval", 0.0),
    ("default_ttl", 0),
    ("default_ttl", math.inf),
    ("default_ttl", True),
    ("max_connections", True),
    ("max_connections", 1.5),
    ("max_connections", 0),
    ("max_connections", "8"),
    ("compress_threshold", -1),
    ("compress_threshold", 1024.0),
    ("max_value_size", 0),
    ("failure_threshold", False),
    ("fallback_max_entries", 0),
    ("fallback_max_bytes", math.inf),
    ("memory_max_entries", True),
    ("memory_max_bytes", -5),
    ("pending_max", 0),
    ("pending_max_bytes", 0),
    ("pending_max_bytes", 1.5),
    ("max_key_size", 0),
    ("max_key_size", True),
    ("close_timeout", 0),
    ("close_timeout", math.inf),
    ("close_timeout", math.nan),
    ("close_timeout", -1),
    ("close_timeout", 1e300),
    ("fallback_counters", "no"),
    ("fallback_counters", 0),
    ("stats", "yes"),
    ("cluster", 1),
    ("password", ""),
    ("password", 1234),
    ("compression", "gzip"),
]


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS)
def test_a_bad_setting_is_a_config_error(name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=name):
        Cache.from_url(None, namespace="bad", **{name: value})


def test_whole_seconds_are_stored_as_floats() -> None:
    config = CacheConfig(socket_timeout=2, default_ttl=60)
    assert config.socket_timeout == 2.0 and isinstance(config.socket_timeout, float)
    assert config.default_ttl == 60.0


def test_a_namespace_that_is_not_text_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="namespace must be a string"):
        CacheConfig(namespace=5)  # type: ignore[arg-type]


# -- redaction, for any password ------------------------------------------------------------------

MARKS = ("Kx7Qm", "Jv3Wn", "Hb5Rp")


def secret_around(a: str, b: str) -> str:
    """A password that starts, continues and ends with a mark, with arbitrary text between."""
    return f"{MARKS[0]}{a}{MARKS[1]}{b}{MARKS[2]}"


def assert_hidden(text: str, password: str) -> None:
    assert password not in text
    for mark in MARKS:
        assert mark not in text, text


def url_shapes(password: str, port: int) -> list[str]:
    # redis://word@host: a lone word is taken for the password; with a ':' in it, the text
    # before the ':' is a user name by the URL's own syntax.
    alone = [f"redis://{password}@127.0.0.1:{port}/0"] if ":" not in password else []
    # Unencoded in a query, a raw '&' ends the password by the URL's syntax: what follows is
    # another parameter, shown as such.
    in_query = password if "&" not in password else quote(password, safe="")
    return [
        *alone,
        f"redis://:{password}@127.0.0.1:{port}/0",
        f"redis://alice:{password}@127.0.0.1:{port}/0",
        f"rediss://bob:{password}@127.0.0.1:{port}/0?ssl_cert_reqs=none",
        f"redis+cluster://:{password}@127.0.0.1:{port}/0",
        f"redis+sentinel://:{password}@127.0.0.1:{port},127.0.0.1:1/mymaster/0",
        f"redis+sentinel://127.0.0.1:{port}/m?sentinel_password={quote(password, safe='')}",
        f"rediss+sentinel://u:{password}@127.0.0.1:{port}/m?sentinel_password={in_query}x",
        f"unix://:{password}@/tmp/redis.sock",
        f"redis://127.0.0.1:{port}/0?password={quote(password, safe='')}",
        f"redis://127.0.0.1:{port}/0?socket_timeout=1&password={quote(password, safe='')}&db=0",
        f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0",
        f"redis://127.0.0.1:{port}/0?password={in_query}",
    ]


NASTY = ["/", "?", "#", "@", ":", "/?#@:", "@@", "99999/", "12?client_name=x@", "%2F", "[::1", " "]


#: Arbitrary text, and text built from the pieces that confuse URL parsers.
PIECES = [*"/?#@:&=%[] a1\x00\x1bé", "password=", "&db=1", "@h:1/0", "client_name=x", "?db=2"]
PASSWORD_PARTS = st.one_of(st.text(), st.lists(st.sampled_from(PIECES), max_size=8).map("".join))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PASSWORD_PARTS, PASSWORD_PARTS)
@example("/", "?")
@example("#", "@")
@example(":", "/?#@")
@example("?db=1&client_name=x", "@h:1/0#")
@example("&client_name=", "")
def test_a_password_is_never_shown(a: str, b: str) -> None:
    password = secret_around(a, b)
    port = 6390
    for url in url_shapes(password, port):
        assert_hidden(redact_url(url), password)
        try:
            config = CacheConfig(url, namespace="secret", stats=False)
        except ConfigError as exc:
            assert_hidden(str(exc), password)
            continue
        assert_hidden(repr(config), password)
        assert_hidden(str(config), password)
        assert_hidden(config.display_url, password)
        assert_hidden(str(describe(OSError("refused"), config)), password)
        assert_hidden(str(describe(TimeoutError("slow"), config)), password)
        if not config.cluster:  # a cluster client connects when made
            with Cache(url, namespace="secret", stats=False) as cache:
                assert_hidden(repr(cache), password)


@pytest.mark.parametrize("middle", NASTY)
def test_a_password_is_never_in_a_cache_repr(middle: str) -> None:
    password = secret_around(middle, middle)
    for url in url_shapes(password, free_port()):
        if url.startswith("redis+cluster"):
            continue  # a cluster client connects when made; its config is checked above
        try:
            cache = Cache(url, namespace="secret", stats=False)
        except ConfigError as exc:
            assert_hidden(str(exc), password)
            continue
        with cache:
            assert_hidden(repr(cache), password)
            assert "***" in repr(cache)
            with pytest.raises(BackendUnavailable) as caught:
                cache.ping()  # nothing listens on the port
            assert_hidden(str(caught.value), password)
