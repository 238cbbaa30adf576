"""Real HTTP: any ASGI app under uvicorn on a free port, and the reference shop served that way
over the test redis-server, on a small database generated once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from cachectl.demo.environment import serve_asgi
from cachectl.testing import PATIENT
from tests.servers import RedisServer

SHOP_USERS, SHOP_PRODUCTS, SHOP_ORDERS = 300, 200, 3_000
SHOP_NAMESPACE = "shop"
SHOP_ADMIN_TOKEN = "http-admin-token"
#: The shop's cache gets patient timeouts: a slow reply on a busy machine must not send a test
#: about invalidation to the in-memory fallback.
SHOP_CACHE_OPTIONS = dict(PATIENT)


@dataclass
class LiveShop:
    """The reference application served over HTTP, and a plain client to its Redis."""

    base_url: str
    db_path: Path
    redis: redis.Redis
    namespace: str = SHOP_NAMESPACE
    admin_token: str = SHOP_ADMIN_TOKEN

    def keys(self) -> set[str]:
        """The application keys (namespace stripped) of every entry in Redis right now."""
        prefix = f"{self.namespace}:"
        return {key.decode()[len(prefix) :] for key in self.redis.scan_iter(match=f"{prefix}*")}


@pytest.fixture(scope="session")
def shop_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small shop database, generated once per session; copy it before writing to it."""
    from cachectl.demo.db import ensure_database

    path = tmp_path_factory.mktemp("http-shop") / "shop.sqlite3"
    return ensure_database(path, users=SHOP_USERS, products=SHOP_PRODUCTS, orders=SHOP_ORDERS)


@pytest.fixture
def live_shop(
    shop_db_template: Path, redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> Iterator[LiveShop]:
    """The reference shop under uvicorn on a free port, on a private copy of the database and
    the (flushed) test redis-server, namespace 'shop'; stopped after the test."""
    from cachectl.demo.app import create_app

    db_path = Path(shutil.copyfile(shop_db_template, tmp_path / "live-shop.sqlite3"))
    app = create_app(
        cache_url=redis_url,
        namespace=SHOP_NAMESPACE,
        db_path=db_path,
        admin_token=SHOP_ADMIN_TOKEN,
        cache_options=SHOP_CACHE_OPTIONS,
    )
    with serve_asgi(app) as base_url, redis_server.client() as client:
        yield LiveShop(base_url, db_path, client)
