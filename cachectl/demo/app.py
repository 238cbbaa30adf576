"""The reference application's factory: `uvicorn --factory cachectl.demo.app:create_app`.

Nothing happens at import time. create_app() builds the cache client and the routes, and mounts
cachectl's admin router and X-Cache middleware; the lifespan generates the database on startup
(a second or two the first time each day) and closes the cache on shutdown.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import FastAPI

from cachectl import AsyncCache
from cachectl.contrib.fastapi import CacheHeaderMiddleware, admin_router
from cachectl.demo.cached import cached_reads
from cachectl.demo.db import refresh_database
from cachectl.demo.routes import build_router

URL_ENV = "CACHECTL_URL"
DB_PATH_ENV = "DEMO_DB_PATH"
ADMIN_TOKEN_ENV = "CACHECTL_ADMIN_TOKEN"
DEFAULT_NAMESPACE = "shop"
ADMIN_PREFIX = "/_cache"

logger = logging.getLogger(__name__)


def default_db_path() -> Path:
    """Where the demo keeps its database unless told otherwise: the system temp directory."""
    return Path(tempfile.gettempdir()) / "cachectl-demo" / "shop.sqlite3"


def _announce(token: str) -> None:
    """Say that a token was generated; show it only to someone at a terminal."""
    if sys.stderr is not None and sys.stderr.isatty():
        logger.warning(
            "%s is not set; the cache admin endpoints at %s/ take the bearer token %s",
            ADMIN_TOKEN_ENV,
            ADMIN_PREFIX,
            token,
        )
    else:
        logger.warning(
            "%s is not set; the cache admin endpoints at %s/ take a bearer token generated for "
            "this process, not shown since stderr is not a terminal (set %s to choose one)",
            ADMIN_TOKEN_ENV,
            ADMIN_PREFIX,
            ADMIN_TOKEN_ENV,
        )


def create_app(
    *,
    cache_url: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    db_path: str | Path | None = None,
    admin_token: str | None = None,
    cache_options: Mapping[str, Any] | None = None,
) -> FastAPI:
    """The demo shop with the cache admin endpoints under /_cache and the X-Cache header.

    Arguments left as None come from CACHECTL_URL, DEMO_DB_PATH and CACHECTL_ADMIN_TOKEN, then
    default to the in-process store, a temp-dir database and a random token. That one is
    logged only when stderr is a terminal: a log or a CI job's output would keep it.
    """
    url = cache_url or os.environ.get(URL_ENV) or None
    path = Path(db_path or os.environ.get(DB_PATH_ENV) or default_db_path())
    token = admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        # Never an open flush endpoint: a token for this process, shown once.
        token = secrets.token_urlsafe(16)
        _announce(token)
    cache = AsyncCache.from_url(url, namespace=namespace, **dict(cache_options or {}))
    reads = cached_reads(cache, path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await to_thread.run_sync(partial(refresh_database, path))
        try:
            yield
        finally:
            await cache.aclose()

    app = FastAPI(
        title="cachectl demo shop",
        summary="A FastAPI shop over SQLite whose read-heavy endpoints are cached by cachectl.",
        lifespan=lifespan,
    )
    app.state.cache = cache
    app.state.reads = reads
    app.state.db_path = path
    app.state.admin_token = token
    app.include_router(build_router(cache, reads, path))
    app.include_router(admin_router(cache, token=token), prefix=ADMIN_PREFIX)
    app.add_middleware(CacheHeaderMiddleware)
    return app
