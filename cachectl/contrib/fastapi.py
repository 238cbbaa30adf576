"""FastAPI integration: cache-management endpoints and the X-Cache response header.

    app.include_router(admin_router(cache, token=os.environ["CACHECTL_ADMIN_TOKEN"]),
                       prefix="/_cache")
    app.add_middleware(CacheHeaderMiddleware)

Needs the `fastapi` extra: pip install 'cachectl[fastapi]'.
"""

from __future__ import annotations

import hmac
import statistics
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachectl.cache import AsyncCache, Cache
from cachectl.decorator import track_cache_status
from cachectl.errors import BackendUnavailable, ConfigError
from cachectl.ops.selection import select


async def _call(cache: Cache | AsyncCache, method: str, *args: Any) -> Any:
    """Await an AsyncCache method, or run a Cache method off the event loop."""
    if isinstance(cache, AsyncCache):
        return await getattr(cache, method)(*args)
    return await run_in_threadpool(getattr(cache, method), *args)


SELECTORS = ("prefix", "tag", "pattern")


def _bad_request(exc: ConfigError | str) -> HTTPException:
    # The command line's wording names options ('--prefix'); here they are query parameters.
    text = str(exc).replace(" (use --all for every key)", "").replace("--", "")
    return HTTPException(422, text)  # the status FastAPI gives invalid query parameters


def _flush_selection(cache: Cache | AsyncCache, params: list[tuple[str, str]]) -> tuple[str, str]:
    """('prefix' | 'tag' | 'pattern', value) of a flush request, checked by the same rules as
    `cachectl flush` (ops.selection.select); HTTPException 422 for anything else."""
    names = [name for name, _ in params]
    unknown = sorted({name for name in names if name not in SELECTORS})
    if unknown:
        raise _bad_request(
            f"unknown query parameter {unknown[0]!r}: give one of prefix, tag, pattern"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _bad_request(f"{repeated[0]} is given more than once")
    if not params:
        raise _bad_request("choose what to flush: give one of prefix, tag, pattern")
    try:
        given = dict(params)
        select(
            cache.keys,
            prefix=given.get("prefix"),
            tag=given.get("tag"),
            pattern=given.get("pattern"),
        )
    except ConfigError as exc:
        raise _bad_request(exc) from None
    return params[0]


def admin_router(cache: Cache | AsyncCache, *, token: str) -> APIRouter:
    """Endpoints to see and operate the cache, behind a bearer token.

    GET  /health   Redis latency and breaker state (503 when Redis is unreachable)
    GET  /stats    this process's figures and those every process published, per prefix
    GET  /latency  a short PING probe (min/p50/p99/max in ms)
    POST /flush    ?prefix=P | ?tag=T | ?pattern=GLOB: how many keys were removed

    A bad request (no selector or several, an empty one, an unclosed glob...) is a 422 with
    a JSON body {"detail": "..."}, by the same rules as `cachectl flush`.
    """
    if not token:
        raise ValueError("admin_router needs a non-empty token")
    expected = token.encode()

    def authorize(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.encode(), expected):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong token")

    router = APIRouter(dependencies=[Depends(authorize)], tags=["cache"])

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
        except BackendUnavailable:
            published = None
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
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        times.sort()
        return {
            "samples": samples,
            "min_ms": round(times[0], 3),
            "p50_ms": round(statistics.median(times), 3),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
            "max_ms": round(times[-1], 3),
        }

    @router.post("/flush")
    async def flush(
        request: Request,
        prefix: str | None = None,
        tag: str | None = None,
        pattern: str | None = None,
    ) -> dict[str, Any]:
        kind, value = _flush_selection(cache, request.query_params.multi_items())
        try:
            removed = await _call(cache, f"invalidate_{kind}", value)
        except ConfigError as exc:
            raise _bad_request(exc) from None
        return {kind: value, "removed": removed}

    return router


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
