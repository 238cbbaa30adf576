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

Rooms, one concern each:

    router.py      admin_router(): the routes below behind the tokens, next to the page
    state.py       what one router serves and keeps (AdminState), given to its routes
    auth.py        bearer tokens and roles, checked before a body is read; who asked
    models.py      request bodies and selections, every number bounded
    errors.py      library errors as HTTP errors
    routes/        the endpoints, at module level: status, keys, flush, audit
    bounded.py     the route class: bounded strict JSON bodies, small JSON errors, headers
    page.py        the Cache Management page and its assets
    middleware.py  CacheHeaderMiddleware (X-Cache)
    loopback.py    the Host check of `cachectl ui`

Needs the `fastapi` extra: pip install 'cachectl[fastapi]'.
"""

from __future__ import annotations

from cachectl.contrib.fastapi.auth import Role
from cachectl.contrib.fastapi.middleware import CacheHeaderMiddleware
from cachectl.contrib.fastapi.models import (
    MAX_KEY,
    MAX_NAMED,
    SELECTORS,
    FlushRequest,
    LatencyRequest,
    Selector,
    TtlRequest,
)
from cachectl.contrib.fastapi.router import admin_router
from cachectl.contrib.fastapi.routes.status import OVERVIEW_SCAN

__all__ = [
    "MAX_KEY",
    "MAX_NAMED",
    "OVERVIEW_SCAN",
    "SELECTORS",
    "CacheHeaderMiddleware",
    "FlushRequest",
    "LatencyRequest",
    "Role",
    "Selector",
    "TtlRequest",
    "admin_router",
]
