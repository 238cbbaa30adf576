"""What INFO says about each primary: version, uptime, memory, evictions, keyspace hits.

A figure INFO does not give (a managed service hiding a section, a user whose ACL refuses
INFO) is absent, never zero: the views show "-" and say why, and JSON has null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import redis.exceptions

from cachectl.ops.connect import Connection, is_refused, unanswered


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """One server's figures from INFO."""

    node: str
    version: str
    mode: str
    uptime_seconds: int
    used_memory: int
    peak_memory: int
    max_memory: int  # 0: no limit
    maxmemory_policy: str
    evicted_keys: int
    keyspace_hits: int
    keyspace_misses: int
    connected_clients: int
    keys: int  # in the connection's database
    ops_per_sec: int = 0  # INFO's instantaneous_ops_per_sec
    #: Over Sentinel: the service whose primary this node is ('' otherwise).
    sentinel_service: str = ""
    #: Which server: 'redis', or 'valkey' (whose redis_version is a fixed 7.2.4).
    server: str = "redis"
    #: The figures INFO did not give (each reads 0 above): shown as "-", null in JSON.
    absent: frozenset[str] = frozenset()
    #: Why figures are absent, when the server said (INFO refused or unknown); else "".
    note: str = ""

    @property
    def hit_ratio(self) -> float | None:
        """keyspace_hits / (hits + misses), or None before any read (or without the figures)."""
        if {"keyspace_hits", "keyspace_misses"} & self.absent:
            return None
        reads = self.keyspace_hits + self.keyspace_misses
        return self.keyspace_hits / reads if reads else None

    def given(self, name: str) -> bool:
        """Whether INFO gave the figure name."""
        return name not in self.absent

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures; null for those INFO did not give."""
        out: dict[str, Any] = {
            f.name: None if f.name in self.absent else getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("absent", "note")
        }
        return {**out, "hit_ratio": self.hit_ratio, "note": self.note or None}


#: ServerInfo's counts and the INFO fields they are read from.
INFO_FIELDS = {
    "uptime_seconds": "uptime_in_seconds",
    "used_memory": "used_memory",
    "peak_memory": "used_memory_peak",
    "max_memory": "maxmemory",
    "evicted_keys": "evicted_keys",
    "keyspace_hits": "keyspace_hits",
    "keyspace_misses": "keyspace_misses",
    "connected_clients": "connected_clients",
    "ops_per_sec": "instantaneous_ops_per_sec",
}


def _int(info: Mapping[str, Any], name: str, absent: set[str], figure: str) -> int:
    try:
        return int(info[name])
    except (KeyError, TypeError, ValueError):
        absent.add(figure)
        return 0


def from_info(node: str, info: Mapping[str, Any], db: int = 0, note: str = "") -> ServerInfo:
    """A ServerInfo from parsed INFO fields (a missing or unreadable one is absent).

    INFO's keyspace section omits a database without keys: with the server section given,
    that is zero keys, not an absent figure.
    """
    absent: set[str] = set()
    figures = {figure: _int(info, field, absent, figure) for figure, field in INFO_FIELDS.items()}
    if "maxmemory_policy" not in info:
        absent.add("maxmemory_policy")
    # Valkey says 'redis_version:7.2.4' for old clients' sake; its own version is apart, and
    # its mode is 'server_mode' from Valkey 8 on.
    version = info.get("valkey_version") or info.get("redis_version")
    if version is None:
        absent.add("version")
    keyspace = info.get(f"db{db}")
    if isinstance(keyspace, Mapping):
        keys = _int(keyspace, "keys", absent, "keys")
    else:
        keys = 0
        if keyspace is not None or "redis_version" not in info:
            absent.add("keys")
    return ServerInfo(
        node=node,
        version=str(version or "?"),
        mode=str(info.get("redis_mode") or info.get("server_mode") or "standalone"),
        maxmemory_policy=str(info.get("maxmemory_policy", "?")),
        keys=keys,
        server=str(info.get("server_name") or "redis"),
        absent=frozenset(absent),
        note=note,
        uptime_seconds=figures["uptime_seconds"],
        used_memory=figures["used_memory"],
        peak_memory=figures["peak_memory"],
        max_memory=figures["max_memory"],
        evicted_keys=figures["evicted_keys"],
        keyspace_hits=figures["keyspace_hits"],
        keyspace_misses=figures["keyspace_misses"],
        connected_clients=figures["connected_clients"],
        ops_per_sec=figures["ops_per_sec"],
    )


def server_info(conn: Connection) -> list[ServerInfo]:
    """INFO of every primary (one entry for a plain server)."""
    client = conn.client
    if not conn.cluster:
        db = int(client.connection_pool.connection_kwargs.get("db") or 0)
        note = ""
        try:
            info = client.info()
        except redis.exceptions.ResponseError as exc:
            # An ACL without INFO, a managed service that renamed it, an embedded server
            # (fakeredis) without it: no figures, and the view says why.
            info, note = {}, f"no figures: {unanswered('INFO', exc)}"
            client.connection_pool.disconnect()
        node = from_info(conn.primaries()[0].name, info, db, note)
        if conn.sentinel_service:
            node = replace(node, sentinel_service=conn.sentinel_service)
        return [node]
    try:
        replies = client.info(target_nodes=client.PRIMARIES)
    except redis.exceptions.ResponseError as exc:
        if not is_refused(exc):
            raise
        note = f"no figures: {unanswered('INFO', exc)}"
        return [from_info(node.name, {}, 0, note) for node in conn.primaries()]
    return [from_info(name, info) for name, info in sorted(replies.items())]


def server_notes(servers: list[ServerInfo]) -> list[str]:
    """One line per server whose INFO was refused or gave fewer figures than asked."""
    notes = []
    for server in servers:
        if server.note:
            notes.append(f"{server.node}: {server.note}")
        elif server.absent:
            missing = ", ".join(sorted(server.absent))
            notes.append(f"{server.node}: INFO gave no {missing} ('-' above)")
    return notes


def key_counts(conn: Connection, servers: list[ServerInfo]) -> dict[str, int]:
    """Keys in each primary's database, to extrapolate a partial scan from: INFO's figure,
    else DBSIZE's (INFO refused, or its keyspace section hidden); a primary that answers
    neither is left out."""
    counts: dict[str, int] = {}
    for server in servers:
        if server.given("keys"):
            counts[server.node] = server.keys
            continue
        client = conn.client
        try:
            if conn.cluster:
                counts[server.node] = int(
                    client.dbsize(target_nodes=client.get_node(node_name=server.node))
                )
            else:
                counts[server.node] = int(client.dbsize())
        except redis.exceptions.ResponseError:
            continue
    return counts
