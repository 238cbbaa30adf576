"""The reference application's factory: `uvicorn --factory cachectl.demo.app:create_app`.

Nothing happens at import time. create_app() builds the cache client and the routes; the
lifespan generates the database on startup (a few seconds the first time each day) and closes
the cache on shutdown.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from anyio import to_thread
from fastapi import FastAPI

from cachectl import AsyncCache
from cachectl.demo.cached import cached_reads
from cachectl.demo.db import refresh_database
from cachectl.demo.routes import build_router

URL_ENV = "CACHECTL_URL"
DB_PATH_ENV = "DEMO_DB_PATH"
ADMIN_TOKEN_ENV = "CACHECTL_ADMIN_TOKEN"
DEFAULT_NAMESPACE = "shop"


def default_db_path() -> Path:
    """Where the demo keeps its database unless told otherwise: the system temp directory."""
    return Path(tempfile.gettempdir()) / "cachectl-demo" / "shop.sqlite3"


def create_app(
    *,
    cache_url: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    db_path: str | Path | None = None,
    admin_token: str | None = None,
) -> FastAPI:
    """The demo shop; arguments left as None come from CACHECTL_URL, DEMO_DB_PATH and
    CACHECTL_ADMIN_TOKEN, then default to the in-process store and a temp-dir database."""
    url = cache_url or os.environ.get(URL_ENV) or None
    path = Path(db_path or os.environ.get(DB_PATH_ENV) or default_db_path())
    token = admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None
    cache = AsyncCache.from_url(url, namespace=namespace)
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
    app.include_router(build_router(cache, reads, path))

    # ---- cachectl.contrib.fastapi: the admin router and the X-Cache header ----------------
    # TODO(contrib.fastapi): written in parallel; drop the ImportError guard once it lands.
    try:
        from cachectl.contrib.fastapi import (  # type: ignore[import-not-found, unused-ignore]
            CacheHeaderMiddleware,
            admin_router,
        )
    except ImportError:
        pass
    else:
        app.add_middleware(CacheHeaderMiddleware)
        app.include_router(admin_router(cache, token=token))
    # ------------------------------------------------------------------------------------------
    return app
