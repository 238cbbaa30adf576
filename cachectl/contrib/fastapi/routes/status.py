"""How the cache and its server are doing: /health, /stats and /latency (the first endpoints),
and the page's /api/whoami, /api/overview and /api/latency."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, status

from cachectl.contrib.fastapi.auth import role
from cachectl.contrib.fastapi.models import LatencyRequest
from cachectl.contrib.fastapi.state import Admin
from cachectl.errors import BackendUnavailable
from cachectl.ops.connect import Connection
from cachectl.ops.latency import measure, ping
from cachectl.ops.server import ServerInfo
from cachectl.ops.stats import collect, published_stats

#: Keys scanned per primary by the overview before counts are extrapolated (keeps it < 2 s).
OVERVIEW_SCAN = 200_000

router = APIRouter()


@router.get("/health")
async def health(admin: Admin) -> dict[str, Any]:
    """Redis latency and the breaker state; 503 when Redis is unreachable (or slower than the
    cache's own timeouts: a load balancer's probe is answered fast either way)."""
    cache = admin.cache
    try:
        probe = await admin.probe(ping)
    except BackendUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            {"redis": "unreachable", "error": str(exc), "breaker": cache.breaker_state.value},
        ) from None
    return {
        "redis": "ok",
        "latency_ms": round(max(probe.samples_us) / 1000, 3),
        "breaker": cache.breaker_state.value,
        "url": cache.config.display_url,
        "namespace": cache.namespace,
    }


@router.get("/stats")
async def stats(admin: Admin) -> dict[str, Any]:
    """This process's figures and those every process published, per prefix."""
    published = await admin.run(published_stats)
    cache = admin.cache
    return {
        "namespace": cache.namespace,
        "breaker": cache.breaker_state.value,
        "process": cache.stats().to_dict(),
        "published": published.to_dict(),
    }


@router.get("/latency")
async def latency(admin: Admin, samples: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
    """A short PING probe: min, p50, p99 and max in milliseconds."""
    quantiles = (await admin.run(ping, samples)).quantiles()
    figures = {f"{q}_ms": round(quantiles[q] / 1000, 3) for q in ("min", "p50", "p99", "max")}
    return {"samples": samples, **figures}


@router.get("/api/whoami")
async def whoami(request: Request, admin: Admin) -> dict[str, Any]:
    """The caller's role, and the cache's namespace, redacted URL and backend."""
    config = admin.cache.config
    kind = "memory" if config.is_memory else "cluster" if config.cluster else "redis"
    return {
        "role": role(request),
        "namespace": admin.cache.namespace,
        "url": config.display_url,
        "backend": admin.kind or kind,  # a plain URL may have turned out to be a cluster
    }


@router.get("/api/overview")
async def overview(admin: Admin) -> dict[str, Any]:
    """Server summary, breaker and per-prefix figures."""
    return {**(await admin.run(_overview)), "breaker": admin.cache.breaker_state.value}


@router.post("/api/latency")
async def api_latency(
    admin: Admin,
    samples: int | None = Query(None, ge=1, le=1000),
    body: Annotated[LatencyRequest | None, Body()] = None,
) -> dict[str, Any]:
    """The `cachectl latency` probes."""
    count = body.samples if body is not None else samples or 20
    report = await admin.run(measure, count, 1.0)
    return report.to_dict()


def _overview(conn: Connection) -> dict[str, Any]:
    """Server summary and per-prefix figures, counts extrapolated past OVERVIEW_SCAN keys."""
    report = collect(conn, max_scan=OVERVIEW_SCAN)
    estimated = ["memory"] if report.keys_exact else ["keys", "memory"]
    return {
        "namespace": report.namespace,
        "server": None if conn.memory else _server_summary(report.servers),
        "prefixes": [row.to_dict() for row in report.prefixes],
        "total": report.to_dict()["total"],
        "keys_exact": report.keys_exact,
        "estimated": estimated,
        "near": None if report.near is None else report.near.to_dict(),
        "time": time.time(),
    }


def _server_summary(servers: list[ServerInfo]) -> dict[str, Any] | None:
    """The primaries' INFO figures as one server: sums, or the first's where they agree."""
    if not servers or all(server.note for server in servers):  # INFO refused: no figures
        return None
    return {
        "version": servers[0].version,
        "server": servers[0].server,
        "mode": servers[0].mode,
        "nodes": len(servers),
        "memory_used": sum(s.used_memory for s in servers),
        "memory_peak": sum(s.peak_memory for s in servers),
        "memory_max": sum(s.max_memory for s in servers),
        "maxmemory_policy": servers[0].maxmemory_policy,
        "evictions": sum(s.evicted_keys for s in servers),
        "clients": sum(s.connected_clients for s in servers),
        "ops_per_s": sum(s.ops_per_sec for s in servers),
        "keys": sum(s.keys for s in servers),
        "uptime_s": min(s.uptime_seconds for s in servers),
        # Over Sentinel, the node that is the primary now, and the service it serves.
        "primary": servers[0].node if servers[0].sentinel_service else None,
        "sentinel_service": servers[0].sentinel_service or None,
    }
