"""The steps of `cachectl demo`, as plain data: warm, stats, inspect, tag invalidation, flush.

Each step calls the same library code as the matching command; the CLI renders the results.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from cachectl.config import build_config
from cachectl.demo.environment import DemoEnvironment
from cachectl.demo.summary import summarize
from cachectl.ops.connect import Connection, connection
from cachectl.ops.record import record

INSPECTED = "dashboard:summary"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the tour: a title, a sentence of explanation, and its result."""

    title: str
    explanation: str
    kind: str  # what the result is: warm, stats, inspect, invalidation, flush, note, summary
    result: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the title, kind, explanation and the result's own JSON form."""
        return record(
            self, "title", "kind", "explanation", result=_jsonable(self.kind, self.result)
        )


def _jsonable(kind: str, result: Any) -> Any:
    if result is None:
        return None
    if kind == "flush":
        flushed, selection = result
        return {
            "selection": selection.label,
            "removed": flushed.removed,
            "seconds": flushed.seconds,
        }
    if kind == "invalidation":
        return dataclasses.asdict(result)
    return result.to_dict()


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What one write endpoint removed from the cache, compared with what it left."""

    request: str
    removed: list[str]
    kept: int
    header: str | None


def endpoints_file() -> Path:
    """The reference application's endpoint list, shipped in the package."""
    return Path(str(resources.files("cachectl.demo") / "endpoints.txt"))


def _entries(conn: Connection) -> set[str]:
    from cachectl.keys import display_name
    from cachectl.ops.selection import entries

    found: set[str] = set()
    for glob in entries(conn.keys).globs:
        for batch in conn.backend.scan(glob):
            found.update(display_name(conn.keys.app(k)) for k in batch)
    return found


def tour(env: DemoEnvironment) -> Iterator[Step]:
    """Run the tour against a started environment, one step at a time."""
    from cachectl.ops.flush import delete
    from cachectl.ops.inspect import inspect_key
    from cachectl.ops.selection import select
    from cachectl.ops.stats import collect
    from cachectl.warm import WarmOptions, warm

    config = build_config(
        env.redis_url, namespace=env.namespace, socket_timeout=2.0, connect_timeout=2.0
    )
    # One request at a time: a latency with requests queued in the one application worker
    # would measure the queue, not the cache.
    report = warm([endpoints_file()], WarmOptions(base_url=env.app_url, concurrency=1))
    if report.interrupted:
        raise KeyboardInterrupt  # warm() returns what it measured on Ctrl-C; the demo stops
    yield Step(
        "cachectl warm --concurrency 1",
        "Pass 1 fills the cache (cold: real SQL over a year of orders); pass 2 is answered "
        "from Redis. One request at a time, so each figure is one request's latency.",
        "warm",
        report,
    )
    with httpx.Client(base_url=env.app_url, timeout=30) as client:
        summary = summarize(report, client)
    with connection(config) as conn:
        # The application publishes its stats every second; let one interval pass.
        time.sleep(1.2)
        yield Step(
            "cachectl stats",
            "Hit ratio and latency per prefix, as every process of the application published "
            "them, with key counts and memory.",
            "stats",
            collect(conn),
        )
        key = _inspectable(conn)
        if key is None:
            yield Step(
                "cachectl inspect",
                "Nothing to inspect: the application could not store anything in Redis (it "
                "served from its in-memory fallback).",
                "note",
                None,
            )
        else:
            yield Step(
                f"cachectl inspect {key}",
                "The stored value decoded: header, lz4, msgpack; its TTL and tags.",
                "inspect",
                inspect_key(conn, key),
            )
        before = _entries(conn)
        product = _first_product(env)
        with httpx.Client(base_url=env.app_url, timeout=10) as client:
            response = client.patch(
                f"/api/v1/inventory/products/{product}", json={"price_cents": 999, "stock": 42}
            )
            response.raise_for_status()
        after = _entries(conn)
        yield Step(
            f"PATCH /api/v1/inventory/products/{product}",
            f"Updating one product invalidates the tag product:{product}: exactly the pages "
            "that show it, nothing else.",
            "invalidation",
            Invalidation(
                f"PATCH /api/v1/inventory/products/{product}",
                sorted(before - after),
                len(after),
                response.headers.get("x-cache-invalidated"),
            ),
        )
        selection = select(conn.keys, prefix="dashboard")
        yield Step(
            "cachectl flush --prefix dashboard --yes",
            "Deletes the dashboard entries in batches (SCAN + UNLINK), nothing else.",
            "flush",
            (delete(conn, selection), selection),
        )
    yield Step(
        "summary",
        "What the cache did for the shop, measured one request at a time.",
        "summary",
        summary,
    )


def _inspectable(conn: Connection) -> str | None:
    """The dashboard summary, or, if the application could not store it, any entry there is."""
    from cachectl.ops.selection import existing

    if existing(conn, [conn.keys.full(INSPECTED)]):
        return INSPECTED
    present = sorted(_entries(conn))
    return present[0] if present else None


def _first_product(env: DemoEnvironment) -> int:
    with httpx.Client(base_url=env.app_url, timeout=10) as client:
        page = client.get("/api/v1/inventory/products", params={"page": 1})
        page.raise_for_status()
        return int(page.json()["items"][0]["id"])
