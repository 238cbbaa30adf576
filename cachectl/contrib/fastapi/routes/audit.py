"""The audit log: every flush, delete and TTL change, newest first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from cachectl.contrib.fastapi.state import Admin
from cachectl.ops import audit

router = APIRouter()


@router.get("/api/audit")
async def audit_log(admin: Admin, limit: int = Query(100, ge=1, le=audit.LIMIT)) -> dict[str, Any]:
    """The last limit entries of the audit log, newest first."""
    entries = await admin.run(audit.read, limit)
    return {"entries": [entry.to_dict() for entry in entries]}
