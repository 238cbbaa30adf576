"""What INFO says about each primary: version, uptime, memory, evictions, keyspace hits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import redis.exceptions

from cachectl.ops.connect import Connection


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

    @property
    def hit_ratio(self) -> float | None:
        """keyspace_hits / (hits + misses), or None before any read."""
        reads = self.keyspace_hits + self.keyspace_misses
        return self.keyspace_hits / reads if reads else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {**asdict(self), "hit_ratio": self.hit_ratio}


def _int(info: Mapping[str, Any], name: str) -> int:
    try:
        return int(info.get(name) or 0)
    except (TypeError, ValueError):
        return 0


def from_info(node: str, info: Mapping[str, Any], db: int = 0) -> ServerInfo:
    """A ServerInfo from parsed INFO fields (missing fields read as zero)."""
    keyspace = info.get(f"db{db}") or {}
    return ServerInfo(
        node=node,
        # Valkey says 'redis_version:7.2.4' for old clients' sake; its own version is apart,
        # and its mode is 'server_mode' from Valkey 8 on.
        version=str(info.get("valkey_version") or info.get("redis_version", "?")),
        mode=str(info.get("redis_mode") or info.get("server_mode") or "standalone"),
        uptime_seconds=_int(info, "uptime_in_seconds"),
        used_memory=_int(info, "used_memory"),
        peak_memory=_int(info, "used_memory_peak"),
        max_memory=_int(info, "maxmemory"),
        maxmemory_policy=str(info.get("maxmemory_policy", "?")),
        evicted_keys=_int(info, "evicted_keys"),
        keyspace_hits=_int(info, "keyspace_hits"),
        keyspace_misses=_int(info, "keyspace_misses"),
        connected_clients=_int(info, "connected_clients"),
        keys=_int(keyspace, "keys") if isinstance(keyspace, Mapping) else 0,
        ops_per_sec=_int(info, "instantaneous_ops_per_sec"),
        server=str(info.get("server_name") or "redis"),
    )


def server_info(conn: Connection) -> list[ServerInfo]:
    """INFO of every primary (one entry for a plain server)."""
    client = conn.client
    if not conn.cluster:
        db = int(client.connection_pool.connection_kwargs.get("db") or 0)
        try:
            info = client.info()
        except redis.exceptions.ResponseError:
            info = {}  # a server without INFO (an embedded one, such as fakeredis)
            client.connection_pool.disconnect()
        node = from_info(conn.primaries()[0].name, info, db)
        if conn.sentinel_service:
            node = replace(node, sentinel_service=conn.sentinel_service)
        return [node]
    replies = client.info(target_nodes=client.PRIMARIES)
    return [from_info(name, info) for name, info in sorted(replies.items())]
