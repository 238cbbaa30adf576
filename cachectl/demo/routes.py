"""The shop's HTTP endpoints: cached reads, and writes that drop what they changed by tag.

Each write answers with an `X-Cache-Invalidated` header: how many cached entries it removed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from cachectl import AsyncCache
from cachectl.demo import queries
from cachectl.demo.cached import (
    ORDERS,
    ShopReads,
    landing_tag,
    product_name_tag,
    product_tag,
    user_tag,
)

JSON = dict[str, Any]
INVALIDATED_HEADER = "X-Cache-Invalidated"
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

Page = Annotated[int, Query(ge=1, le=100_000, description="1-based page number, 50 per page")]
Slug = Annotated[str, PathParam(pattern=SLUG_PATTERN, max_length=80)]
Id = Annotated[int, PathParam(ge=1)]


class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def changes(self) -> JSON:
        """The fields the request set to a value."""
        return self.model_dump(exclude_unset=True, exclude_none=True)


class UserPatch(_Patch):
    """Fields of a user an admin may change."""

    name: str | None = Field(None, min_length=1, max_length=100)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200)
    plan: Literal["free", "pro", "team"] | None = None
    is_active: bool | None = None


class ProductPatch(_Patch):
    """Fields of a product the inventory team may change."""

    name: str | None = Field(None, min_length=1, max_length=200)
    price_cents: int | None = Field(None, ge=1, le=100_000_000)
    stock: int | None = Field(None, ge=0, le=1_000_000)


class LandingPagePatch(_Patch):
    """Text and featured products of a landing page."""

    title: str | None = Field(None, min_length=1, max_length=200)
    headline: str | None = Field(None, min_length=1, max_length=300)
    body: str | None = Field(None, min_length=1, max_length=20_000)
    product_ids: list[Annotated[int, Field(ge=1)]] | None = Field(None, max_length=50)


class OrderLine(BaseModel):
    """One product and how many units of it."""

    model_config = ConfigDict(extra="forbid")
    product_id: int = Field(ge=1)
    quantity: int = Field(ge=1, le=100)


class NewOrder(BaseModel):
    """An order placed by a customer."""

    model_config = ConfigDict(extra="forbid")
    user_id: int = Field(ge=1)
    items: list[OrderLine] = Field(min_length=1, max_length=50)


async def _read(call: Callable[[], Awaitable[JSON]]) -> JSON:
    try:
        return await call()
    except queries.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


async def _write(call: Callable[[], Any]) -> Any:
    try:
        return await to_thread.run_sync(call)
    except queries.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except queries.OutOfStock as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def build_router(cache: AsyncCache, reads: ShopReads, db_path: Path) -> APIRouter:
    """The shop's endpoints over one cache and database."""
    router = APIRouter(prefix="/api")

    async def invalidate(response: Response, *tags: str) -> None:
        removed = await cache.invalidate_tag(*tags) if tags else 0
        response.headers[INVALIDATED_HEADER] = str(removed)

    @router.get("/dashboard/summary", tags=["dashboard"])
    async def dashboard_summary() -> JSON:
        """Headline KPIs; an aggregation over the year's orders, cached for a minute."""
        return await _read(reads.dashboard_summary)

    @router.get("/dashboard/revenue", tags=["dashboard"])
    async def dashboard_revenue() -> JSON:
        """Revenue by month, country and day; cached for five minutes."""
        return await _read(reads.dashboard_revenue)

    @router.get("/landing-pages/{slug}", tags=["storefront"])
    async def landing_page(slug: Slug) -> JSON:
        """A landing page and its featured products; cached for an hour."""
        return await _read(partial(reads.landing_page, slug))

    @router.get("/v1/inventory/products", tags=["inventory"])
    async def products_page(page: Page = 1) -> JSON:
        """One page of the catalogue; cached for five minutes."""
        return await _read(partial(reads.products_page, page))

    @router.get("/admin/users", tags=["admin"])
    async def users_page(page: Page = 1) -> JSON:
        """One page of users with their order totals; cached for two minutes."""
        return await _read(partial(reads.users_page, page))

    @router.patch("/admin/users/{user_id}", tags=["admin"])
    async def update_user(user_id: Id, patch: UserPatch, response: Response) -> JSON:
        """Change a user; drops the users page showing them."""
        changes = patch.changes()
        user: JSON = await _write(partial(queries.update_user, db_path, user_id, changes))
        await invalidate(response, *([user_tag(user_id)] if changes else []))
        return user

    @router.patch("/v1/inventory/products/{product_id}", tags=["inventory"])
    async def update_product(product_id: Id, patch: ProductPatch, response: Response) -> JSON:
        """Change a product; drops the pages showing it, and the dashboard only if renamed."""
        changes = patch.changes()
        product: JSON = await _write(partial(queries.update_product, db_path, product_id, changes))
        tags = [product_tag(product_id)] if changes else []
        if "name" in changes:
            tags.append(product_name_tag(product_id))
        await invalidate(response, *tags)
        return product

    @router.patch("/landing-pages/{slug}", tags=["storefront"])
    async def update_landing_page(slug: Slug, patch: LandingPagePatch, response: Response) -> JSON:
        """Change a landing page's text or featured products; drops that page only."""
        changes = patch.changes()
        product_ids = changes.pop("product_ids", None)
        page: JSON = await _write(
            partial(queries.update_landing_page, db_path, slug, changes, product_ids)
        )
        touched = bool(changes) or product_ids is not None
        await invalidate(response, *([landing_tag(slug)] if touched else []))
        return page

    @router.post("/orders", status_code=status.HTTP_201_CREATED, tags=["orders"])
    async def place_order(order: NewOrder, response: Response) -> JSON:
        """Place an order; drops the dashboard, its products' pages and its customer's page."""
        lines: dict[int, int] = {}
        for line in order.items:
            lines[line.product_id] = lines.get(line.product_id, 0) + line.quantity
        placed: queries.OrderPlaced = await _write(
            partial(queries.place_order, db_path, order.user_id, lines)
        )
        tags = [ORDERS, user_tag(placed.user_id), *map(product_tag, placed.product_ids)]
        await invalidate(response, *tags)
        return placed.order

    return router
