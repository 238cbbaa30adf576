"""The admin router's endpoints, at module level in APIRouter modules, one concern each:

    status.py  /health, /stats, /latency; /api/whoami, /api/overview, /api/latency
    keys.py    /api/keys, /api/keys/top, /api/key (GET, DELETE), /api/key/ttl
    flush.py   /flush; /api/flush/plan, /api/flush, /api/flush/progress
    audit.py   /api/audit
    doctor.py  /api/doctor

Each route takes its router's state as a parameter (state.Admin); a route that changes the
cache declares dependencies=auth.CHANGES.
"""

from __future__ import annotations

from fastapi import APIRouter

from cachectl.contrib.fastapi.routes import audit, doctor, flush, keys, status

#: Every router of endpoints, in the order their routes are served.
ROUTERS: tuple[APIRouter, ...] = (
    status.router,
    keys.router,
    flush.router,
    audit.router,
    doctor.router,
)
