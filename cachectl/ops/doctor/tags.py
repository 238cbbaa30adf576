"""Tag sets so big that invalidating one takes long, with the time it would take.

An invalidation (Cache.invalidate_tags, cachectl flush --tag) walks a tag set BATCH members
at a time: it reads the batch (ZRANGE), unlinks those entries and their tags records on each
primary, then drops the batch from the set. The estimate adds up, per batch:

- the read, measured: one ZRANGE of the set's first BATCH members, timed here;
- a round trip per primary for the unlinks and one for the drop, measured: PING's p50;
- the server's time to delete each entry and its record, derived from flush's step budget
  (STEP_COUNT keys in at most FLUSH_STEP_SECONDS; see ops.selection).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cachectl.backends.base import BATCH
from cachectl.ops.connect import Connection
from cachectl.ops.doctor.model import Affected, Figure, Finding, NodeFacts
from cachectl.ops.selection import STEP_COUNT, per_key

#: A tag set with this many members or more is huge.
HUGE_TAG = 100_000


@dataclass(frozen=True, slots=True)
class Estimate:
    """How long invalidating one tag set would take, and from what."""

    seconds: float
    batches: int
    read_seconds: float | None  # one batch's read, measured (None: not measurable here)
    round_trip_seconds: float | None  # PING p50, measured
    server_seconds: float  # deletion on the server, from flush's step budget


#: Tag sets whose size is read per pipelined round trip.
CARD_BATCH = 1000


def sizes(conn: Connection, tag_sets: Sequence[bytes]) -> list[tuple[bytes, int]]:
    """(tag set, members) of each tag set that still exists."""
    out = []
    for start in range(0, len(tag_sets), CARD_BATCH):
        chunk = tag_sets[start : start + CARD_BATCH]
        members = per_key(conn, chunk, lambda pipe, key: pipe.zcard(key))
        for key, n in zip(chunk, members, strict=True):
            if isinstance(n, int) and n > 0:  # WRONGTYPE (someone else's key) is no tag set
                out.append((key, n))
    return out


#: What one of flush's server-side steps takes at most, in seconds (STEP_COUNT keys).
FLUSH_STEP_SECONDS = 0.006


def estimate(
    conn: Connection, tag_key: bytes, members: int, facts: Sequence[NodeFacts]
) -> Estimate:
    """The time one invalidation of tag_key would take (see the module docstring)."""
    read = None
    if not conn.memory:
        start = time.perf_counter()
        conn.client.zrange(tag_key, 0, BATCH - 1, withscores=True)
        read = time.perf_counter() - start
    trips = [node.ping_ms[0] / 1000 for node in facts if node.ping_ms is not None]
    trip = max(trips) if trips else None
    batches = math.ceil(members / BATCH)
    per_batch = (read or 0) + (len(conn.primaries()) + 1) * (trip or 0)
    server = members * 2 * FLUSH_STEP_SECONDS / STEP_COUNT  # each entry and its tags record
    return Estimate(batches * per_batch + server, batches, read, trip, server)


def findings(
    conn: Connection, tag_sets: Sequence[bytes], facts: Sequence[NodeFacts]
) -> list[Finding]:
    """A finding per huge tag set, the biggest first."""
    out = []
    huge = sorted(((n, key) for key, n in sizes(conn, tag_sets) if n >= HUGE_TAG), reverse=True)
    for members, key in huge:
        found = estimate(conn, key, members, facts)
        tag = conn.keys.tag_name(key)
        figures = (
            Figure("members", "members", members),
            Figure("seconds", "one invalidation, about", round(found.seconds, 3), "seconds"),
            Figure("batches", f"batches of {BATCH:,}", found.batches),
            Figure(
                "read_ms",
                "read of a batch (measured)",
                None if found.read_seconds is None else found.read_seconds * 1000,
                "ms",
            ),
            Figure(
                "round_trip_ms",
                "round trip (measured)",
                None if found.round_trip_seconds is None else found.round_trip_seconds * 1000,
                "ms",
            ),
            Figure(
                "server_seconds",
                "deletion on the server (flush's step budget)",
                round(found.server_seconds, 3),
                "seconds",
            ),
        )
        out.append(
            Finding(
                "huge-tag",
                "warning",
                "tag",
                tag,
                f"Tag '{tag}' has {members:,} members: one invalidation takes "
                f"~{found.seconds:.2f} s",
                figures,
                f"Split tag '{tag}' into narrower tags (per owner, per day, per page) and "
                "invalidate those: the call that invalidates it waits for every batch, and "
                "the entries it removes are missed all at once afterwards.",
                Affected("tag", (tag,), 1),
            )
        )
    return out
