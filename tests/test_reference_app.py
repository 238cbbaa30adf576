"""The reference application over a small generated shop and the in-process cache.

Whether a response came from the cache is read from the cache itself (the key is present and
holds the response) or shown by changing the database behind the cache's back; never by timing.
"""

from __future__ import annotations

import math
import runpy
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cachectl import AsyncCache
from cachectl.demo import db
from cachectl.demo.app import create_app
from cachectl.demo.routes import INVALIDATED_HEADER
from cachectl.warm.formats import parse_text

USERS, PRODUCTS, ORDERS = 300, 200, 3_000
PRODUCT_PAGES = math.ceil(PRODUCTS / db.PAGE_SIZE)
USER_PAGES = math.ceil(USERS / db.PAGE_SIZE)
MISSING = object()


@dataclass
class Shop:
    app: FastAPI
    client: httpx.AsyncClient
    cache: AsyncCache
    db_path: Path

    async def get(self, path: str, status: int = 200) -> Any:
        response = await self.client.get(path)
        assert response.status_code == status, response.text
        return response.json()

    async def cached(self, keys: Iterable[str]) -> set[str]:
        """The keys among these that hold an entry."""
        return {key for key in keys if await self.cache.get(key, MISSING) is not MISSING}

    def sql(self, statement: str, *params: object) -> list[Any]:
        """Run SQL on the database directly, behind the cache's back."""
        with closing(sqlite3.connect(self.db_path)) as conn, conn:
            return conn.execute(statement, params).fetchall()


@pytest.fixture(scope="session")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite3"
    return db.ensure_database(path, users=USERS, products=PRODUCTS, orders=ORDERS)


@pytest.fixture
def shop_db(shop_template: Path, tmp_path: Path) -> Path:
    """A private copy, since tests write to it."""
    return Path(shutil.copyfile(shop_template, tmp_path / "shop.sqlite3"))


ADMIN_TOKEN = "test-admin-token"


@asynccontextmanager
async def open_shop(db_path: Path, cache_url: str) -> AsyncIterator[Shop]:
    app = create_app(cache_url=cache_url, db_path=db_path, admin_token=ADMIN_TOKEN)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client,
    ):
        yield Shop(app, client, app.state.cache, db_path)


@pytest.fixture
async def shop(shop_db: Path) -> AsyncIterator[Shop]:
    async with open_shop(shop_db, "memory://") as opened:
        yield opened


async def warm_everything(shop: Shop) -> dict[str, Any]:
    """GET every read endpoint once; the cache key of each, mapped to its response."""
    paths = {
        "dashboard:summary": "/api/dashboard/summary",
        "dashboard:revenue": "/api/dashboard/revenue",
        **{f"landing:{slug}": f"/api/landing-pages/{slug}" for slug in db.landing_slugs()},
        **{
            f"products:page:{n}": f"/api/v1/inventory/products?page={n}"
            for n in range(1, PRODUCT_PAGES + 1)
        },
        **{f"users:page:{n}": f"/api/admin/users?page={n}" for n in range(1, USER_PAGES + 1)},
    }
    responses = {key: await shop.get(path) for key, path in paths.items()}
    assert await shop.cached(responses) == set(responses)
    return responses


def keys_showing_product(responses: dict[str, Any], product_id: int) -> set[str]:
    """The product pages and landing pages whose response lists the product."""
    listed = {"products": "items", "landing": "products"}
    return {
        key
        for key, body in responses.items()
        if (field := listed.get(key.partition(":")[0]))
        and any(item["id"] == product_id for item in body[field])
    }


# -- reads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/dashboard/summary", "dashboard:summary"),
        ("/api/dashboard/revenue", "dashboard:revenue"),
        ("/api/landing-pages/summer-sale", "landing:summer-sale"),
        ("/api/v1/inventory/products?page=2", "products:page:2"),
        ("/api/v1/inventory/products", "products:page:1"),
        ("/api/admin/users?page=3", "users:page:3"),
    ],
)
async def test_a_read_is_stored_under_its_key_and_served_from_it(
    shop: Shop, path: str, key: str
) -> None:
    assert await shop.cached([key]) == set()

    first = await shop.get(path)

    assert await shop.cache.get(key) == first
    assert await shop.get(path) == first


async def test_the_second_call_does_not_reach_the_database(shop: Shop) -> None:
    before = await shop.get("/api/v1/inventory/products?page=1")
    shop.sql("UPDATE products SET name = 'Changed behind the cache' WHERE id = 1")

    assert await shop.get("/api/v1/inventory/products?page=1") == before

    await shop.app.state.reads.products_page.invalidate(1)
    after = await shop.get("/api/v1/inventory/products?page=1")
    assert after["items"][0]["name"] == "Changed behind the cache"


async def test_the_dashboard_adds_up(shop: Shop) -> None:
    summary = await shop.get("/api/dashboard/summary")
    revenue = await shop.get("/api/dashboard/revenue")

    year = summary["trailing_year"]
    assert year["orders"] > ORDERS * 0.9
    assert year["revenue_cents"] == sum(month["revenue_cents"] for month in revenue["monthly"])
    assert year["revenue_cents"] == sum(c["revenue_cents"] for c in summary["revenue_by_category"])
    assert 12 <= len(revenue["monthly"]) <= 13
    assert (
        sum(revenue["monthly_by_country"][revenue["monthly"][-1]["month"]].values())
        == (revenue["monthly"][-1]["revenue_cents"])
    )
    top = summary["top_products"]
    assert len(top) == 10
    assert [p["revenue_cents"] for p in top] == sorted(
        (p["revenue_cents"] for p in top), reverse=True
    )


async def test_pages_hold_fifty_rows_in_id_order(shop: Shop) -> None:
    products = await shop.get("/api/v1/inventory/products?page=2")
    users = await shop.get(f"/api/admin/users?page={USER_PAGES}")

    assert [p["id"] for p in products["items"]] == list(range(51, 101))
    assert {k: products[k] for k in ("page", "page_size", "total", "pages")} == {
        "page": 2,
        "page_size": 50,
        "total": PRODUCTS,
        "pages": PRODUCT_PAGES,
    }
    assert users["items"][-1]["id"] == USERS
    user = users["items"][-1]
    [(count,)] = shop.sql("SELECT COUNT(*) FROM orders WHERE user_id = ?", USERS)
    assert user["orders"] == count
    assert isinstance(user["is_active"], bool)


async def test_a_landing_page_lists_its_featured_products(shop: Shop) -> None:
    page = await shop.get("/api/landing-pages/audio-deals")

    assert page["slug"] == "audio-deals"
    assert len(page["products"]) == db.FEATURED_PER_PAGE
    assert {p["category"] for p in page["products"]} == {"audio"}
    assert all(p["in_stock"] == (p["stock"] > 0) for p in page["products"])


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", ""])
@pytest.mark.parametrize("path", ["/api/v1/inventory/products", "/api/admin/users"])
async def test_an_invalid_page_is_a_validation_error(shop: Shop, path: str, page: str) -> None:
    body = await shop.get(f"{path}?page={page}", status=422)

    assert body["detail"][0]["loc"] == ["query", "page"]


async def test_a_page_past_the_end_is_not_found_and_not_cached(shop: Shop) -> None:
    body = await shop.get(f"/api/v1/inventory/products?page={PRODUCT_PAGES + 1}", status=404)

    assert body["detail"] == f"page {PRODUCT_PAGES + 1} is past the last page, {PRODUCT_PAGES}"
    assert await shop.cached([f"products:page:{PRODUCT_PAGES + 1}"]) == set()


async def test_an_unknown_landing_page_is_not_found_and_not_cached(shop: Shop) -> None:
    assert (await shop.get("/api/landing-pages/no-such-page", status=404))["detail"] == (
        "no landing page 'no-such-page'"
    )
    assert await shop.cached(["landing:no-such-page"]) == set()
    await shop.get("/api/landing-pages/Not_A_Slug", status=422)


async def test_responses_say_whether_the_cache_answered(shop: Shop) -> None:
    first = await shop.client.get("/api/dashboard/revenue")
    second = await shop.client.get("/api/dashboard/revenue")

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")


async def test_the_admin_router_is_mounted_behind_the_token(shop: Shop) -> None:
    await shop.get("/api/v1/inventory/products?page=1")
    await shop.get("/api/v1/inventory/products?page=2")
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    assert (await shop.client.post("/_cache/flush?tag=product:60")).status_code == 401
    response = await shop.client.post("/_cache/flush?tag=product:60", headers=auth)

    assert response.json()["removed"] == 1
    assert await shop.cached(["products:page:1", "products:page:2"]) == {"products:page:1"}


# -- writes -----------------------------------------------------------------------------------


async def test_a_price_change_drops_only_the_pages_showing_the_product(shop: Shop) -> None:
    responses = await warm_everything(shop)
    top_sellers = {p["id"] for p in responses["dashboard:summary"]["top_products"]}
    featured = responses["landing:summer-sale"]["products"]
    product = next(p for p in featured if p["id"] not in top_sellers)
    expected = keys_showing_product(responses, product["id"])
    assert "landing:summer-sale" in expected and len(expected) >= 2

    response = await shop.client.patch(
        f"/api/v1/inventory/products/{product['id']}", json={"price_cents": 1234}
    )

    assert response.status_code == 200
    assert response.json()["price_cents"] == 1234
    assert await shop.cached(responses) == set(responses) - expected
    assert response.headers[INVALIDATED_HEADER] == str(len(expected))
    page = await shop.get("/api/landing-pages/summer-sale")
    assert next(p for p in page["products"] if p["id"] == product["id"])["price_cents"] == 1234


async def test_renaming_a_top_seller_also_drops_the_summary(shop: Shop) -> None:
    responses = await warm_everything(shop)
    product_id = responses["dashboard:summary"]["top_products"][0]["id"]
    expected = keys_showing_product(responses, product_id) | {"dashboard:summary"}

    response = await shop.client.patch(
        f"/api/v1/inventory/products/{product_id}", json={"name": "Renamed Best Seller"}
    )

    assert response.headers[INVALIDATED_HEADER] == str(len(expected))
    assert await shop.cached(responses) == set(responses) - expected
    summary = await shop.get("/api/dashboard/summary")
    assert summary["top_products"][0]["name"] == "Renamed Best Seller"


async def test_restocking_a_top_seller_leaves_the_dashboard(shop: Shop) -> None:
    responses = await warm_everything(shop)
    product_id = responses["dashboard:summary"]["top_products"][0]["id"]

    await shop.client.patch(f"/api/v1/inventory/products/{product_id}", json={"stock": 900})

    assert await shop.cached(["dashboard:summary", "dashboard:revenue"]) == {
        "dashboard:summary",
        "dashboard:revenue",
    }


async def test_a_user_edit_drops_only_their_users_page(shop: Shop) -> None:
    responses = await warm_everything(shop)

    response = await shop.client.patch(
        "/api/admin/users/120", json={"plan": "team", "is_active": False}
    )

    assert response.status_code == 200
    assert response.json()["plan"] == "team"
    assert response.json()["is_active"] is False
    assert response.headers[INVALIDATED_HEADER] == "1"
    assert await shop.cached(responses) == set(responses) - {"users:page:3"}
    page = await shop.get("/api/admin/users?page=3")
    assert next(u for u in page["items"] if u["id"] == 120)["plan"] == "team"


async def test_a_landing_page_edit_drops_only_that_page(shop: Shop) -> None:
    responses = await warm_everything(shop)

    response = await shop.client.patch(
        "/api/landing-pages/gift-guide", json={"title": "Gifts for Everyone"}
    )

    assert response.headers[INVALIDATED_HEADER] == "1"
    assert await shop.cached(responses) == set(responses) - {"landing:gift-guide"}
    assert (await shop.get("/api/landing-pages/gift-guide"))["title"] == "Gifts for Everyone"


async def test_a_newly_featured_product_tags_the_landing_page(shop: Shop) -> None:
    await shop.client.patch("/api/landing-pages/gift-guide", json={"product_ids": [7, 3]})
    page = await shop.get("/api/landing-pages/gift-guide")
    assert [p["id"] for p in page["products"]] == [7, 3]

    await shop.client.patch("/api/v1/inventory/products/3", json={"stock": 0})

    assert await shop.cached(["landing:gift-guide"]) == set()
    assert (await shop.get("/api/landing-pages/gift-guide"))["products"][1]["in_stock"] is False


async def test_an_order_drops_the_dashboard_its_products_and_its_customer(shop: Shop) -> None:
    responses = await warm_everything(shop)
    in_stock = [
        row[0]
        for row in shop.sql("SELECT id FROM products WHERE stock >= 5 ORDER BY id DESC LIMIT 2")
    ]
    expected = {"dashboard:summary", "dashboard:revenue", "users:page:2"}
    for product_id in in_stock:
        expected |= keys_showing_product(responses, product_id)

    response = await shop.client.post(
        "/api/orders",
        json={
            "user_id": 77,
            "items": [{"product_id": pid, "quantity": 2} for pid in in_stock],
        },
    )

    assert response.status_code == 201, response.text
    assert response.headers[INVALIDATED_HEADER] == str(len(expected))
    assert await shop.cached(responses) == set(responses) - expected
    summary = await shop.get("/api/dashboard/summary")
    old = responses["dashboard:summary"]["last_30_days"]["orders"]
    assert summary["last_30_days"]["orders"] == old + 1
    user = next(u for u in (await shop.get("/api/admin/users?page=2"))["items"] if u["id"] == 77)
    assert (
        user["orders"]
        == next(u for u in responses["users:page:2"]["items"] if u["id"] == 77)["orders"] + 1
    )


@pytest.mark.parametrize(
    ("order", "status", "detail"),
    [
        ({"user_id": 99_999, "items": [{"product_id": 1, "quantity": 1}]}, 404, "no user 99999"),
        ({"user_id": 1, "items": [{"product_id": 99_999, "quantity": 1}]}, 404, "no product 99999"),
        ({"user_id": 1, "items": []}, 422, None),
        ({"user_id": 1, "items": [{"product_id": 1, "quantity": 0}]}, 422, None),
    ],
)
async def test_a_refused_order_invalidates_nothing(
    shop: Shop, order: dict[str, Any], status: int, detail: str | None
) -> None:
    responses = await warm_everything(shop)

    response = await shop.client.post("/api/orders", json=order)

    assert response.status_code == status
    if detail is not None:
        assert response.json()["detail"] == detail
    assert INVALIDATED_HEADER not in response.headers
    assert await shop.cached(responses) == set(responses)


async def test_an_order_beyond_stock_is_a_conflict(shop: Shop) -> None:
    shop.sql("UPDATE products SET stock = 1 WHERE id = 4")

    response = await shop.client.post(
        "/api/orders",
        json={
            "user_id": 1,
            "items": [{"product_id": 4, "quantity": 1}, {"product_id": 4, "quantity": 1}],
        },
    )

    assert response.status_code == 409
    assert response.json()["detail"] == "product 4 has 1 in stock"


async def test_an_empty_edit_invalidates_nothing(shop: Shop) -> None:
    responses = await warm_everything(shop)

    response = await shop.client.patch("/api/v1/inventory/products/1", json={})

    assert response.headers[INVALIDATED_HEADER] == "0"
    assert await shop.cached(responses) == set(responses)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/inventory/products/99999", {"stock": 1}, 404),
        ("/api/v1/inventory/products/0", {"stock": 1}, 422),
        ("/api/v1/inventory/products/1", {"stock": -1}, 422),
        ("/api/v1/inventory/products/1", {"sku": "X"}, 422),
        ("/api/admin/users/99999", {"name": "Nobody"}, 404),
        ("/api/admin/users/1", {"plan": "platinum"}, 422),
        ("/api/landing-pages/no-such-page", {"title": "New"}, 404),
        ("/api/landing-pages/gift-guide", {"product_ids": [99_999]}, 404),
    ],
)
async def test_a_refused_edit_is_an_error(
    shop: Shop, path: str, body: dict[str, Any], status: int
) -> None:
    response = await shop.client.patch(path, json=body)

    assert response.status_code == status, response.text


async def test_writes_invalidate_exactly_on_a_real_redis(shop_db: Path, redis_url: str) -> None:
    async with open_shop(shop_db, redis_url) as shop:
        responses = await warm_everything(shop)
        await shop.client.patch("/api/admin/users/120", json={"name": "Ada Lovelace"})
        await shop.client.post(
            "/api/orders",
            json={
                "user_id": 1,
                "items": [{"product_id": 1, "quantity": 1}],
            },
        )

        expected = {"users:page:3", "users:page:1", "dashboard:summary", "dashboard:revenue"}
        expected |= keys_showing_product(responses, 1)
        assert await shop.cached(responses) == set(responses) - expected
        assert shop.cache.namespace == "shop"


# -- the factory, the warm list and the example -----------------------------------------------


def test_create_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CACHECTL_URL", "memory://")
    monkeypatch.setenv("DEMO_DB_PATH", str(tmp_path / "env.sqlite3"))

    monkeypatch.setenv("CACHECTL_ADMIN_TOKEN", "from-env")
    app = create_app(namespace="shop-test")

    assert app.state.db_path == tmp_path / "env.sqlite3"
    assert app.state.admin_token == "from-env"
    assert app.state.cache.namespace == "shop-test"
    assert not (tmp_path / "env.sqlite3").exists()  # generated on startup, not by the factory


def test_without_a_token_the_admin_router_gets_a_random_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CACHECTL_ADMIN_TOKEN", raising=False)

    tokens = {create_app(db_path="unused.sqlite3").state.admin_token for _ in range(2)}

    assert len(tokens) == 2 and all(len(token) >= 20 for token in tokens)


@pytest.mark.parametrize("terminal", [False, True])
def test_a_generated_token_is_shown_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, terminal: bool
) -> None:
    import sys

    monkeypatch.delenv("CACHECTL_ADMIN_TOKEN", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    with caplog.at_level("WARNING", logger="cachectl.demo.app"):
        token = create_app(db_path="unused.sqlite3").state.admin_token
    (record,) = caplog.records
    assert "CACHECTL_ADMIN_TOKEN is not set" in record.getMessage()
    assert (token in record.getMessage()) is terminal


def test_importing_the_app_module_creates_no_app() -> None:
    import cachectl.demo.app as module

    assert not hasattr(module, "app")


def test_the_warm_list_covers_every_read_endpoint() -> None:
    text = (resources.files("cachectl.demo") / "endpoints.txt").read_text()
    paths = [entry.url for entry in parse_text("endpoints.txt", text)]

    assert {entry.method for entry in parse_text("endpoints.txt", text)} == {"GET"}
    assert {"/api/dashboard/summary", "/api/dashboard/revenue"} <= set(paths)
    assert {
        p.removeprefix("/api/landing-pages/") for p in paths if p.startswith("/api/landing-pages/")
    } == set(db.landing_slugs())
    product_pages = [p for p in paths if p.startswith("/api/v1/inventory/products?page=")]
    assert len(product_pages) == math.ceil(db.DEFAULT_PRODUCTS / db.PAGE_SIZE)
    user_pages = [p for p in paths if p.startswith("/api/admin/users?page=")]
    assert 1 <= len(user_pages) <= math.ceil(db.DEFAULT_USERS / db.PAGE_SIZE)
    assert (
        len(paths)
        == len(set(paths))
        == 2 + len(db.landing_slugs()) + len(product_pages) + len(user_pages)
    )


async def test_every_warm_path_answers(shop: Shop) -> None:
    text = (resources.files("cachectl.demo") / "endpoints.txt").read_text()
    for entry in parse_text("endpoints.txt", text):
        page = int(entry.url.partition("?page=")[2] or 1)
        if page <= PRODUCT_PAGES:  # the test shop is smaller than the default one
            await shop.get(entry.url)


def test_the_example_builds_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEMO_DB_PATH", str(tmp_path / "example.sqlite3"))
    main = Path(__file__).parents[1] / "examples" / "app" / "main.py"

    namespace = runpy.run_path(str(main))

    assert isinstance(namespace["app"], FastAPI)
    assert namespace["app"].state.db_path == tmp_path / "example.sqlite3"
