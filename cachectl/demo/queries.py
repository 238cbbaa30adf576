"""The SQL behind every demo endpoint; each function returns plain JSON-able data.

Read functions take a path and open their own connection, because FastAPI runs them in a thread
pool. Write functions change one thing in one transaction and return what the cache must drop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cachectl.demo.db import PAGE_SIZE, REVENUE_STATUSES, TIMESTAMP_FORMAT, connect, transaction

JSON = dict[str, Any]

_PAID = "status IN ({})".format(", ".join(f"'{s}'" for s in REVENUE_STATUSES))


class NotFound(LookupError):
    """The requested row or page does not exist."""


class OutOfStock(ValueError):
    """An order asks for more units of a product than are in stock."""


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _window(conn: sqlite3.Connection, start: str, end: str) -> JSON:
    row = conn.execute(
        f"""SELECT COUNT(*), COALESCE(SUM(total_cents), 0), COUNT(DISTINCT user_id)
            FROM orders WHERE created_at > ? AND created_at <= ? AND {_PAID}""",
        (start, end),
    ).fetchone()
    orders, revenue, customers = row[0], row[1], row[2]
    return {
        "orders": orders,
        "revenue_cents": revenue,
        "customers": customers,
        "average_order_cents": revenue // orders if orders else 0,
    }


def _change(current: int, previous: int) -> float | None:
    return round((current - previous) / previous * 100, 1) if previous else None


def _by_category(sellers: list[JSON]) -> list[JSON]:
    totals: dict[str, JSON] = {}
    for seller in sellers:
        entry = totals.setdefault(
            seller["category"], {"category": seller["category"], "units": 0, "revenue_cents": 0}
        )
        entry["units"] += seller["units"]
        entry["revenue_cents"] += seller["revenue_cents"]
    return sorted(totals.values(), key=lambda entry: (-entry["revenue_cents"], entry["category"]))


def dashboard_summary(path: str | Path, now: datetime | None = None) -> JSON:
    """Headline KPIs: last 30 days against the 30 before, the trailing year, top sellers."""
    now = now or datetime.now(UTC)
    end, d30, d60, d365 = (_stamp(now - timedelta(days=n)) for n in (0, 30, 60, 365))
    with closing(connect(path)) as conn:
        current, previous = _window(conn, d30, end), _window(conn, d60, d30)
        year = _window(conn, d365, end)
        statuses = {
            status: count
            for status, count in conn.execute(
                "SELECT status, COUNT(*) FROM orders WHERE created_at > ? AND created_at <= ? "
                "GROUP BY status ORDER BY status",
                (d30, end),
            )
        }
        # One pass over the year's order lines, by product; categories are summed from it.
        sellers = [
            dict(row)
            for row in conn.execute(
                f"""SELECT p.id, p.sku, p.name, p.category, SUM(i.quantity) AS units,
                           SUM(i.quantity * i.unit_price_cents) AS revenue_cents
                    FROM order_items i
                    JOIN orders o ON o.id = i.order_id
                    JOIN products p ON p.id = i.product_id
                    WHERE o.created_at > ? AND o.created_at <= ? AND o.{_PAID}
                    GROUP BY p.id ORDER BY revenue_cents DESC, p.id""",
                (d365, end),
            )
        ]
        new_users = conn.execute(
            "SELECT COUNT(*) FROM users WHERE created_at > ? AND created_at <= ?", (d30, end)
        ).fetchone()[0]
    return {
        "generated_at": end,
        "last_30_days": current,
        "previous_30_days": previous,
        "change_percent": {
            key: _change(current[key], previous[key])
            for key in ("orders", "revenue_cents", "customers")
        },
        "trailing_year": year,
        "orders_by_status_30_days": statuses,
        "new_users_30_days": new_users,
        "top_products": sellers[:10],
        "revenue_by_category": _by_category(sellers),
    }


def dashboard_revenue(path: str | Path, now: datetime | None = None) -> JSON:
    """Revenue over time: the last twelve months by month and country, the last 90 days by day."""
    now = now or datetime.now(UTC)
    end, d90, d365 = (_stamp(now - timedelta(days=n)) for n in (0, 90, 365))
    with closing(connect(path)) as conn:
        months = [
            dict(row)
            for row in conn.execute(
                f"""SELECT substr(created_at, 1, 7) AS month, COUNT(*) AS orders,
                           SUM(total_cents) AS revenue_cents,
                           COUNT(DISTINCT user_id) AS customers
                    FROM orders WHERE created_at > ? AND created_at <= ? AND {_PAID}
                    GROUP BY month ORDER BY month""",
                (d365, end),
            )
        ]
        by_country: dict[str, dict[str, int]] = {}
        for month, country, revenue in conn.execute(
            f"""SELECT substr(o.created_at, 1, 7) AS month, u.country, SUM(o.total_cents)
                FROM orders o JOIN users u ON u.id = o.user_id
                WHERE o.created_at > ? AND o.created_at <= ? AND o.{_PAID}
                GROUP BY month, u.country ORDER BY month, u.country""",
            (d365, end),
        ):
            by_country.setdefault(month, {})[country] = revenue
        days = [
            dict(row)
            for row in conn.execute(
                f"""SELECT date(created_at) AS day, COUNT(*) AS orders,
                           SUM(total_cents) AS revenue_cents
                    FROM orders WHERE created_at > ? AND created_at <= ? AND {_PAID}
                    GROUP BY day ORDER BY day""",
                (d90, end),
            )
        ]
        refunds = conn.execute(
            """SELECT COUNT(*), COALESCE(SUM(total_cents), 0) FROM orders
               WHERE created_at > ? AND created_at <= ? AND status = 'refunded'""",
            (d365, end),
        ).fetchone()
    return {
        "generated_at": end,
        "currency": "USD",
        "monthly": months,
        "monthly_by_country": by_country,
        "daily_90_days": days,
        "refunds_trailing_year": {"orders": refunds[0], "revenue_cents": refunds[1]},
    }


def _page_info(total: int, page: int) -> JSON:
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:
        raise NotFound(f"page {page} is past the last page, {pages}")
    return {"page": page, "page_size": PAGE_SIZE, "total": total, "pages": pages}


def products_page(path: str | Path, page: int) -> JSON:
    """One page of the product catalogue, by id."""
    with closing(connect(path)) as conn:
        info = _page_info(conn.execute("SELECT COUNT(*) FROM products").fetchone()[0], page)
        rows = conn.execute(
            """SELECT id, sku, name, category, price_cents, stock, updated_at
               FROM products ORDER BY id LIMIT ? OFFSET ?""",
            (PAGE_SIZE, (page - 1) * PAGE_SIZE),
        )
        return {**info, "items": [dict(row) for row in rows]}


def users_page(path: str | Path, page: int) -> JSON:
    """One page of the admin user list, by id, with each user's order count and spend."""
    with closing(connect(path)) as conn:
        info = _page_info(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0], page)
        rows = conn.execute(
            f"""SELECT u.id, u.email, u.name, u.country, u.plan, u.is_active, u.created_at,
                       (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id) AS orders,
                       (SELECT COALESCE(SUM(total_cents), 0) FROM orders o
                        WHERE o.user_id = u.id AND o.{_PAID}) AS lifetime_value_cents
                FROM users u ORDER BY u.id LIMIT ? OFFSET ?""",
            (PAGE_SIZE, (page - 1) * PAGE_SIZE),
        )
        items = [{**row, "is_active": bool(row["is_active"])} for row in map(dict, rows)]
        return {**info, "items": items}


def landing_page(path: str | Path, slug: str) -> JSON:
    """A landing page with its featured products; NotFound for an unknown slug."""
    with closing(connect(path)) as conn:
        row = conn.execute(
            "SELECT slug, title, headline, body, updated_at FROM landing_pages WHERE slug = ?",
            (slug,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no landing page {slug!r}")
        products = [
            {**item, "in_stock": item["stock"] > 0}
            for item in map(
                dict,
                conn.execute(
                    """SELECT p.id, p.sku, p.name, p.category, p.price_cents, p.stock
                       FROM landing_page_products f JOIN products p ON p.id = f.product_id
                       WHERE f.slug = ? ORDER BY f.position""",
                    (slug,),
                ),
            )
        ]
        return {**dict(row), "products": products}


# -- writes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """A stored order and the ids whose cached views it changed."""

    order: JSON
    user_id: int
    product_ids: tuple[int, ...]


#: What may be edited of each table: the column a row is found by, the columns an edit may
#: set, and whether an edit stamps updated_at.
EDITABLE: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "users": ("id", ("email", "name", "plan", "is_active"), False),
    "products": ("id", ("name", "price_cents", "stock"), True),
    "landing_pages": ("slug", ("title", "headline", "body"), True),
}


def _update(
    conn: sqlite3.Connection, table: str, key: object, changes: Mapping[str, object]
) -> JSON:
    """Set the given columns of one row (see EDITABLE) and return the row."""
    column, editable, touch = EDITABLE[table]
    unknown = set(changes) - set(editable)
    if unknown:
        raise ValueError(f"cannot update {', '.join(sorted(unknown))} of {table}")
    values = {**changes, "updated_at": _stamp(datetime.now(UTC))} if touch else dict(changes)
    # Column names come from EDITABLE, never from the request.
    if values:
        assignments = ", ".join(f"{name} = ?" for name in values)
        conn.execute(
            f"UPDATE {table} SET {assignments} WHERE {column} = ?", (*values.values(), key)
        )
    row = conn.execute(f"SELECT * FROM {table} WHERE {column} = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(f"no {table.removesuffix('s')} {key!r}")
    return dict(row)


def update_user(path: str | Path, user_id: int, changes: Mapping[str, object]) -> JSON:
    """Change a user's profile fields; NotFound if there is no such user."""
    with transaction(path) as conn:
        user = _update(conn, "users", user_id, changes)
    return {**user, "is_active": bool(user["is_active"])}


def update_product(path: str | Path, product_id: int, changes: Mapping[str, object]) -> JSON:
    """Change a product's name, price or stock; NotFound if there is no such product."""
    with transaction(path) as conn:
        return _update(conn, "products", product_id, changes)


def update_landing_page(
    path: str | Path,
    slug: str,
    changes: Mapping[str, object],
    product_ids: Sequence[int] | None = None,
) -> JSON:
    """Change a landing page's text and, if given, its featured products, in order."""
    with transaction(path) as conn:
        page = _update(conn, "landing_pages", slug, changes)
        if product_ids is not None:
            _require_products(conn, product_ids)
            conn.execute("DELETE FROM landing_page_products WHERE slug = ?", (slug,))
            conn.executemany(
                "INSERT INTO landing_page_products VALUES (?, ?, ?)",
                [(slug, position, pid) for position, pid in enumerate(product_ids, start=1)],
            )
    return page


def _require_products(conn: sqlite3.Connection, product_ids: Sequence[int]) -> dict[int, JSON]:
    marks = ", ".join("?" * len(product_ids))
    found = {
        row["id"]: dict(row)
        for row in conn.execute(
            f"SELECT id, price_cents, stock FROM products WHERE id IN ({marks})", tuple(product_ids)
        )
    }
    missing = sorted(set(product_ids) - set(found))
    if missing:
        raise NotFound(f"no product {', '.join(map(str, missing))}")
    return found


def place_order(path: str | Path, user_id: int, lines: Mapping[int, int]) -> OrderPlaced:
    """Store an order (product id -> quantity) at today's prices and take the units from stock."""
    if not lines:
        raise ValueError("an order needs at least one product")
    with transaction(path) as conn:
        if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
            raise NotFound(f"no user {user_id}")
        products = _require_products(conn, list(lines))
        for pid, quantity in lines.items():
            if products[pid]["stock"] < quantity:
                raise OutOfStock(f"product {pid} has {products[pid]['stock']} in stock")
        total = sum(products[pid]["price_cents"] * qty for pid, qty in lines.items())
        created = _stamp(datetime.now(UTC))
        order_id = conn.execute(
            "INSERT INTO orders (user_id, status, total_cents, created_at) "
            "VALUES (?, 'paid', ?, ?)",
            (user_id, total, created),
        ).lastrowid
        conn.executemany(
            "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) "
            "VALUES (?, ?, ?, ?)",
            [(order_id, pid, qty, products[pid]["price_cents"]) for pid, qty in lines.items()],
        )
        conn.executemany(
            "UPDATE products SET stock = stock - ?, updated_at = ? WHERE id = ?",
            [(qty, created, pid) for pid, qty in lines.items()],
        )
    order = {
        "id": order_id,
        "user_id": user_id,
        "status": "paid",
        "total_cents": total,
        "created_at": created,
        "items": [
            {"product_id": pid, "quantity": qty, "unit_price_cents": products[pid]["price_cents"]}
            for pid, qty in lines.items()
        ],
    }
    return OrderPlaced(order, user_id, tuple(sorted(lines)))
