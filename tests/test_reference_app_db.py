"""The demo shop's database: deterministic generation, reuse on disk, and the write queries."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cachectl.demo import db, queries

SIZES = {"users": 120, "products": 80, "orders": 1_500}


def _generate(path: Path, **overrides: int) -> Path:
    return db.ensure_database(path, **{**SIZES, **overrides})


def _dump(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


def _scalar(path: Path, sql: str, *params: object) -> Any:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchone()[0]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return _generate(tmp_path / "shop.sqlite3")


def test_generation_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a.sqlite3")
    second = _generate(tmp_path / "b.sqlite3")
    other_seed = _generate(tmp_path / "c.sqlite3", seed=7)

    assert _dump(first) == _dump(second)
    assert _dump(first) != _dump(other_seed)


def test_generated_sizes_and_shape(shop: Path) -> None:
    for table, count in (
        ("users", 120),
        ("products", 80),
        ("orders", 1_500),
        ("landing_pages", len(db.landing_slugs())),
    ):
        assert _scalar(shop, f"SELECT COUNT(*) FROM {table}") == count
    today = datetime.now(UTC).date()
    first, last = (
        datetime.fromisoformat(_scalar(shop, f"SELECT {fn}(created_at) FROM orders"))
        for fn in ("MIN", "MAX")
    )
    assert today - timedelta(days=366) <= first.date() and last.date() < today
    mismatched = _scalar(
        shop,
        """
        SELECT COUNT(*) FROM orders o WHERE total_cents != (
            SELECT SUM(quantity * unit_price_cents) FROM order_items i WHERE i.order_id = o.id)""",
    )
    assert mismatched == 0
    statuses = _scalar(shop, "SELECT group_concat(DISTINCT status) FROM orders")
    assert set(statuses.split(",")) <= set(db.STATUSES)


def test_a_matching_database_is_reused(shop: Path) -> None:
    before = shop.stat()

    assert db.ensure_database(shop, **SIZES) == shop

    assert shop.stat().st_ino == before.st_ino
    assert shop.stat().st_mtime_ns == before.st_mtime_ns


def test_other_sizes_regenerate_the_file(shop: Path) -> None:
    db.ensure_database(shop, **{**SIZES, "users": 60})

    assert _scalar(shop, "SELECT COUNT(*) FROM users") == 60
    assert list(shop.parent.glob("*.tmp")) == []


def test_refresh_keeps_the_sizes_and_replaces_yesterdays_data(shop: Path) -> None:
    before = shop.stat()
    assert db.refresh_database(shop) == shop
    assert shop.stat().st_mtime_ns == before.st_mtime_ns

    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    with closing(sqlite3.connect(shop)) as conn, conn:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'data_end'", (yesterday,))
    db.refresh_database(shop)

    assert _scalar(shop, "SELECT value FROM meta WHERE name = 'data_end'") != yesterday
    assert _scalar(shop, "SELECT COUNT(*) FROM orders") == SIZES["orders"]


def test_refresh_generates_the_default_size_over_a_foreign_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "shop.sqlite3"
    path.write_bytes(b"not a database")
    calls: list[tuple[object, ...]] = []

    def ensure(*args: object, **kwargs: object) -> Path:
        calls.append((*args, *kwargs.items()))
        return path

    monkeypatch.setattr(db, "ensure_database", ensure)

    db.refresh_database(path)

    assert calls == [(path,)]


def test_sizes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        db.ensure_database(tmp_path / "shop.sqlite3", users=0)


def test_place_order_takes_stock_and_charges_todays_price(shop: Path) -> None:
    in_stock = _scalar(shop, "SELECT id FROM products WHERE stock >= 3 ORDER BY id")
    stock = _scalar(shop, "SELECT stock FROM products WHERE id = ?", in_stock)
    price = _scalar(shop, "SELECT price_cents FROM products WHERE id = ?", in_stock)

    placed = queries.place_order(shop, 5, {in_stock: 3})

    assert placed.order["total_cents"] == 3 * price
    assert placed.product_ids == (in_stock,)
    assert _scalar(shop, "SELECT stock FROM products WHERE id = ?", in_stock) == stock - 3
    assert _scalar(shop, "SELECT COUNT(*) FROM orders") == SIZES["orders"] + 1


def test_an_order_beyond_stock_changes_nothing(shop: Path) -> None:
    low = _scalar(shop, "SELECT id FROM products ORDER BY stock, id")
    other = _scalar(shop, "SELECT id FROM products WHERE stock > 0 ORDER BY id")
    stock = _scalar(shop, "SELECT stock FROM products WHERE id = ?", other)

    with pytest.raises(queries.OutOfStock, match=f"product {low}"):
        queries.place_order(shop, 5, {other: 1, low: 10_000})

    assert _scalar(shop, "SELECT stock FROM products WHERE id = ?", other) == stock
    assert _scalar(shop, "SELECT COUNT(*) FROM orders") == SIZES["orders"]


def test_updates_refuse_columns_outside_the_editable_list(shop: Path) -> None:
    with pytest.raises(ValueError, match="cannot update id of products"):
        queries.update_product(shop, 1, {"id": 99})
    with pytest.raises(queries.NotFound, match="no user 9999"):
        queries.update_user(shop, 9999, {"name": "Nobody"})
