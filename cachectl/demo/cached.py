"""The demo's read queries wrapped in @cache.cached, and the tags that let writes drop them.

Every entry is tagged with what it shows, so a write drops exactly the entries that showed it:

    key                         ttl     tags
    dashboard:summary           60 s    orders, product-name:{id} for each top seller
    dashboard:revenue           300 s   orders
    landing:{slug}              3600 s  landing:{slug}, product:{id} for each featured product
    products:page:{page}        300 s   product:{id} for each product on the page
    users:page:{page}           120 s   user:{id} for each user on the page

A new order changes `orders`, the stock of its products and its customer's order count; a product
edit changes `product:{id}` and, only when renamed, `product-name:{id}` (the dashboard shows
names, never prices or stock); a user edit changes `user:{id}`; a landing page edit changes
`landing:{slug}`. The queries run in a worker thread, so a cold aggregation does not block the
event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from anyio import to_thread

from cachectl import AsyncCache
from cachectl.demo import queries

JSON = dict[str, Any]
ORDERS = "orders"


def product_tag(product_id: int) -> str:
    """The tag of entries showing a product's name, price or stock."""
    return f"product:{product_id}"


def product_name_tag(product_id: int) -> str:
    """The tag of entries showing only a product's name (the dashboard's top sellers)."""
    return f"product-name:{product_id}"


def user_tag(user_id: int) -> str:
    """The tag of entries showing a user."""
    return f"user:{user_id}"


def landing_tag(slug: str) -> str:
    """The tag of a landing page's entry."""
    return f"landing:{slug}"


def top_seller_tags(summary: JSON) -> list[str]:
    """The summary shows its top sellers' names."""
    return [product_name_tag(product["id"]) for product in summary["top_products"]]


def featured_tags(page: JSON) -> list[str]:
    """A landing page shows its featured products."""
    return [product_tag(product["id"]) for product in page["products"]]


def listed_product_tags(page: JSON) -> list[str]:
    """A products page shows the products on it."""
    return [product_tag(product["id"]) for product in page["items"]]


def listed_user_tags(page: JSON) -> list[str]:
    """A users page shows the users on it."""
    return [user_tag(user["id"]) for user in page["items"]]


class CachedRead(Protocol):
    """A function decorated with @cache.cached, with the handles the decorator adds."""

    def __call__(self, *args: Any) -> Awaitable[JSON]: ...

    def key(self, *args: Any) -> str: ...

    def invalidate(self, *args: Any) -> Awaitable[int]: ...


@dataclass(frozen=True, slots=True)
class ShopReads:
    """The cached read functions of one application."""

    dashboard_summary: CachedRead
    dashboard_revenue: CachedRead
    landing_page: CachedRead
    products_page: CachedRead
    users_page: CachedRead


def cached_reads(cache: AsyncCache, db_path: Path) -> ShopReads:
    """Decorate the shop's read queries with one application's cache."""
    # The ignores go once AsyncCache.cached is typed; mypy sees its result as Any for now.

    @cache.cached(
        ttl=60, prefix="dashboard", key="summary", tags=(ORDERS,), tags_from=top_seller_tags
    )
    async def dashboard_summary() -> JSON:
        return await to_thread.run_sync(partial(queries.dashboard_summary, db_path))

    @cache.cached(ttl=300, prefix="dashboard", key="revenue", tags=(ORDERS,))
    async def dashboard_revenue() -> JSON:
        return await to_thread.run_sync(partial(queries.dashboard_revenue, db_path))

    @cache.cached(
        ttl=3600, prefix="landing", key="{slug}", tags=("landing:{slug}",), tags_from=featured_tags
    )
    async def landing_page(slug: str) -> JSON:
        return await to_thread.run_sync(partial(queries.landing_page, db_path, slug))

    @cache.cached(ttl=300, prefix="products", key="page:{page}", tags_from=listed_product_tags)
    async def products_page(page: int) -> JSON:
        return await to_thread.run_sync(partial(queries.products_page, db_path, page))

    @cache.cached(ttl=120, prefix="users", key="page:{page}", tags_from=listed_user_tags)
    async def users_page(page: int) -> JSON:
        return await to_thread.run_sync(partial(queries.users_page, db_path, page))

    return ShopReads(dashboard_summary, dashboard_revenue, landing_page, products_page, users_page)
