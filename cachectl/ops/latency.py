"""Round-trip probes with microsecond resolution, on a dedicated connection to each primary.

PING and GET go over a raw socket speaking RESP, so that what is timed is the network and the
server, not a client library; a full cache set+get of a 1 KB value then goes through
cachectl.Cache, to show what the application pays. ping() is the PING alone (the admin
router's /health and /latency).
"""

from __future__ import annotations

import gc
import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from cachectl.errors import BackendUnavailable, CheckFailed
from cachectl.ops.connect import AUTH_HINT, Connection, Node, is_refused, refused_text
from cachectl.stats import percentile

if TYPE_CHECKING:
    from cachectl.cache import Cache
    from cachectl.config import CacheConfig

PING = b"*1\r\n$4\r\nPING\r\n"
#: Application key of the canary value; a hash tag pins it to each primary on a cluster.
CANARY = "cachectl-latency"
VALUE_SIZE = 1024
NETWORK_PROBES = ("PING", "GET")


@dataclass(frozen=True, slots=True)
class Probe:
    """Round-trip times of one request kind to one primary, in microseconds."""

    node: str
    name: str
    samples_us: tuple[float, ...]

    def quantiles(self) -> dict[str, float]:
        """min, p50, p90, p99 and max in microseconds."""
        ordered = sorted(self.samples_us)
        return {
            "min": ordered[0],
            "p50": percentile(ordered, 50),
            "p90": percentile(ordered, 90),
            "p99": percentile(ordered, 99),
            "max": ordered[-1],
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures, in microseconds."""
        return {
            "node": self.node,
            "probe": self.name,
            "samples": len(self.samples_us),
            **{f"{name}_us": round(value, 1) for name, value in self.quantiles().items()},
        }


@dataclass(frozen=True, slots=True)
class LatencyReport:
    """Every probe of every primary."""

    url: str
    cluster: bool
    probes: list[Probe]

    def exceeded(self, max_p50_ms: float | None, max_p99_ms: float | None) -> list[str]:
        """The network probes over a threshold, described."""
        out = []
        for probe in self.probes:
            if probe.name not in NETWORK_PROBES:
                continue
            q = probe.quantiles()
            for label, limit in (("p50", max_p50_ms), ("p99", max_p99_ms)):
                if limit is not None and q[label] / 1000 > limit:
                    out.append(
                        f"{probe.name} {label} {q[label] / 1000:.3f} ms > {limit:g} ms "
                        f"on {probe.node}"
                    )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "url": self.url,
            "cluster": self.cluster,
            "probes": [probe.to_dict() for probe in self.probes],
        }


#: The error replies of a server without a password to AUTH (Redis 6 and later, and before).
NO_PASSWORD_SET = (b"-ERR AUTH <password> called without any password", b"-ERR Client sent AUTH")


class RespSocket:
    """A bare RESP2 connection: one request in flight, replies read whole."""

    def __init__(self, config: CacheConfig, node: Node) -> None:
        from redis.connection import parse_url

        options: dict[str, Any] = parse_url(config.redis_url)  # type: ignore[no-untyped-call]
        timeout = config.socket_timeout
        path = options.get("path")
        if path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(config.connect_timeout)
            sock.connect(path)
        else:
            sock = socket.create_connection((node.host, node.port), config.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if urlscheme(config.redis_url) == "rediss":
                sock = _tls(options).wrap_socket(sock, server_hostname=node.host)
        sock.settimeout(timeout)
        self.sock = sock
        self.buffer = bytearray()
        self.url = config.display_url
        password = options.get("password") or config.password
        if password:
            username = options.get("username")
            self.sock.sendall(_command(b"AUTH", *([username] if username else []), password))
            reply = self.read()
            # A server with no password set refuses the AUTH, and redis-py (so every other
            # command) goes on regardless: the probe does too.
            if reply[:1] == b"-" and not reply.startswith(NO_PASSWORD_SET):
                _refused(reply, self.url)
        db = int(options.get("db") or 0)
        if db and not config.cluster:
            self.call(_command(b"SELECT", str(db)))

    def call(self, request: bytes) -> bytes:
        """Send one request and return its whole reply; an error reply raises."""
        self.sock.sendall(request)
        reply = self.read()
        if reply[:1] == b"-":
            _refused(reply, self.url)
        return reply

    def timed(self, request: bytes) -> int:
        """Nanoseconds from sending request to having its whole reply."""
        sock, buffer = self.sock, self.buffer
        start = time.perf_counter_ns()
        sock.sendall(request)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buffer += chunk
            end = _reply_end(buffer)
            if end:
                elapsed = time.perf_counter_ns() - start
                reply = bytes(buffer[:end])
                del buffer[:end]
                if reply[:1] == b"-":
                    _refused(reply, self.url)
                return elapsed

    def read(self) -> bytes:
        """The next whole reply."""
        while not (end := _reply_end(self.buffer)):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        reply = bytes(self.buffer[:end])
        del self.buffer[:end]
        return reply

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def _refused(reply: bytes, url: str) -> None:
    text = reply[1:].decode("utf-8", "replace").strip()
    if text.startswith(("NOAUTH", "WRONGPASS")):
        raise BackendUnavailable(f"authentication refused by {url} ({text}): {AUTH_HINT}")
    if is_refused(ResponseError(text)):
        raise refused_text(text, url)
    raise CheckFailed(f"{url} answered the latency probe with an error: {text}")


def urlscheme(url: str) -> str:
    """The scheme of a URL."""
    return url.partition("://")[0]


def _tls(options: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if str(options.get("ssl_cert_reqs", "required")).lower() in ("none", "cert_none"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.get("ssl_certfile"):
        context.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile"))
    return context


def _command(*parts: bytes | str) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _reply_end(buffer: bytearray) -> int:
    """Where the first whole reply in buffer ends, or 0 (simple and bulk replies only)."""
    line = buffer.find(b"\r\n")
    if line < 0:
        return 0
    if buffer[:1] == b"$":
        size = int(buffer[1:line])
        end = line + 2 if size < 0 else line + 2 + size + 2
        return end if len(buffer) >= end else 0
    return line + 2


def canary_keys(conn: Connection) -> dict[str, str]:
    """Per primary, an application key whose hash slot that primary serves."""
    nodes = [node.name for node in conn.primaries()]
    if not conn.cluster:
        return {nodes[0]: CANARY}
    found: dict[str, str] = {}
    client = conn.client
    i = 0
    while len(found) < len(nodes):
        key = f"{CANARY}:{{{i}}}"
        owner = client.get_node_from_key(conn.keys.full(key)).name
        found.setdefault(owner, key)
        i += 1
    return found


def cache_for(config: CacheConfig) -> Cache:
    """A cachectl.Cache with exactly this configuration."""
    from cachectl.cache import Cache

    options = {f.name: getattr(config, f.name) for f in fields(config)}
    url, namespace = options.pop("url"), options.pop("namespace")
    return Cache(url, namespace=namespace, **options)


def _unrecorded(config: CacheConfig) -> CacheConfig:
    """config for the probe's own Cache: no stats, so that the canary's prefix never shows
    among the application's (an application's config, from the admin router, has them on)."""
    return config.replace(stats=False)


def _pause(interval_s: float) -> None:
    if interval_s > 0:
        time.sleep(interval_s)


def _timed(call: Callable[[], object], samples: int, interval: float) -> tuple[float, ...]:
    """Microseconds each of samples calls took, interval seconds apart."""
    times = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1000)
        _pause(interval)
    return tuple(times)


def _network_probes(
    conn: Connection,
    node: Node,
    requests: Sequence[tuple[str, bytes]],
    samples: int,
    interval: float,
) -> list[Probe]:
    """Each request, samples times, over a raw connection of their own, garbage collection
    paused."""
    sock = RespSocket(conn.config, node)
    gc_was = gc.isenabled()
    try:
        sock.timed(PING)  # the first round trip warms both ends
        gc.disable()
        probes = []
        for name, request in requests:
            times = []
            for _ in range(samples):
                times.append(sock.timed(request) / 1000)
                _pause(interval)
            probes.append(Probe(node.name, name, tuple(times)))
        return probes
    finally:
        if gc_was:
            gc.enable()
        sock.close()


def _cache_probe(
    cache: Cache, node: Node, key: str, value: bytes, samples: int, interval: float
) -> Probe:
    """A set and a get of value through the library, as the application pays for them."""

    def set_get() -> None:
        cache.set(key, value, ttl=60)
        # The breaker would serve a failing Redis from memory: that is not a round trip.
        if cache.get(key) != value or cache.breaker_state != "closed":
            raise BackendUnavailable(f"{cache.config.display_url} failed the cache set+get probe")

    return Probe(node.name, "cache set+get (1 KB)", _timed(set_get, samples, interval))


def ping(conn: Connection, samples: int = 1, interval_ms: float = 0.0) -> Probe:
    """PING round trips, samples to every primary on a connection of their own (the embedded
    store: a PING of it), all in one Probe named after the URL."""
    if samples < 1:
        raise ValueError("samples must be at least 1")
    interval = interval_ms / 1000
    if conn.memory:
        times = _timed(conn.client.ping, samples, interval)
    else:
        times = tuple(
            t
            for node in conn.primaries()
            for t in _network_probes(conn, node, [("PING", PING)], samples, interval)[0].samples_us
        )
    return Probe(conn.config.display_url, "PING", times)


def measure(conn: Connection, samples: int = 100, interval_ms: float = 5.0) -> LatencyReport:
    """PING, GET of a canary value and a cache set+get, samples times each, on every primary."""
    if samples < 1:
        raise ValueError("samples must be at least 1")
    interval = interval_ms / 1000
    value = os.urandom(VALUE_SIZE)
    if conn.memory:
        return _measure_memory(conn, samples, interval, value)
    probes: list[Probe] = []
    canaries = canary_keys(conn)
    with cache_for(_unrecorded(conn.config)) as cache:
        for node in conn.primaries():
            key = canaries[node.name]
            # Written as this user first: a refused write (an ACL without SET on the canary)
            # is then one clear CommandRefused, not the library's fallback and a failed probe.
            conn.client.set(conn.keys.full(key), b"", px=60_000)
            cache.set(key, value, ttl=60)
            try:
                requests = [("PING", PING), ("GET", _command(b"GET", conn.keys.full(key)))]
                probes += _network_probes(conn, node, requests, samples, interval)
                probes.append(_cache_probe(cache, node, key, value, samples, interval))
            finally:
                cache.delete(key)
    return LatencyReport(conn.config.display_url, conn.cluster, probes)


def _measure_memory(conn: Connection, samples: int, interval: float, value: bytes) -> LatencyReport:
    """The embedded store has no network: a GET of the store, and a cache set+get on it."""
    from cachectl.cache import Cache

    node = conn.primaries()[0]
    store = getattr(conn.backend, "store", None)
    key = CANARY
    full = conn.keys.full(key)
    config = _unrecorded(conn.config)
    with Cache(config.url, namespace=config.namespace, store=store, stats=False) as cache:
        cache.set(key, value, ttl=60)
        try:
            times = _timed(lambda: conn.client.get(full), samples, interval)
            probes = [Probe(node.name, "GET", times)]
            probes.append(_cache_probe(cache, node, key, value, samples, interval))
        finally:
            cache.delete(key)
    return LatencyReport(config.display_url, False, probes)
