"""The Advice view's diagnosis: `cachectl doctor --json` (ops.doctor.diagnose), read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from cachectl.contrib.fastapi.errors import bad_request
from cachectl.contrib.fastapi.models import MAX_KEY
from cachectl.contrib.fastapi.state import Admin
from cachectl.keys import to_bytes
from cachectl.ops.doctor import DEFAULT_SAMPLE, MAX_SAMPLE, diagnose

router = APIRouter()


@router.get("/api/doctor")
async def doctor(
    admin: Admin,
    prefix: str | None = Query(None, max_length=MAX_KEY),
    sample: int = Query(DEFAULT_SAMPLE, ge=1, le=MAX_SAMPLE),
) -> dict[str, Any]:
    """The namespace's findings, worst first, as `cachectl doctor --json` gives them (the
    shape is in docs/doctor.md); an empty prefix is none. A namespace or prefix with nothing
    in it is the finding 'empty', not an error."""
    label = prefix or None
    if label is not None and not to_bytes(label).rstrip(b":"):
        raise bad_request("prefix needs a non-empty prefix")
    diagnosis = await admin.run(diagnose, label, sample)
    return diagnosis.to_dict()
