"""A connection for one operation: Redis, Redis Cluster or the embedded store, errors translated."""

from __future__ import annotations

import contextlib
import errno
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import redis
import redis.exceptions
import redis.retry
from redis.sentinel import MasterNotFoundError

from cachectl.config import CacheConfig
from cachectl.errors import (
    BackendUnavailable,
    CachectlError,
    CommandRefused,
    ConfigError,
    DecodeError,
)
from cachectl.keys import KeySpace
from cachectl.tls import explain

if TYPE_CHECKING:
    from cachectl.backends.memory import MemoryStore
    from cachectl.cache import AsyncCache, Cache

HINT = "check --url / CACHECTL_URL; is redis-server running?"
#: Over Sentinel, an operation that finds no primary (a failover under way) asks again with
#: these pauses: about 10 s in all, then fails. Sentinel's own defaults take 30 s and more to
#: declare a primary down; an operation does not wait for that.
FAILOVER_BACKOFF = (0.05, 0.5)
FAILOVER_RETRIES = 22
AUTH_HINT = "check the password in the URL, --password-file or CACHECTL_PASSWORD"


@dataclass(frozen=True, slots=True)
class Node:
    """One primary: its address as the cluster announces it (or the server's)."""

    name: str
    host: str
    port: int


class OpsBackend(Protocol):
    """What the operations need of a backend: RedisBackend, or ops.memory.MemoryOpsBackend."""

    @property
    def client(self) -> Any: ...
    def scan(self, glob: bytes, count: int = ...) -> Iterator[list[bytes]]: ...
    def count_matching(self, glob: bytes, count: int = ...) -> int: ...
    def delete(self, keys: Sequence[bytes]) -> int: ...
    def touch(self, key: bytes, ttl_ms: int | None) -> bool: ...
    def delete_matching(
        self, globs: Sequence[bytes], on_batch: Callable[[int], None] | None = ..., count: int = ...
    ) -> int: ...
    def invalidate_tags(
        self,
        tag_keys: Sequence[bytes],
        on_batch: Callable[[int], None] | None = ...,
        count: int = ...,
    ) -> int: ...
    def read_counters(self, key: bytes) -> dict[bytes, bytes]: ...
    def close(self) -> None: ...


@dataclass
class Connection:
    """An open backend, its key layout and whether it is a cluster."""

    config: CacheConfig
    backend: OpsBackend
    keys: KeySpace

    @property
    def memory(self) -> bool:
        """Whether this is the embedded in-process store."""
        return self.config.is_memory

    @property
    def kind(self) -> str:
        """'redis', 'cluster' or 'memory'."""
        return "memory" if self.memory else "cluster" if self.cluster else "redis"

    @property
    def client(self) -> Any:
        """The redis-py client (cluster aware)."""
        return self.backend.client

    @property
    def cluster(self) -> bool:
        """Whether the server is a Redis Cluster."""
        return self.config.cluster

    @property
    def sentinel_service(self) -> str:
        """The Sentinel service whose primary this is ('' when not over Sentinel)."""
        parsed = self.config.parsed_url if self.config.sentinel else None
        return parsed.service if parsed is not None else ""

    def primary_address(self) -> tuple[str, int] | None:
        """Over Sentinel, the primary the connections went to last (None before any did)."""
        address = self.client.connection_pool.master_address
        return None if address is None else (str(address[0]), int(address[1]))

    def memory_usage(self, pipe: Any, key: bytes) -> None:
        """Queue MEMORY USAGE of key on pipe; None in the reply where the server lacks it."""
        if self.has_memory_usage:
            pipe.memory_usage(key)
        else:
            pipe.echo(b"-")  # a placeholder, so replies stay aligned (not a size)

    @property
    def has_memory_usage(self) -> bool:
        """Whether MEMORY USAGE answers here (see memory_note)."""
        return not self.memory_note

    @functools.cached_property
    def memory_note(self) -> str:
        """Why MEMORY USAGE cannot be used here ('' when it can): the user's ACL refuses it, a
        managed service renamed it, or an embedded server (fakeredis) lacks it."""
        try:
            self.client.memory_usage(self.keys.stats_key)
        except redis.exceptions.ResponseError as exc:
            _forget_connections(self.client)
            return unanswered("MEMORY USAGE", exc)
        return ""

    def primaries(self) -> list[Node]:
        """Every primary: one for a plain server."""
        if self.memory:
            return [Node("memory", "memory", 0)]
        if self.config.sentinel:
            # Asked of Sentinel now: the primary may have moved since the last connection.
            host, port = self.client.connection_pool.get_master_address()
            return [Node(f"{host}:{port}", str(host), int(port))]
        if not self.cluster:
            kwargs = self.client.connection_pool.connection_kwargs
            host = kwargs.get("host") or kwargs.get("path") or "localhost"
            port = int(kwargs.get("port") or 0)
            return [Node(f"{host}:{port}" if port else str(host), str(host), port)]
        return [Node(n.name, n.host, int(n.port)) for n in self.client.get_primaries()]

    def close(self) -> None:
        """Release the connections."""
        self.backend.close()


def describe(exc: BaseException, config: CacheConfig) -> BackendUnavailable:
    """The one-line error a user sees for a failure talking to Redis."""
    url = config.display_url
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, redis.exceptions.AuthenticationError) or text.startswith(
        ("NOAUTH", "WRONGPASS")
    ):
        if (
            text.startswith("NOAUTH")
            or "must be called with the client already authenticated" in text
        ):
            return BackendUnavailable(
                f"authentication refused by {url}: it needs a password; {AUTH_HINT}"
            )
        return BackendUnavailable(f"authentication refused by {url} ({text}): {AUTH_HINT}")
    tls = explain(exc, config)
    if tls is not None:
        return BackendUnavailable(f"cannot reach {url}: {tls}")
    if isinstance(exc, redis.exceptions.TimeoutError | TimeoutError):
        return BackendUnavailable(
            f"{url} did not answer within {config.socket_timeout:g}s ({text}): "
            f"{HINT} (--timeout waits longer)"
        )
    if isinstance(exc, MasterNotFoundError):
        service = config.parsed_url.service if config.parsed_url is not None else "?"
        return BackendUnavailable(
            f"no Sentinel of {url} names a reachable primary for {service!r} (a failover "
            f"under way, or a wrong service name or Sentinel password): {text}"
        )
    if isinstance(exc, redis.exceptions.InvalidResponse):
        return BackendUnavailable(f"{url} does not speak the Redis protocol ({text}): {HINT}")
    return BackendUnavailable(f"cannot reach {url} ({text}): {HINT}")


#: Failures that mean the server cannot be used, as opposed to a bug in a command.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
    redis.exceptions.InvalidResponse,
    OSError,
)


def _output_failed(exc: BaseException) -> bool:
    """A failed write to our own output (a closed pipe, a full disk), not to the server:
    redis-py reports its socket errors as its own ConnectionError."""
    return isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.ENOSPC


@contextlib.contextmanager
def translate_errors(config: CacheConfig) -> Iterator[None]:
    """Turn redis-py's connection failures inside the block into BackendUnavailable."""
    try:
        yield
    except UNAVAILABLE as exc:
        if _output_failed(exc):
            raise
        raise describe(exc, config) from None
    except redis.exceptions.ResponseError as exc:
        if str(exc).startswith(("NOAUTH", "WRONGPASS")):
            raise describe(exc, config) from None
        refused = refusal(exc, config)
        if refused is not None:
            raise refused from None
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if text.startswith("WRONGTYPE"):
            # A key where cachectl keeps a tag set or the stats hash holds something else:
            # foreign or corrupt data (status 1, as a corrupt value), not a refused command.
            raise DecodeError(
                f"a key of namespace {config.namespace!r} on {config.display_url} is not of the "
                f"type cachectl keeps there ({text}): foreign or corrupt data"
            ) from None
        raise CachectlError(f"{config.display_url} answered with an error: {text}") from None


_NOPERM_COMMAND = re.compile(r"permissions to run the '([^']+)' command")
_UNKNOWN = re.compile(r"unknown (?:sub)?command '([^']*)'")


def is_refused(exc: BaseException) -> bool:
    """Whether exc is a server's refusal of a command: NOPERM, or a command it does not know
    (renamed or disabled, as on managed services)."""
    text = str(exc)
    return isinstance(exc, redis.exceptions.NoPermissionError) or bool(
        text.startswith("NOPERM") or _UNKNOWN.search(text)
    )


def unanswered(command: str, exc: BaseException) -> str:
    """Why the server answered command with the error exc, in a few words for a note."""
    text = str(exc).strip()
    if isinstance(exc, redis.exceptions.NoPermissionError) or text.startswith("NOPERM"):
        return f"{command} is refused to this user (NOPERM)"
    if _UNKNOWN.search(text):
        return f"the server does not know {command} (renamed, disabled or not implemented)"
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"the server answered {command} with an error ({first})"


def refusal(exc: BaseException, config: CacheConfig) -> CommandRefused | None:
    """The one-line CommandRefused for a refused command (None for another error reply)."""
    if not is_refused(exc):
        return None
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return refused_text(text, config.display_url)


def refused_text(text: str, url: str) -> CommandRefused:
    """The CommandRefused for an error reply's text (NOPERM..., or an unknown command)."""
    text = text.removeprefix("NOPERM").strip()
    unknown = _UNKNOWN.search(text)
    if unknown is not None:
        return CommandRefused(
            f"{url} does not know {unknown.group(1).upper()} ({text}): the server renamed or "
            "disabled it"
        )
    named = _NOPERM_COMMAND.search(text)
    what = named.group(1).replace("|", " ").upper() if named is not None else "access to a key"
    return CommandRefused(
        f"{url} refused this user {what} (NOPERM {text}): its ACL rules do not allow it "
        "(docs/acl.md gives each role's rules)"
    )


def _forget_connections(client: Any) -> None:
    """Drop pooled connections after an unknown command: fakeredis's server may close them."""
    if not isinstance(client, redis.RedisCluster):
        client.connection_pool.disconnect()


def _cluster_enabled(backend: Any, config: CacheConfig) -> bool:
    try:
        info = backend.client.info("cluster")
    except redis.exceptions.ResponseError as exc:
        if "not allowed in cluster mode" in str(exc):  # the SELECT of a database number
            raise ConfigError(
                f"{config.display_url} is a Redis Cluster node: a cluster has only database 0"
            ) from None
        if "DB index is out of range" in str(exc):  # the SELECT, past the `databases` setting
            parsed = config.parsed_url
            db = f" {parsed.db}" if parsed is not None else ""
            raise ConfigError(
                f"{config.display_url} has no database{db}: the server has as many as its "
                "`databases` setting (16 by default), numbered from 0"
            ) from None
        _forget_connections(backend.client)
        return False  # a server without INFO (an embedded one, such as fakeredis)
    return str(info.get("cluster_enabled", 0)) == "1"


def _failover_retryable(error: Exception) -> bool:
    """Whether a failure over Sentinel may pass with a failover: not a refused login or a TLS
    failure, which asking again would only repeat."""
    text = str(error)
    return not isinstance(error, redis.exceptions.AuthenticationError) and not any(
        word in text for word in ("SSL", "certificate", "WRONGPASS", "NOAUTH")
    )


class _FailoverRetry(redis.retry.Retry):
    """Retries only what a failover may fix (_failover_retryable). redis-py 8.2 also takes the
    predicate in Retry's constructor, 8.0 and 8.1 only per call: here it is each call's."""

    def call_with_retry(
        self,
        do: Callable[[], Any],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> Any:
        retryable = is_retryable or _failover_retryable
        return super().call_with_retry(do, fail, retryable, with_failure_count)


def _check_sentinels(backend: Any, config: CacheConfig) -> None:
    """Some Sentinel answers and monitors the service: a wrong service name or Sentinel password
    fails at once, not after the failover wait."""
    pool = backend.client.connection_pool
    service, url = pool.service_name, config.display_url
    known: set[str] = set()
    failures: list[str] = []
    for sentinel in pool.sentinel_manager.sentinels:
        try:
            masters = sentinel.sentinel_masters()
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if _UNKNOWN.search(text) and "sentinel" in text.lower():
                # A Redis server, not a Sentinel: no password would make it answer.
                where = sentinel.connection_pool.connection_kwargs
                node = f"{where.get('host')}:{where.get('port')}"
                raise ConfigError(
                    f"{node} in {url} is not a Sentinel ({text}): a redis+sentinel:// URL names "
                    "Sentinels (often on port 26379); for the server itself use redis://"
                ) from None
            if text.startswith("NOAUTH") or "already authenticated" in text:
                raise BackendUnavailable(
                    f"a Sentinel of {url} needs a password: set sentinel_password (and "
                    "sentinel_username) in the URL"
                ) from None
            raise BackendUnavailable(
                f"a Sentinel of {url} refused the login ({text}): check sentinel_password "
                "(and sentinel_username) in the URL"
            ) from None
        except UNAVAILABLE as exc:
            failures.append(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
            continue
        if service in masters:
            return
        known.update(str(name) for name in masters)
    if not known and failures:
        raise BackendUnavailable(f"no Sentinel of {url} answers ({failures[0]}): {HINT}")
    watched = ", ".join(repr(name) for name in sorted(known)[:10]) or "none"
    raise ConfigError(
        f"no Sentinel of {url} monitors the service {service!r} (they monitor: {watched})"
    )


def connect(config: CacheConfig, store: MemoryStore | None = None) -> Connection:
    """Connect and check the server answers; a plain URL to a cluster node becomes a cluster.

    memory:// needs the store itself (an application's): another process cannot see it.
    """
    from cachectl.backends.redis import RedisBackend

    if config.is_memory:
        if store is None:
            raise ConfigError("the command-line tool needs a Redis URL, not memory://")
        from cachectl.ops.memory import MemoryOpsBackend

        return Connection(config, MemoryOpsBackend(store), KeySpace(config.namespace))
    backend = RedisBackend(config)
    if config.sentinel:
        # An operation rides out a failover: a command that loses the primary, or finds none,
        # asks Sentinel again (the breaker, not redis-py, decides this for the library).
        from redis.backoff import ExponentialBackoff

        cap, base = FAILOVER_BACKOFF[1], FAILOVER_BACKOFF[0]
        backend.client.set_retry(
            _FailoverRetry(
                ExponentialBackoff(cap=cap, base=base),
                FAILOVER_RETRIES,
                (redis.exceptions.ConnectionError,),
            )
        )
    try:
        if config.sentinel:
            _check_sentinels(backend, config)
        with translate_errors(config):
            if config.cluster or _cluster_enabled(backend, config):
                # A cluster's client connects to every node when made; the INFO above proved
                # a single server answers.
                if not config.cluster:
                    backend.close()
                    config = config.replace(cluster=True)
                    backend = RedisBackend(config)
                backend.ping()
    except BaseException:
        backend.close()
        raise
    return Connection(config, backend, KeySpace(config.namespace))


def for_cache(cache: Cache | AsyncCache, own_timeouts: bool = False) -> Connection:
    """A connection to what an application's cache uses: its server, or its own memory store.

    The operations never go through the cache's breaker: an outage is an error here. The
    timeouts are at least the command line's (a cache's are short, for the request path), or
    with own_timeouts the cache's own: a health probe gives up as fast as a request would.
    """
    from cachectl.backends.memory import AsyncMemoryBackend, MemoryStore
    from cachectl.config import CLI_DEFAULT_TIMEOUT

    backend: Any = cache.backend
    store = backend.store if isinstance(backend, AsyncMemoryBackend) else backend
    config = cache.config
    if not own_timeouts:
        # A cache's timeout is tuned for the request path (tens of ms); an operation's SCAN
        # step may take longer, and waits as the command line does.
        config = config.replace(
            socket_timeout=max(config.socket_timeout, CLI_DEFAULT_TIMEOUT),
            connect_timeout=max(config.connect_timeout, CLI_DEFAULT_TIMEOUT),
        )
    return connect(config, store if isinstance(store, MemoryStore) else None)


@contextlib.contextmanager
def connection(config: CacheConfig) -> Iterator[Connection]:
    """A connection for the duration of the block, with failures as BackendUnavailable."""
    conn = connect(config)
    try:
        with translate_errors(conn.config):
            yield conn
    finally:
        conn.close()
