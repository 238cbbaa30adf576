"""Flushes: a plan (count and sample) first, then a flush confirmed by typing, its progress;
and the first /flush endpoint. Every flush is `cachectl flush --yes` (ops.flush.flush), which
writes the audit entry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from cachectl.contrib.fastapi.auth import CHANGES, Caller
from cachectl.contrib.fastapi.models import (
    MAX_KEY,
    FlushRequest,
    Selector,
    flush_selection,
)
from cachectl.contrib.fastapi.state import Admin, FlushProgress
from cachectl.ops import audit
from cachectl.ops import flush as ops_flush
from cachectl.ops import selection as sel
from cachectl.ops.connect import Connection
from cachectl.ops.inspect import display_key

router = APIRouter()


@router.post("/flush", dependencies=CHANGES)
async def flush(
    request: Request,
    admin: Admin,
    who: Caller,
    prefix: str | None = None,
    tag: str | None = None,
    pattern: str | None = None,
    confirm: str | None = Query(None, max_length=MAX_KEY),
) -> dict[str, Any]:
    """?prefix=P | ?tag=T | ?pattern=GLOB: how many keys were removed (admin); a selection of
    the whole namespace also needs ?confirm=<namespace>."""
    params = request.query_params.multi_items()
    body, typed = flush_selection(params)
    result = await admin.run(_flush, body, typed, admin.progress, who, True)
    return {**{k: v for k, v in params if k != "confirm"}, "removed": result["removed"]}


@router.post("/api/flush/plan")
async def flush_plan(admin: Admin, body: Selector) -> dict[str, Any]:
    """How many keys a selection holds, a sample of them, and what to type to flush it."""

    def run(conn: Connection) -> dict[str, Any]:
        selection = body.selection(conn)
        count = sel.count(conn, selection)
        sample = [conn.keys.app(k) for k in sel.sample(conn, selection)]
        return {
            "label": selection.label,
            "count": count,
            "sample": [display_key(k) for k in sample],
            "sample_hex": [k.hex() for k in sample],
            "confirm": body.confirm_text(conn, selection),
            "whole": selection.whole,
            "max_keys": body.max_keys,
            "refused": body.max_keys is not None and count > body.max_keys,
        }

    return await admin.run(run)


@router.post("/api/flush", dependencies=CHANGES)
async def api_flush(admin: Admin, who: Caller, body: FlushRequest) -> dict[str, Any]:
    """Delete a selection, confirmed by the plan's text (admin; audited)."""
    return await admin.run(_flush, body, body.confirm or "", admin.progress, who)


@router.get("/api/flush/progress")
async def flush_progress(admin: Admin) -> dict[str, Any]:
    """The running (or last) flush: keys removed of how many."""
    return admin.progress.snapshot()


def _flush(
    conn: Connection,
    body: Selector,
    confirm: str | None,
    progress: FlushProgress,
    actor: audit.Actor,
    legacy: bool = False,
) -> dict[str, Any]:
    """Delete a selection as `cachectl flush --yes [--max-keys N]` does (ops.flush.flush, which
    writes the audit entry, as it does for the command line), once confirmed.

    legacy (the /flush endpoint of old): a confirmation is asked only of a selection that covers
    the whole namespace, as ?confirm=<namespace>."""
    selection = body.selection(conn)
    expected = body.confirm_text(conn, selection)
    if (confirm is not None or selection.whole or not legacy) and confirm != expected:
        field = "the query parameter confirm" if legacy else '"confirm"'
        ask = f"to confirm, send {field} equal to {expected!r}"
        if selection.whole:
            ask = f"{selection.label} covers the whole namespace: {ask}, its name"
        raise HTTPException(status.HTTP_409_CONFLICT, f"{ask}; nothing was deleted")
    total = sel.count(conn, selection) if body.max_keys is not None else None
    if body.max_keys is not None and total is not None and total > body.max_keys:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{total} keys match ({selection.label}), more than max_keys {body.max_keys}; "
            "nothing was deleted",
        )
    if not progress.start(selection.label, total):
        raise HTTPException(status.HTTP_409_CONFLICT, "a flush is already running")
    try:
        rate = body.rate if isinstance(body, FlushRequest) else None
        result = ops_flush.flush(conn, selection, actor, on_batch=progress.tick, rate=rate)
    except BaseException as exc:
        progress.finish(str(exc) or type(exc).__name__)
        raise
    progress.finish()
    return {"removed": result.removed, "seconds": result.seconds, "label": selection.label}
