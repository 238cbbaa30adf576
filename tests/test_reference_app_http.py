"""The reference shop over real HTTP (uvicorn on a free port) and a real redis-server.

What a write invalidated is read from Redis itself (the keys before and after), never inferred
from timing; the admin endpoints are driven with a missing, a wrong and the right token.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cachectl.demo import db
from cachectl.demo.routes import INVALIDATED_HEADER
from tests.plugins.http import SHOP_PRODUCTS, SHOP_USERS, LiveShop

PRODUCT_PAGES = math.ceil(SHOP_PRODUCTS / db.PAGE_SIZE)
USER_PAGES = math.ceil(SHOP_USERS / db.PAGE_SIZE)


def read_paths() -> dict[str, str]:
    """Every read endpoint of the small shop, by the cache key it is stored under."""
    return {
        "dashboard:summary": "/api/dashboard/summary",
        "dashboard:revenue": "/api/dashboard/revenue",
        **{f"landing:{slug}": f"/api/landing-pages/{slug}" for slug in db.landing_slugs()},
        **{
            f"products:page:{n}": f"/api/v1/inventory/products?page={n}"
            for n in range(1, PRODUCT_PAGES + 1)
        },
        **{f"users:page:{n}": f"/api/admin/users?page={n}" for n in range(1, USER_PAGES + 1)},
    }


def warm_all(client: httpx.Client) -> dict[str, Any]:
    """GET every read endpoint once (each a MISS); the body of each, by cache key."""
    bodies = {}
    for key, path in read_paths().items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["x-cache"] == "MISS", path
        bodies[key] = response.json()
    return bodies


@pytest.fixture
def client(live_shop: LiveShop) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_shop.base_url, timeout=30) as opened:
        yield opened


# -- writes invalidate exactly what they changed ----------------------------------------------


def test_patching_a_product_drops_exactly_the_entries_showing_it(
    live_shop: LiveShop, client: httpx.Client
) -> None:
    bodies = warm_all(client)
    before = live_shop.keys()
    assert before == set(bodies)

    # A product of page 1 (and so of no other products page) that landing pages also feature.
    landing = {key: body for key, body in bodies.items() if key.startswith("landing:")}
    featured_on = {
        item["id"]: {
            key
            for key, body in landing.items()
            if any(product["id"] == item["id"] for product in body["products"])
        }
        for item in bodies["products:page:1"]["items"]
    }
    product_id = max(featured_on, key=lambda pid: (len(featured_on[pid]), -pid))
    assert featured_on[product_id], "the generated shop features none of page 1's products"
    assert all(
        all(item["id"] != product_id for item in bodies[f"products:page:{n}"]["items"])
        for n in range(2, PRODUCT_PAGES + 1)
    )
    expected_gone = {"products:page:1", *featured_on[product_id]}

    response = client.patch(
        f"/api/v1/inventory/products/{product_id}", json={"price_cents": 12_345, "stock": 7}
    )

    assert response.status_code == 200, response.text
    assert response.json()["price_cents"] == 12_345
    assert response.headers[INVALIDATED_HEADER] == str(len(expected_gone))
    after = live_shop.keys()
    assert before - after == expected_gone
    assert after <= before
    # Readers see the change at once; the pages that do not show the product still hit.
    page1 = client.get("/api/v1/inventory/products?page=1")
    assert page1.headers["x-cache"] == "MISS"
    changed = next(item for item in page1.json()["items"] if item["id"] == product_id)
    assert (changed["price_cents"], changed["stock"]) == (12_345, 7)
    assert client.get("/api/v1/inventory/products?page=2").headers["x-cache"] == "HIT"
    assert client.get("/api/dashboard/summary").headers["x-cache"] == "HIT"


def test_a_refused_write_invalidates_nothing(live_shop: LiveShop, client: httpx.Client) -> None:
    warm_all(client)
    before = live_shop.keys()

    response = client.patch("/api/v1/inventory/products/1", json={"price_cents": -5})

    assert response.status_code == 422
    assert INVALIDATED_HEADER.lower() not in response.headers
    assert live_shop.keys() == before


# -- the admin endpoints under /_cache ---------------------------------------------------------

ADMIN_CALLS = [
    ("GET", "/_cache/health"),
    ("GET", "/_cache/stats"),
    ("POST", "/_cache/flush?prefix=products"),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
def test_admin_endpoints_refuse_a_missing_token(
    live_shop: LiveShop, client: httpx.Client, method: str, path: str
) -> None:
    warm_all(client)
    before = live_shop.keys()

    missing = client.request(method, path)
    not_bearer = client.request(method, path, headers={"Authorization": live_shop.admin_token})
    no_token = client.request(method, path, headers={"Authorization": "Bearer"})

    for response in (missing, not_bearer, no_token):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert live_shop.admin_token not in response.text
    assert live_shop.keys() == before


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
def test_admin_endpoints_refuse_a_wrong_token(
    live_shop: LiveShop, client: httpx.Client, method: str, path: str
) -> None:
    warm_all(client)
    before = live_shop.keys()

    wrong = client.request(method, path, headers=bearer("not-the-token"))
    longer = client.request(method, path, headers=bearer(live_shop.admin_token + "x"))

    for response in (wrong, longer):
        assert response.status_code == 403, response.text
        assert live_shop.admin_token not in response.text
    assert live_shop.keys() == before


def test_admin_health_with_the_token(live_shop: LiveShop, client: httpx.Client) -> None:
    response = client.get("/_cache/health", headers=bearer(live_shop.admin_token))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["redis"], body["namespace"], body["breaker"]) == ("ok", "shop", "closed")
    assert body["latency_ms"] >= 0
    assert body["url"] == f"redis://127.0.0.1:{live_shop.redis.get_connection_kwargs()['port']}/0"


def test_admin_stats_with_the_token(live_shop: LiveShop, client: httpx.Client) -> None:
    warm_all(client)
    for n in range(1, PRODUCT_PAGES + 1):
        assert client.get(f"/api/v1/inventory/products?page={n}").headers["x-cache"] == "HIT"

    response = client.get("/_cache/stats", headers=bearer(live_shop.admin_token))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["namespace"] == "shop"
    products = next(p for p in body["process"]["prefixes"] if p["prefix"] == "products")
    assert (products["hits"], products["misses"]) == (PRODUCT_PAGES, PRODUCT_PAGES)


def test_admin_flush_by_prefix_with_the_token(live_shop: LiveShop, client: httpx.Client) -> None:
    bodies = warm_all(client)

    response = client.post(
        "/_cache/flush", params={"prefix": "products"}, headers=bearer(live_shop.admin_token)
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"prefix": "products", "removed": PRODUCT_PAGES}
    assert live_shop.keys() == {key for key in bodies if not key.startswith("products:")}
    assert client.get("/api/v1/inventory/products?page=1").headers["x-cache"] == "MISS"
    assert client.get("/api/admin/users?page=1").headers["x-cache"] == "HIT"


def test_admin_flush_needs_exactly_one_selector(live_shop: LiveShop, client: httpx.Client) -> None:
    warm_all(client)
    before = live_shop.keys()

    response = client.post("/_cache/flush", headers=bearer(live_shop.admin_token))

    assert response.status_code == 422
    assert live_shop.keys() == before
