"""The namespace's published stats as the doctor reads them: figures, age, and degradation.

The stats hash is given EXPIRE STATS_TTL on every publish of any process, so STATS_TTL minus
its remaining TTL is the time since the last publish.

Breaker openings and owed invalidations are read from these namespace-wide fields, where a
publisher writes them (docs/doctor.md, "Degradation"):

    #layout     2 or more: the publisher writes the fields below (a counter of 0 is omitted)
    #opened     breaker openings, summed over every process
    #owed       deletions recorded as owed to Redis while it could not be reached
    #owed_all   times the owed deletions overflowed pending_max and became "everything"

Without #layout they are "not published by this version" rather than zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachectl.ops.connect import Connection
from cachectl.stats import STATS_TTL, CacheStats

LAYOUT_FIELD = b"#layout"
OPENED_FIELD = b"#opened"
OWED_FIELD = b"#owed"
OWED_ALL_FIELD = b"#owed_all"
#: The layout version from which the degradation fields are published.
DEGRADATION_LAYOUT = 2
_FIELDS = (LAYOUT_FIELD, OPENED_FIELD, OWED_FIELD, OWED_ALL_FIELD)


@dataclass(frozen=True, slots=True)
class Degradation:
    """Breaker openings and owed invalidations over the published window."""

    opened: int
    owed: int
    owed_all: int


@dataclass(frozen=True, slots=True)
class Published:
    """What the namespace's stats hash says."""

    stats: CacheStats
    exists: bool
    age_seconds: float | None  # since the last publish; None: unknown (no expiry on the hash)
    degradation: Degradation | None  # None: not published by the writers of this hash
    skipped: int  # fields nobody can use


def _count(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
    return int(text) if text.isdigit() and len(text) <= 18 else None


def read(conn: Connection) -> Published:
    """The published stats of the namespace, with the time since the last publish."""
    key = conn.keys.stats_key
    fields = conn.backend.read_counters(key)
    ours = {name: fields.get(name) for name in _FIELDS}
    rest = {name: value for name, value in fields.items() if name not in ours}
    stats = CacheStats.from_fields(rest)
    unusable = sum(1 for name in _FIELDS if ours[name] is not None and _count(ours[name]) is None)
    age = None
    if fields:
        pttl = conn.client.pttl(key)
        if isinstance(pttl, int) and 0 <= pttl <= STATS_TTL * 1000:
            age = STATS_TTL - pttl / 1000
    layout = _count(ours[LAYOUT_FIELD])
    degradation = None
    if layout is not None and layout >= DEGRADATION_LAYOUT:
        degradation = Degradation(
            _count(ours[OPENED_FIELD]) or 0,
            _count(ours[OWED_FIELD]) or 0,
            _count(ours[OWED_ALL_FIELD]) or 0,
        )
    return Published(stats, bool(fields), age, degradation, stats.skipped + unusable)
