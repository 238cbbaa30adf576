"""The demo shop's SQLite schema, its deterministic data generator, and connections.

The data covers the year before the day it is generated: users, products, orders with their
items, and landing pages. A database file is reused while its sizes, seed and schema match and
it was generated today (UTC); otherwise it is rebuilt in a temporary file and swapped in.
"""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

SCHEMA_VERSION = 1
DEFAULT_USERS = 5_000
DEFAULT_PRODUCTS = 2_000
DEFAULT_ORDERS = 200_000
DEFAULT_SEED = 20_240_601
PAGE_SIZE = 50
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    plan TEXT NOT NULL,
    is_active INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    stock INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    status TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL
);
CREATE TABLE landing_pages (
    slug TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    headline TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE landing_page_products (
    slug TEXT NOT NULL REFERENCES landing_pages(slug),
    position INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products(id),
    PRIMARY KEY (slug, position)
);
"""

# Built after the bulk insert, which is several times faster than maintaining them row by row.
INDEXES = """
CREATE INDEX orders_created_at ON orders(created_at);
CREATE INDEX orders_user_id ON orders(user_id);
CREATE INDEX order_items_order_id ON order_items(order_id);
CREATE INDEX order_items_product_id ON order_items(product_id);
CREATE INDEX landing_page_products_product_id ON landing_page_products(product_id);
"""

# fmt: off
FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Bea", "Ben", "Chen", "Chloe", "Dario", "Diego",
    "Elena", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jade", "Jonas",
    "Kai", "Kenji", "Lara", "Leo", "Lina", "Luca", "Maya", "Mila", "Nadia", "Noah", "Olga",
    "Omar", "Priya", "Rosa", "Sami", "Sara", "Tariq", "Tom", "Uma", "Vera", "Wen", "Yara", "Zoe",
)
LAST_NAMES = (
    "Abbott", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi",
    "Silva", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
)
COUNTRIES = ("US", "DE", "GB", "FR", "NL", "ES", "IT", "SE", "PL", "JP", "BR", "CA", "AU", "IN")
COUNTRY_WEIGHTS = (30, 12, 10, 8, 5, 5, 5, 3, 3, 5, 4, 4, 3, 3)
PLANS = ("free", "pro", "team")
PLAN_WEIGHTS = (70, 22, 8)
ADJECTIVES = (
    "Compact", "Classic", "Deluxe", "Everyday", "Featherweight", "Heavy-Duty", "Modular",
    "Pocket", "Pro", "Rugged", "Smart", "Studio", "Travel", "Ultra", "Vintage", "Wireless",
)
MATERIALS = (
    "Aluminium", "Bamboo", "Canvas", "Ceramic", "Copper", "Cotton", "Glass", "Leather", "Linen",
    "Oak", "Recycled", "Steel", "Walnut", "Wool",
)
# fmt: on
NOUNS = {
    "audio": ("Speaker", "Headphones", "Turntable", "Amplifier"),
    "books": ("Notebook", "Atlas", "Cookbook", "Journal"),
    "cameras": ("Tripod", "Lens Cap", "Camera Strap", "Light Meter"),
    "garden": ("Planter", "Watering Can", "Trowel", "Hose Reel"),
    "kitchen": ("Kettle", "Knife Block", "Pan", "Grinder"),
    "lighting": ("Desk Lamp", "Pendant", "Lantern", "Floor Lamp"),
    "office": ("Desk Organizer", "Monitor Stand", "Chair Mat", "Pen Set"),
    "outdoor": ("Tent", "Backpack", "Hammock", "Camp Stove"),
    "sports": ("Yoga Mat", "Kettlebell", "Jump Rope", "Water Bottle"),
    "storage": ("Shelf", "Crate", "Basket", "Drawer Unit"),
    "toys": ("Puzzle", "Building Set", "Kite", "Board Game"),
    "wearables": ("Watch", "Fitness Band", "Wallet", "Sunglasses"),
}
CATEGORIES = tuple(NOUNS)
LANDING_THEMES = (
    ("summer-sale", "Summer Sale", "Up to 40% off everything outdoors"),
    ("back-to-school", "Back to School", "Notebooks, lamps and bags for the new term"),
    ("black-friday", "Black Friday", "Our biggest price cuts of the year"),
    ("gift-guide", "Gift Guide", "Presents they will actually use"),
    ("new-arrivals", "New Arrivals", "Fresh in this week"),
    ("best-sellers", "Best Sellers", "What everyone is buying"),
    ("home-office", "Home Office", "Work from anywhere in comfort"),
    ("spring-garden", "Spring Garden", "Grow something this season"),
)
FEATURED_PER_PAGE = 12

# Orders, oldest first, move from 'delivered' to 'shipped' to 'paid' as they get recent.
STATUSES = ("paid", "shipped", "delivered", "refunded", "cancelled")
REVENUE_STATUSES = ("paid", "shipped", "delivered")

Row = tuple[object, ...]
ProductRow = tuple[int, str, str, str, int, int, str]


def landing_slugs() -> list[str]:
    """The slug of every generated landing page, in generation order."""
    return [slug for slug, _, _ in LANDING_THEMES] + [f"{c}-deals" for c in CATEGORIES]


def connect(path: str | Path) -> sqlite3.Connection:
    """A new connection with dict-like rows; open one per request, as FastAPI uses threads."""
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


@contextmanager
def transaction(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection inside one IMMEDIATE transaction: committed on success, rolled back on error."""
    with closing(connect(path)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def ensure_database(
    path: str | Path,
    *,
    users: int = DEFAULT_USERS,
    products: int = DEFAULT_PRODUCTS,
    orders: int = DEFAULT_ORDERS,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Return path, generating the database there unless a matching one from today exists."""
    if min(users, products, orders) < 1:
        raise ValueError("users, products and orders must all be at least 1")
    target = Path(path)
    today = datetime.now(UTC).date().isoformat()
    wanted = {
        "schema_version": str(SCHEMA_VERSION),
        "seed": str(seed),
        "users": str(users),
        "products": str(products),
        "orders": str(orders),
        "data_end": today,
    }
    if _read_meta(target) == wanted:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with closing(sqlite3.connect(tmp_name, isolation_level=None)) as conn:
            _generate(conn, wanted, random.Random(seed), users, products, orders)
        # Atomic, so concurrent workers never open a half-written file.
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def refresh_database(path: str | Path) -> Path:
    """Return path, regenerated if missing or stale, at the sizes and seed it was made with."""
    meta = _read_meta(Path(path)) or {}
    try:
        sizes = {name: int(meta[name]) for name in ("users", "products", "orders", "seed")}
    except (KeyError, ValueError):
        return ensure_database(path)
    return ensure_database(
        path,
        users=sizes["users"],
        products=sizes["products"],
        orders=sizes["orders"],
        seed=sizes["seed"],
    )


def _read_meta(path: Path) -> dict[str, str] | None:
    if not path.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return {name: value for name, value in conn.execute("SELECT name, value FROM meta")}
    except sqlite3.DatabaseError:
        return None


def _generate(
    conn: sqlite3.Connection,
    meta: dict[str, str],
    rng: random.Random,
    n_users: int,
    n_products: int,
    n_orders: int,
) -> None:
    end = datetime.fromisoformat(meta["data_end"]).replace(tzinfo=UTC)
    end_epoch = int(end.timestamp())
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
    conn.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)", _users(rng, n_users, end_epoch)
    )
    product_rows = _products(rng, n_products, end_epoch)
    conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?)", product_rows)
    prices = [row[4] for row in product_rows]
    orders, items = _orders(rng, n_orders, n_users, prices, end_epoch)
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", orders)
    conn.executemany("INSERT INTO order_items VALUES (NULL, ?, ?, ?, ?)", items)
    pages, featured = _landing_pages(rng, product_rows, end_epoch)
    conn.executemany("INSERT INTO landing_pages VALUES (?, ?, ?, ?, ?)", pages)
    conn.executemany("INSERT INTO landing_page_products VALUES (?, ?, ?)", featured)
    for statement in INDEXES.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")


def _stamp(epoch: float) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(epoch))


def _users(rng: random.Random, count: int, end_epoch: int) -> list[Row]:
    three_years = 3 * 365 * 86_400
    countries = rng.choices(COUNTRIES, COUNTRY_WEIGHTS, k=count)
    plans = rng.choices(PLANS, PLAN_WEIGHTS, k=count)
    rows: list[Row] = []
    for user_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{user_id}@example.com".lower()
        created = _stamp(end_epoch - rng.randrange(three_years))
        active = int(rng.random() < 0.9)
        rows.append(
            (
                user_id,
                email,
                f"{first} {last}",
                countries[user_id - 1],
                plans[user_id - 1],
                active,
                created,
            )
        )
    return rows


def _products(rng: random.Random, count: int, end_epoch: int) -> list[ProductRow]:
    rows: list[ProductRow] = []
    for product_id in range(1, count + 1):
        category = rng.choice(CATEGORIES)
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(NOUNS[category])}"
        # Log-normal prices: many items around $20-60, a long tail into the hundreds.
        price = max(199, round(rng.lognormvariate(8.0, 0.8) / 100) * 100 - 1)
        stock = rng.randrange(0, 500) if rng.random() > 0.05 else 0
        updated = _stamp(end_epoch - rng.randrange(90 * 86_400))
        rows.append((product_id, f"SKU-{product_id:06d}", name, category, price, stock, updated))
    return rows


def _orders(
    rng: random.Random, count: int, n_users: int, prices: list[int], end_epoch: int
) -> tuple[list[Row], list[Row]]:
    year = 365 * 86_400
    start = end_epoch - year
    # Business grows through the year, so later days get more orders (density ~ 1 + t).
    offsets = sorted(year * ((1 + 3 * rng.random()) ** 0.5 - 1) for _ in range(count))
    n_products = len(prices)
    orders: list[Row] = []
    items: list[Row] = []
    rand, randrange = rng.random, rng.randrange
    for order_id, offset in enumerate(offsets, start=1):
        # Heavy customers and best sellers: a power of rand() skews toward low ids.
        user_id = int(n_users * rand() ** 1.5) + 1
        total = 0
        for _ in range(1 + int(rand() * rand() * 5)):
            product_id = int(n_products * rand() ** 2) + 1
            quantity = 1 if rand() < 0.75 else randrange(2, 5)
            price = prices[product_id - 1]
            total += quantity * price
            items.append((order_id, product_id, quantity, price))
        age_days = (year - offset) / 86_400
        roll = rand()
        if roll < 0.02:
            status = "cancelled"
        elif roll < 0.05:
            status = "refunded"
        elif age_days > 7:
            status = "delivered"
        elif age_days > 2:
            status = "shipped"
        else:
            status = "paid"
        orders.append((order_id, user_id, status, total, _stamp(start + offset)))
    return orders, items


def _landing_pages(
    rng: random.Random, products: list[ProductRow], end_epoch: int
) -> tuple[list[Row], list[Row]]:
    themes = list(LANDING_THEMES) + [
        (f"{c}-deals", f"{c.title()} Deals", f"This week's best prices in {c}") for c in CATEGORIES
    ]
    by_category: dict[str, list[int]] = {}
    for row in products:
        by_category.setdefault(row[3], []).append(row[0])
    all_ids = [row[0] for row in products]
    pages: list[Row] = []
    featured: list[Row] = []
    for slug, title, headline in themes:
        category = slug.removesuffix("-deals")
        pool = by_category.get(category, all_ids) if slug.endswith("-deals") else all_ids
        chosen = rng.sample(pool, min(FEATURED_PER_PAGE, len(pool)))
        body = f"{headline}. Hand-picked by our buyers; free shipping over $50."
        pages.append((slug, title, headline, body, _stamp(end_epoch - rng.randrange(30 * 86_400))))
        featured.extend((slug, position, pid) for position, pid in enumerate(chosen, start=1))
    return pages, featured
