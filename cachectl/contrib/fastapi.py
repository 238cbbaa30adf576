"""FastAPI integration: cache-management endpoints and the X-Cache response header.

    app.include_router(
        admin_router(cache, token=os.environ["CACHECTL_ADMIN_TOKEN"],
                     read_only_token=os.environ.get("CACHECTL_READ_TOKEN")),
        prefix="/_cache",
    )
    app.add_middleware(CacheHeaderMiddleware)

Every endpoint stands on cachectl.ops, run in a worker thread, on the application's own cache
(its Redis server, or its embedded store): the same selection means the same keys as on the
command line, and a Redis outage is a 503, as `cachectl flush` exits 3.

Needs the `fastapi` extra: pip install 'cachectl[fastapi]'.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachectl.cache import AsyncCache, Cache
from cachectl.contrib.bounded import route_class
from cachectl.contrib.page import with_page
from cachectl.decorator import track_cache_status
from cachectl.errors import BackendUnavailable, CachectlError, CheckFailed, ConfigError
from cachectl.ops import aio, audit
from cachectl.ops import selection as sel
from cachectl.ops.connect import Connection, for_cache, translate_errors
from cachectl.ops.edit import MAX_TTL
from cachectl.ops.flush import MAX_LIMIT, MAX_RATE
from cachectl.ops.inspect import display_key, hexdump
from cachectl.stats import percentile

T = TypeVar("T")
Role = Literal["admin", "read-only"]

#: Keys scanned per primary by the overview before counts are extrapolated (keeps it < 2 s).
OVERVIEW_SCAN = 200_000
#: Named keys one flush request may list.
MAX_NAMED = 1000
#: Longest key accepted in a request, in bytes.
MAX_KEY = 65_536
SELECTORS = ("prefix", "tag", "pattern")


async def _call(cache: Cache | AsyncCache, method: str, *args: Any) -> Any:
    """Await an AsyncCache method, or run a Cache method off the event loop."""
    if isinstance(cache, AsyncCache):
        return await getattr(cache, method)(*args)
    return await run_in_threadpool(getattr(cache, method), *args)


def _bad_request(exc: ConfigError | str) -> HTTPException:
    # The command line's wording names options ('--prefix'); here they are request fields.
    text = str(exc).replace(" (use --all for every key)", "").replace("--", "")
    return HTTPException(422, text)  # the status FastAPI gives invalid parameters


def _http_error(exc: BaseException) -> HTTPException:
    """The HTTP form of a library error: one table, as cli/app.py has for exit statuses."""
    if isinstance(exc, BackendUnavailable):
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))
    if isinstance(exc, ConfigError | ValueError):
        return _bad_request(str(exc))
    if isinstance(exc, CheckFailed):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    return HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc))


class Selector(BaseModel):
    """What a flush acts on: exactly one of prefix, pattern, tag, keys, all."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prefix: str | None = None
    pattern: str | None = None
    tag: str | None = None
    keys: list[str] | None = Field(None, max_length=MAX_NAMED)
    everything: bool = Field(False, alias="all", strict=True)
    max_keys: int | None = Field(None, ge=0, le=MAX_LIMIT, strict=True)

    def selection(self, conn: Connection) -> sel.Selection:
        """The ops selection, by the command line's rules."""
        return sel.select(
            conn.keys,
            prefix=self.prefix,
            pattern=self.pattern,
            tag=self.tag,
            keys=self.keys or (),
            everything=self.everything,
        )

    def confirm_text(self, conn: Connection, selection: sel.Selection) -> str:
        """What the user types to confirm: the namespace's name for a selection that covers it
        all (ops' rule, as on the command line), else the prefix, pattern or tag, or 'N named
        keys'."""
        if selection.whole:
            return conn.keys.namespace
        if self.prefix is not None:
            return self.prefix
        if self.pattern is not None:
            return self.pattern
        if self.tag is not None:
            return self.tag
        # The keys named, not those that exist now (the preview's count): typed text that an
        # expiry between preview and flush would change would refuse the flush.
        n = len(selection.keys)
        return f"{n} named key{'' if n == 1 else 's'}"


def _flush_selection(params: list[tuple[str, str]]) -> tuple[Selector, str | None]:
    """The selection of a /flush request (?prefix= | ?tag= | ?pattern=) and its ?confirm=; 422
    for an unknown or repeated parameter (the rest is checked by ops.selection.select, as
    `cachectl flush` is)."""
    names = [name for name, _ in params]
    unknown = sorted({name for name in names if name not in (*SELECTORS, "confirm")})
    if unknown:
        raise _bad_request(
            f"unknown query parameter {unknown[0]!r}: give one of prefix, tag, pattern"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _bad_request(f"{repeated[0]} is given more than once")
    given = dict(params)
    confirm = given.pop("confirm", None)
    if not given:
        raise _bad_request("choose what to flush: give one of prefix, tag, pattern")
    return Selector.model_validate(given), confirm


class FlushRequest(Selector):
    """A flush: the selection, the typed confirmation, and an optional limit."""

    # Missing: a 409 that says what to type, as a wrong one is.
    confirm: str | None = Field(None, max_length=MAX_KEY)
    # Keys a second at most, as `cachectl flush --rate`.
    rate: float | None = Field(None, ge=1.0, le=MAX_RATE, strict=True, allow_inf_nan=False)


class TtlRequest(BaseModel):
    """A new TTL for one key (null: no expiry)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, max_length=MAX_KEY)
    key_hex: str | None = Field(None, max_length=2 * MAX_KEY)
    ttl: float | None = Field(gt=0, le=MAX_TTL, strict=True, allow_inf_nan=False)


class LatencyRequest(BaseModel):
    """A latency probe's size."""

    model_config = ConfigDict(extra="forbid")

    samples: int = Field(20, ge=1, le=1000, strict=True)


def _app_key(key: str | None, key_hex: str | None) -> bytes:
    """The exact bytes named by key (text) or key_hex; 422 unless exactly one is given."""
    if (key is None) == (key_hex is None):
        raise _bad_request("give the key as key (text) or key_hex (its bytes in hex), not both")
    if key_hex is not None:
        try:
            raw = bytes.fromhex(key_hex)
        except ValueError:
            raise _bad_request("key_hex is not hexadecimal") from None
    else:
        raw = (key or "").encode("utf-8", "surrogateescape")
    if not raw or len(raw) > MAX_KEY:
        raise _bad_request(f"a key has 1 to {MAX_KEY} bytes")
    return raw


def _row(row: Any) -> dict[str, Any]:
    """A listed key as the page shows it: exact bytes in key_hex, TTL in seconds."""
    out: dict[str, Any] = row.to_dict()
    out["key_hex"] = row.key.hex()
    out["ttl"] = None if row.ttl_ms is None else row.ttl_ms / 1000
    return out


def _server_summary(servers: list[Any]) -> dict[str, Any] | None:
    if not servers:
        return None
    return {
        "version": servers[0].version,
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
    }


class _Ops:
    """Runs operations on what the cache uses, in a worker thread, on a connection made for
    the request and closed after it (no pool outlives a request; a restarted server is met
    afresh), with library errors as HTTP errors."""

    def __init__(self, cache: Cache | AsyncCache) -> None:
        self.cache = cache
        self.kind: str | None = None  # 'redis', 'cluster' or 'memory', once connected

    def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        conn = for_cache(self.cache)
        self.kind = conn.kind
        try:
            with translate_errors(conn.config):
                return fn(conn, *args, **kwargs)
        finally:
            conn.close()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(conn, *args, **kwargs) off the event loop; HTTPException for a library error."""
        try:
            return await aio.run(self._run, fn, *args, **kwargs)
        except (CachectlError, ValueError) as exc:
            raise _http_error(exc) from None


class _Progress:
    """The running (or last) flush of this router."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {"running": False}

    def start(self, label: str, total: int | None) -> bool:
        with self.lock:
            if self.state["running"]:
                return False
            self.state = {
                "running": True,
                "label": label,
                "removed": 0,
                "total": total,
                "started": time.time(),
            }
            return True

    def tick(self, n: int) -> None:
        with self.lock:
            self.state["removed"] += n

    def finish(self, error: str | None = None) -> None:
        with self.lock:
            self.state["running"] = False
            self.state["seconds"] = time.time() - self.state["started"]
            if error is not None:
                self.state["error"] = error

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.state)


def admin_router(
    cache: Cache | AsyncCache, *, token: str, read_only_token: str | None = None
) -> APIRouter:
    """Endpoints to see and operate the cache, behind bearer tokens.

    The admin token may do everything; the read-only token may GET, probe latency and plan a
    flush. Every error is a 4xx/5xx with a small JSON body {"detail": ...} that never echoes
    the request (cachectl.contrib.bounded); a body is at most 1 MiB of finite, shallow JSON
    (413, 400), every number in a body or a query is finite and within its bounds (422); Redis
    unreachable: 503. Every JSON answer carries Cache-Control: no-store and nosniff.

    A flush is confirmed by typing: the prefix, pattern or tag, or the namespace's name when
    the selection covers the whole namespace (all, or a glob such as '*').

    The audit log records the client address the server gives (the ASGI scope's client): behind
    a proxy, let the server take it from X-Forwarded-For for that proxy only (uvicorn
    --forwarded-allow-ips).

    GET  /health   Redis latency and breaker state (503 when Redis is unreachable)
    GET  /stats    this process's figures and those every process published, per prefix
    GET  /latency  a short PING probe (min/p50/p99/max in ms)
    POST /flush    ?prefix=P | ?tag=T | ?pattern=GLOB: how many keys were removed (admin);
                   a selection of the whole namespace also needs ?confirm=<namespace>
    GET  /api/whoami, /api/overview, /api/keys, /api/keys/top, /api/key, /api/audit,
         /api/flush/progress
    POST /api/latency, /api/flush/plan, /api/flush (admin), /api/key/ttl (admin)
    DELETE /api/key (admin)
    """
    if not token:
        raise ValueError("admin_router needs a non-empty token")
    if read_only_token is not None and (not read_only_token or read_only_token == token):
        raise ValueError("read_only_token must be non-empty and differ from the admin token")
    tokens: list[tuple[bytes, Role]] = [(token.encode(), "admin")]
    if read_only_token:
        tokens.append((read_only_token.encode(), "read-only"))
    ops = _Ops(cache)
    progress = _Progress()

    def role_of(request: Request) -> Role:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found: Role | None = None
        for expected, role in tokens:  # every token compared: the time says nothing
            if hmac.compare_digest(given.encode(), expected):
                found = role
        if found is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong token")
        request.state.cachectl_role = found
        return found

    def admin_only(request: Request) -> None:
        # A dependency of the admin routes; guard() runs it first, before the body is read.
        if role(request) != "admin":
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "the read-only token cannot change the cache"
            )

    def role(request: Request) -> Role:
        found: Role = request.state.cachectl_role
        return found

    admin = [Depends(admin_only)]

    def address(request: Request) -> str | None:
        return request.client.host if request.client else None

    def actor(request: Request) -> audit.Actor:
        return audit.Actor("api", address=address(request), role=role(request))

    def guard(request: Request, route: APIRoute) -> None:
        # The route class runs this before the body is read: a request without the token, or
        # a change asked with the read-only token, is refused with no byte of its body parsed.
        role_of(request)
        if any(dep.dependency is admin_only for dep in route.dependencies):
            admin_only(request)

    router = APIRouter(
        dependencies=[Depends(role_of)], tags=["cache"], route_class=route_class(guard)
    )

    # -- the original endpoints ---------------------------------------------------------------

    @router.get("/health")
    async def health() -> dict[str, Any]:
        try:
            seconds = await _call(cache, "ping")
        except BackendUnavailable as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                {"redis": "unreachable", "error": str(exc), "breaker": cache.breaker_state.value},
            ) from None
        return {
            "redis": "ok",
            "latency_ms": round(seconds * 1000, 3),
            "breaker": cache.breaker_state.value,
            "url": cache.config.display_url,
            "namespace": cache.namespace,
        }

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        try:
            published = (await _call(cache, "published_stats")).to_dict()
        except BackendUnavailable as exc:
            raise _http_error(exc) from None
        return {
            "namespace": cache.namespace,
            "breaker": cache.breaker_state.value,
            "process": cache.stats().to_dict(),
            "published": published,
        }

    @router.get("/latency")
    async def latency(samples: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
        times = []
        try:
            for _ in range(samples):
                times.append(await _call(cache, "ping") * 1000)
        except BackendUnavailable as exc:
            raise _http_error(exc) from None
        times.sort()
        return {
            "samples": samples,
            "min_ms": round(times[0], 3),
            "p50_ms": round(percentile(times, 50), 3),
            "p99_ms": round(percentile(times, 99), 3),
            "max_ms": round(times[-1], 3),
        }

    @router.post("/flush", dependencies=admin)
    async def flush(
        request: Request,
        prefix: str | None = None,
        tag: str | None = None,
        pattern: str | None = None,
        confirm: str | None = Query(None, max_length=MAX_KEY),
    ) -> dict[str, Any]:
        params = request.query_params.multi_items()
        body, typed = _flush_selection(params)
        result = await ops.run(_flush, body, typed, progress, actor(request), True)
        return {**{k: v for k, v in params if k != "confirm"}, "removed": result["removed"]}

    # -- the JSON API of the page -------------------------------------------------------------

    @router.get("/api/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        config = cache.config
        kind = "memory" if config.is_memory else "cluster" if config.cluster else "redis"
        if ops.kind is not None:
            kind = ops.kind  # a plain URL may have turned out to be a cluster
        return {
            "role": role(request),
            "namespace": cache.namespace,
            "url": config.display_url,
            "backend": kind,
        }

    @router.get("/api/overview")
    async def overview() -> dict[str, Any]:
        return {**(await ops.run(_overview)), "breaker": cache.breaker_state.value}

    @router.post("/api/latency")
    async def api_latency(
        samples: int | None = Query(None, ge=1, le=1000),
        body: Annotated[LatencyRequest | None, Body()] = None,
    ) -> dict[str, Any]:
        from cachectl.ops.latency import measure

        count = body.samples if body is not None else samples or 20
        report = await ops.run(measure, count, 1.0)
        return report.to_dict()

    @router.get("/api/keys")
    async def keys(
        prefix: str | None = None,
        pattern: str | None = None,
        tag: str | None = None,
        cursor: str | None = Query(None, max_length=100),
        count: int = Query(100, ge=1, le=1000),
        sort: Literal["name", "ttl", "memory"] = "name",
    ) -> dict[str, Any]:
        from cachectl.ops.listing import page

        def run(conn: Connection) -> dict[str, Any]:
            selection = _browse(conn, prefix, pattern, tag)
            found = page(conn, selection, cursor, count, sort)
            return {
                "label": found.selection,
                "keys": [_row(r) for r in found.rows],
                "cursor": found.cursor,
                "count": len(found.rows),
                "sort": sort,
                "sorted": "within this page",
            }

        return await ops.run(run)

    @router.get("/api/keys/top")
    async def top(
        prefix: str | None = None,
        pattern: str | None = None,
        tag: str | None = None,
        n: int = Query(20, ge=1, le=1000),
    ) -> dict[str, Any]:
        from cachectl.ops.listing import top_keys

        def run(conn: Connection) -> dict[str, Any]:
            listing = top_keys(conn, _browse(conn, prefix, pattern, tag), n)
            return {
                "label": listing.selection,
                "keys": [_row(r) for r in listing.rows],
                "matched": listing.matched,
                "n": n,
            }

        return await ops.run(run)

    @router.get("/api/key")
    async def get_key(
        key: str | None = Query(None, max_length=MAX_KEY),
        key_hex: str | None = Query(None, max_length=2 * MAX_KEY),
    ) -> dict[str, Any]:
        from cachectl.ops.inspect import inspect_key

        raw = _app_key(key, key_hex)
        found = await ops.run(inspect_key, raw)
        out = found.to_dict()
        out["key_hex"] = found.key.hex()
        if found.error is not None or (
            found.encoding is not None and found.encoding.serializer == "binary"
        ):
            out["hexdump"] = hexdump(found.head)
        return out

    @router.delete("/api/key", dependencies=admin)
    async def delete_key(
        request: Request,
        key: str | None = Query(None, max_length=MAX_KEY),
        key_hex: str | None = Query(None, max_length=2 * MAX_KEY),
    ) -> dict[str, Any]:
        from cachectl.ops.edit import delete_key

        raw = _app_key(key, key_hex)

        def run(conn: Connection) -> int:
            removed = delete_key(conn, raw)
            label = f"key {display_key(raw)!r} in {conn.keys.where}"
            audit.record_by(conn, actor(request), "delete", label, removed)
            return removed

        return {"removed": await ops.run(run)}

    @router.post("/api/key/ttl", dependencies=admin)
    async def set_ttl(request: Request, body: TtlRequest) -> dict[str, Any]:
        from cachectl.ops.edit import set_ttl

        raw = _app_key(body.key, body.key_hex)

        def run(conn: Connection) -> int | None:
            ttl_ms = set_ttl(conn, raw, body.ttl)
            after = "no expiry" if body.ttl is None else f"ttl {body.ttl:g}s"
            label = f"key {display_key(raw)!r} in {conn.keys.where}: {after}"
            audit.record_by(conn, actor(request), "ttl", label, 1)
            return ttl_ms

        ttl_ms = await ops.run(run)
        return {"ttl": None if ttl_ms is None else ttl_ms / 1000, "ttl_ms": ttl_ms}

    @router.post("/api/flush/plan")
    async def flush_plan(body: Selector) -> dict[str, Any]:
        def run(conn: Connection) -> dict[str, Any]:
            selection = body.selection(conn)
            count = sel.count(conn, selection)
            sample = [conn.keys.app(k) for k in sel.sample(conn, selection)]
            return {
                "label": selection.label,
                "count": count,
                "sample": [display_key(k) for k in sample],
                "sample_hex": [k.hex() for k in sample],
                "confirm": body.confirm_text(conn, selection),
                "whole": selection.whole,
                "max_keys": body.max_keys,
                "refused": body.max_keys is not None and count > body.max_keys,
            }

        return await ops.run(run)

    @router.post("/api/flush", dependencies=admin)
    async def api_flush(request: Request, body: FlushRequest) -> dict[str, Any]:
        return await ops.run(_flush, body, body.confirm or "", progress, actor(request))

    @router.get("/api/flush/progress")
    async def flush_progress() -> dict[str, Any]:
        return progress.snapshot()

    @router.get("/api/audit")
    async def audit_log(limit: int = Query(100, ge=1, le=audit.LIMIT)) -> dict[str, Any]:
        entries = await ops.run(audit.read, limit)
        return {"entries": [entry.to_dict() for entry in entries]}

    return with_page(router)


def _browse(
    conn: Connection, prefix: str | None, pattern: str | None, tag: str | None
) -> sel.Selection:
    """A key browser's selection: an empty field is no filter; none: every entry."""
    return sel.select(
        conn.keys, prefix=prefix or None, pattern=pattern or None, tag=tag or None, required=False
    )


def _overview(conn: Connection) -> dict[str, Any]:
    """Server summary and per-prefix figures, counts extrapolated past OVERVIEW_SCAN keys."""
    from cachectl.ops.stats import collect

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


def _flush(
    conn: Connection,
    body: Selector,
    confirm: str | None,
    progress: _Progress,
    actor: audit.Actor,
    legacy: bool = False,
) -> dict[str, Any]:
    """Delete a selection as `cachectl flush --yes [--max-keys N]` does (ops.flush.flush, which
    writes the audit entry, as it does for the command line), once confirmed.

    legacy (the /flush endpoint of old): a confirmation is asked only of a selection that covers
    the whole namespace, as ?confirm=<namespace>."""
    from cachectl.ops.flush import flush

    selection = body.selection(conn)
    expected = body.confirm_text(conn, selection)
    if (confirm is not None or selection.whole or not legacy) and confirm != expected:
        field = "the query parameter confirm" if legacy else '"confirm"'
        ask = f"to confirm, send {field} equal to {expected!r}"
        if selection.whole:
            ask = f"{selection.label} covers the whole namespace: {ask}, its name"
        raise HTTPException(status.HTTP_409_CONFLICT, f"{ask}; nothing was deleted")
    total = sel.count(conn, selection) if body.max_keys is not None else None
    if body.max_keys is not None and total is not None and total > body.max_keys:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{total} keys match ({selection.label}), more than max_keys {body.max_keys}; "
            "nothing was deleted",
        )
    if not progress.start(selection.label, total):
        raise HTTPException(status.HTTP_409_CONFLICT, "a flush is already running")
    try:
        rate = body.rate if isinstance(body, FlushRequest) else None
        result = flush(conn, selection, actor, on_batch=progress.tick, rate=rate)
    except BaseException as exc:
        progress.finish(str(exc) or type(exc).__name__)
        raise
    progress.finish()
    return {"removed": result.removed, "seconds": result.seconds, "label": selection.label}


class CacheHeaderMiddleware:
    """Sets X-Cache: HIT or MISS on responses whose handler called @cached functions.

    MISS when any cached call in the request missed; no header when none was made.
    """

    def __init__(self, app: ASGIApp, header: str = "X-Cache") -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with track_cache_status() as seen:

            async def send_with_header(message: Message) -> None:
                if message["type"] == "http.response.start" and seen:
                    verdict: Literal[b"HIT", b"MISS"] = b"MISS" if "MISS" in seen else b"HIT"
                    headers = [(k, v) for k, v in message.get("headers", []) if k != self.header]
                    message = {**message, "headers": [*headers, (self.header, verdict)]}
                await send(message)

            await self.app(scope, receive, send_with_header)


__all__ = ["CacheHeaderMiddleware", "admin_router"]
