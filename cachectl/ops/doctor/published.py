"""The namespace's published stats as the doctor reads them: figures, age, and degradation.

The stats hash is given EXPIRE STATS_TTL on every publish of any process, so STATS_TTL minus
its remaining TTL is the time since the last publish. Breaker openings and owed invalidations
are the namespace-wide counters of layout 2 (cachectl.stats): without '#layout' no publisher
wrote them, and they are "not published" rather than zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachectl.ops.connect import Connection
from cachectl.stats import STATS_TTL, CacheStats

#: The layout from which breaker openings and owed invalidations are published.
DEGRADATION_LAYOUT = 2


@dataclass(frozen=True, slots=True)
class Published:
    """What the namespace's stats hash says."""

    stats: CacheStats
    exists: bool
    age_seconds: float | None  # since the last publish; None: unknown (no expiry on the hash)

    @property
    def degradation_published(self) -> bool:
        """Whether a publisher wrote the breaker and owed-invalidation counters."""
        return self.stats.layout >= DEGRADATION_LAYOUT


def read(conn: Connection) -> Published:
    """The published stats of the namespace, with the time since the last publish."""
    key = conn.keys.stats_key
    fields = conn.backend.read_counters(key)
    age = None
    if fields:
        pttl = conn.client.pttl(key)
        if isinstance(pttl, int) and 0 <= pttl <= STATS_TTL * 1000:
            age = STATS_TTL - pttl / 1000
    return Published(CacheStats.from_fields(fields), bool(fields), age)
