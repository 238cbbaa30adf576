"""Is each primary set up for a cache: memory limit, eviction policy, evictions, fragmentation.

Read with INFO, and CONFIG GET for the limit and the policy (the configured values, where INFO
is refused or a managed service hides them). Either may be refused to an ACL user or renamed
away by a managed service: what cannot be read becomes a note, never an error or a guess.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping
from typing import Any

import redis.exceptions

from cachectl.errors import CheckFailed
from cachectl.ops.connect import Connection, Node
from cachectl.ops.doctor.model import Figure, Finding, NodeFacts, Severity
from cachectl.ops.latency import PING, RespSocket
from cachectl.stats import percentile

#: Round trips timed per primary (PING on a connection of its own).
PINGS = 32
#: Share of maxmemory in use from which a server is near full.
NEAR_FULL = 0.9
#: Fragmentation is judged only past this much memory lost to it (a small server's ratio
#: means nothing: 3 MB of RSS over 1 MB used is 3.0).
FRAGMENTATION_BYTES = 100 * 1024 * 1024
#: RSS over used memory past which fragmentation is reported.
FRAGMENTATION_RATIO = 1.5
#: Share of evictions among the keys that left (evicted + expired) past which the cache is
#: too small: entries are pushed out before their TTL ends.
EVICTED_SHARE = 0.5


def _int(info: Mapping[str, Any], name: str) -> int | None:
    try:
        return int(info[name])
    except (KeyError, TypeError, ValueError):
        return None


def _float(info: Mapping[str, Any], name: str) -> float | None:
    try:
        value = float(info[name])
    except (KeyError, TypeError, ValueError):
        return None
    # 'inf' or 'nan' from a server (redis-py parses them as floats) is no figure: JSON has none.
    return value if math.isfinite(value) else None


def _why(exc: redis.exceptions.ResponseError) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def _client(conn: Connection, node: Node) -> Any:
    if conn.cluster:
        return conn.client.get_node(node_name=node.name).redis_connection
    return conn.client


def _info(client: Any, refused: list[str]) -> Mapping[str, Any]:
    try:
        info: Mapping[str, Any] = client.info()
    except redis.exceptions.ResponseError as exc:
        refused.append(f"INFO ({_why(exc)})")
        _forget(client)
        return {}
    return info


def _config(client: Any, refused: list[str]) -> Mapping[str, Any]:
    try:
        found: Mapping[str, Any] = client.config_get("maxmemory*")
    except redis.exceptions.ResponseError as exc:
        refused.append(f"CONFIG GET ({_why(exc)})")
        _forget(client)
        return {}
    return found


def _forget(client: Any) -> None:
    # An unknown command may leave an embedded server's connection unusable (see connect).
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        pool.disconnect()


def _ping(conn: Connection, node: Node) -> tuple[float, float]:
    """p50 and p99 of PINGS round trips, in milliseconds, garbage collection paused."""
    sock = RespSocket(conn.config, node)
    enabled = gc.isenabled()
    try:
        sock.timed(PING)  # warms both ends
        gc.disable()
        times = sorted(sock.timed(PING) / 1e6 for _ in range(PINGS))
    finally:
        if enabled:
            gc.enable()
        sock.close()
    return percentile(times, 50), percentile(times, 99)


def read(conn: Connection) -> list[NodeFacts]:
    """The facts of every primary."""
    out = []
    for node in conn.primaries():
        client = _client(conn, node)
        refused: list[str] = []
        info = _info(client, refused)
        config: Mapping[str, Any] = {} if conn.memory else _config(client, refused)
        maxmemory = _int(config, "maxmemory")
        policy = config.get("maxmemory-policy")
        ping = None
        if not conn.memory:
            try:
                ping = _ping(conn, node)
            except CheckFailed as exc:
                refused.append(f"PING ({str(exc)[:120]})")
        out.append(
            NodeFacts(
                node.name,
                used_memory=_int(info, "used_memory"),
                rss=_int(info, "used_memory_rss"),
                maxmemory=maxmemory if maxmemory is not None else _int(info, "maxmemory"),
                policy=str(policy) if policy else _text(info, "maxmemory_policy"),
                evicted_keys=_int(info, "evicted_keys"),
                expired_keys=_int(info, "expired_keys"),
                uptime_seconds=_int(info, "uptime_in_seconds"),
                fragmentation=_float(info, "mem_fragmentation_ratio"),
                ping_ms=ping,
                refused=tuple(refused),
            )
        )
    return out


def _text(info: Mapping[str, Any], name: str) -> str | None:
    value = info.get(name)
    return str(value) if value not in (None, "") else None


# -- findings ---------------------------------------------------------------------------------


def notes(facts: list[NodeFacts]) -> list[str]:
    """What could not be checked on which primary, and why."""
    out = []
    for node in facts:
        missing = [
            name
            for name, value in (
                ("maxmemory", node.maxmemory),
                ("the eviction policy", node.policy),
                ("memory in use", node.used_memory),
                ("evictions", node.evicted_keys),
                ("fragmentation", node.fragmentation),
            )
            if value is None
        ]
        if missing:
            why = f": this user was refused {', '.join(node.refused)}" if node.refused else ""
            out.append(f"{node.node}: not checked, not readable ({', '.join(missing)}){why}.")
    return out


def _rate(count: int | None, node: NodeFacts) -> float | None:
    if count is None or not node.uptime_seconds:
        return None
    return count / node.uptime_seconds


def findings(facts: list[NodeFacts]) -> list[Finding]:
    """The server findings of every primary whose figures could be read."""
    out: list[Finding] = []
    for node in facts:
        out += _memory_findings(node)
        out += _eviction_findings(node)
        out += _fragmentation_findings(node)
    return out


#: What to do about a finding on a primary, where the figures do not change it.
ADVICE = {
    "maxmemory-unset": "Set maxmemory (about 3/4 of the memory the server may use) and "
    "maxmemory-policy allkeys-lru: without a limit Redis grows until the operating system kills "
    "it or swaps, and never evicts a cache entry.",
    "noeviction": "Set maxmemory-policy allkeys-lru (or allkeys-lfu): with noeviction every "
    "write fails with OOM once maxmemory is reached, and the cache stops caching.",
    "evictions": "The cache is too small for its TTLs: raise maxmemory, or shorten the TTLs of "
    "the prefixes that hold the most memory, so that entries expire instead of being evicted "
    "(an evicted entry costs a miss before its time).",
    "fragmentation": "Enable activedefrag (CONFIG SET activedefrag yes), or restart the server "
    "in a quiet hour; values of very different sizes written and expired all the time fragment "
    "memory most.",
}


def _on(
    node: NodeFacts,
    id: str,
    title: str,
    evidence: tuple[Figure, ...],
    advice: str | None = None,
    severity: Severity = "warning",
) -> Finding:
    """A finding on one primary, its title after the node's name (advice: ADVICE's)."""
    advice = ADVICE[id] if advice is None else advice
    return Finding(id, severity, "node", node.node, f"{node.node} {title}", evidence, advice)


def _used(node: NodeFacts) -> Figure:
    return Figure("used_memory", "memory in use", node.used_memory, "bytes")


def _limit(limit: int) -> Figure:
    return Figure("maxmemory", "maxmemory", limit, "bytes")


def _policy(node: NodeFacts) -> Figure:
    return Figure("policy", "eviction policy", node.policy, "text")


def _memory_findings(node: NodeFacts) -> list[Finding]:
    used, limit, policy = node.used_memory, node.maxmemory, node.policy
    if limit == 0:
        return [
            _on(
                node,
                "maxmemory-unset",
                "has no memory limit",
                (_limit(0), _used(node), _policy(node)),
            )
        ]
    out: list[Finding] = []
    if limit is None:
        return out
    if policy == "noeviction":
        out.append(
            _on(
                node,
                "noeviction",
                "refuses writes when full (maxmemory-policy noeviction)",
                (_limit(limit), _used(node), _policy(node)),
            )
        )
    if used is not None and used >= NEAR_FULL * limit:
        severe = policy == "noeviction"
        share = Figure("used_share", "share of maxmemory", used / limit, "ratio")
        out.append(
            _on(
                node,
                "memory-near-full",
                f"uses {used / limit:.0%} of maxmemory",
                (_used(node), _limit(limit), share, _policy(node)),
                "Raise maxmemory or free memory now: with noeviction, writes already fail or "
                "are about to (OOM command not allowed)."
                if severe
                else "Raise maxmemory, or shorten TTLs and shrink big values: at the limit "
                "Redis evicts entries before their TTL ends, and hit ratios fall.",
                "error" if severe else "warning",
            )
        )
    return out


def _eviction_findings(node: NodeFacts) -> list[Finding]:
    evicted, expired = node.evicted_keys, node.expired_keys
    if not evicted or expired is None:
        return []
    share = evicted / (evicted + expired)
    if share < EVICTED_SHARE:
        return []
    evidence = (
        Figure("evicted_keys", "evicted since start", evicted),
        Figure("expired_keys", "expired since start", expired),
        Figure("evicted_per_second", "evictions", _rate(evicted, node), "per_second"),
        Figure("expired_per_second", "expirations", _rate(expired, node), "per_second"),
        Figure("uptime", "uptime", node.uptime_seconds, "seconds"),
    )
    title = f"evicts more entries than expire ({share:.0%} of those that left)"
    return [_on(node, "evictions", title, evidence)]


def _fragmentation_findings(node: NodeFacts) -> list[Finding]:
    ratio, used, rss = node.fragmentation, node.used_memory, node.rss
    if ratio is None or used is None or rss is None or rss - used < FRAGMENTATION_BYTES:
        return []
    if ratio < FRAGMENTATION_RATIO:
        return []
    evidence = (
        Figure("fragmentation", "RSS / used memory", ratio, "factor"),
        _used(node),
        Figure("rss", "resident memory", rss, "bytes"),
    )
    title = f"holds {ratio:.2f}x its data in memory (fragmentation)"
    return [_on(node, "fragmentation", title, evidence)]
