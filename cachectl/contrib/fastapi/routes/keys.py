"""The key browser: pages of keys, the biggest keys, one key decoded; and, admin only, a key
deleted or its TTL changed (audited)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from cachectl.contrib.fastapi.auth import CHANGES, Caller
from cachectl.contrib.fastapi.models import MAX_KEY, Filter, TtlRequest, app_key
from cachectl.contrib.fastapi.state import Admin
from cachectl.ops import audit, edit
from cachectl.ops.connect import Connection
from cachectl.ops.inspect import display_key, inspect_key
from cachectl.ops.listing import KeyInfo, page, top_keys
from cachectl.ops.preview import hexdump

router = APIRouter()


@router.get("/api/keys")
async def keys(
    admin: Admin,
    where: Filter,
    cursor: str | None = Query(None, max_length=100),
    count: int = Query(100, ge=1, le=1000),
    sort: Literal["name", "ttl", "memory"] = "name",
) -> dict[str, Any]:
    """One page of a selection's keys by SCAN cursor, sorted within the page."""

    def run(conn: Connection) -> dict[str, Any]:
        found = page(conn, where.selection(conn), cursor, count, sort)
        return {
            "label": found.selection,
            "keys": [_row(r) for r in found.rows],
            "cursor": found.cursor,
            "count": len(found.rows),
            "sort": sort,
            "sorted": "within this page",
        }

    return await admin.run(run)


@router.get("/api/keys/top")
async def top(admin: Admin, where: Filter, n: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
    """The n biggest keys of a selection (a full SCAN)."""

    def run(conn: Connection) -> dict[str, Any]:
        listing = top_keys(conn, where.selection(conn), n)
        return {
            "label": listing.selection,
            "keys": [_row(r) for r in listing.rows],
            "matched": listing.matched,
            "n": n,
        }

    return await admin.run(run)


@router.get("/api/key")
async def get_key(
    admin: Admin,
    key: str | None = Query(None, max_length=MAX_KEY),
    key_hex: str | None = Query(None, max_length=2 * MAX_KEY),
) -> dict[str, Any]:
    """The `cachectl inspect KEY --json` document, with a hex dump of a binary value."""
    found = await admin.run(inspect_key, app_key(key, key_hex))
    out = found.to_dict()
    out["key_hex"] = found.key.hex()
    if found.error is not None or (
        found.encoding is not None and found.encoding.serializer == "binary"
    ):
        out["hexdump"] = hexdump(found.head)
    return out


@router.delete("/api/key", dependencies=CHANGES)
async def delete_key(
    admin: Admin,
    who: Caller,
    key: str | None = Query(None, max_length=MAX_KEY),
    key_hex: str | None = Query(None, max_length=2 * MAX_KEY),
) -> dict[str, Any]:
    """Delete one key (admin; audited)."""
    raw = app_key(key, key_hex)

    def run(conn: Connection) -> int:
        removed = edit.delete_key(conn, raw)
        label = f"key {display_key(raw)!r} in {conn.keys.where}"
        audit.record_by(conn, who, "delete", label, removed)
        return removed

    return {"removed": await admin.run(run)}


@router.post("/api/key/ttl", dependencies=CHANGES)
async def set_ttl(admin: Admin, who: Caller, body: TtlRequest) -> dict[str, Any]:
    """Set or remove one key's TTL (admin; audited); 404 for a missing key."""
    raw = app_key(body.key, body.key_hex)

    def run(conn: Connection) -> int | None:
        ttl_ms = edit.set_ttl(conn, raw, body.ttl)
        after = "no expiry" if body.ttl is None else f"ttl {body.ttl:g}s"
        label = f"key {display_key(raw)!r} in {conn.keys.where}: {after}"
        audit.record_by(conn, who, "ttl", label, 1)
        return ttl_ms

    ttl_ms = await admin.run(run)
    return {"ttl": None if ttl_ms is None else ttl_ms / 1000, "ttl_ms": ttl_ms}


def _row(row: KeyInfo) -> dict[str, Any]:
    """A listed key as the page shows it: exact bytes in key_hex, TTL in seconds."""
    out = row.to_dict()
    out["key_hex"] = row.key.hex()
    out["ttl"] = None if row.ttl_ms is None else row.ttl_ms / 1000
    return out
