"""Findings from the published stats: is each prefix's cache helping, fast, and up?

The published window is the life of the namespace's stats hash: from its first publish to the
last one, which every process extends (it expires a day after the last).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cachectl.ops.doctor.entries import Profile
from cachectl.ops.doctor.model import Figure, Finding, NodeFacts
from cachectl.ops.doctor.published import Published
from cachectl.stats import PrefixStats

#: Reads of a prefix before its hit ratio is judged.
MIN_READS = 100
#: A hit ratio below this is a cache not helping.
LOW_HIT_RATIO = 0.5
#: Hits per write below this: entries expire (or are replaced) before they are read again.
MIN_HITS_PER_WRITE = 1.0
#: Writes of a prefix before "never read" is said of it.
MIN_SETS = 10
#: Hits per write a recommended TTL aims at (an 80% hit ratio when each miss is written).
TARGET_HITS_PER_WRITE = 4.0
#: Below this many hits per write, keys are read about once: no TTL makes caching pay.
READ_ONCE = 0.05
#: A recommended TTL is never longer than this (seconds: a week).
MAX_TTL = 7 * 86_400
#: Timed calls of a prefix before its latency is judged.
MIN_CALLS = 100
#: A p99 is slow above the larger of this (ms) and SLOW_FACTOR times the server's round trip.
SLOW_FLOOR_MS = 5.0
SLOW_FACTOR = 10.0
#: Mean stored size from which size explains slowness.
HEAVY_VALUE = 64 * 1024
#: Share of calls served by the fallback store from which it is a finding.
FALLBACK_SHARE = 0.01
#: Seconds since the last publish past which the stats are stale (an hour).
STALE_AFTER = 3600


def _duration(seconds: float) -> str:
    """A TTL as people write it: 45 s, 12 min, 1.5 h, 3 days."""
    for unit, span in (("days", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            value = seconds / span
            return f"{value:.1f} {unit}" if value < 10 and unit != "min" else f"{value:.0f} {unit}"
    return f"{seconds:.0f} s"


def _rates(stats: PrefixStats) -> tuple[Figure, ...]:
    reads = stats.hits + stats.misses
    return (
        Figure("hits", "hits", stats.hits),
        Figure("misses", "misses", stats.misses),
        Figure("sets", "sets", stats.sets),
        Figure("hit_ratio", "hit ratio", stats.hits / reads if reads else None, "ratio"),
        Figure(
            "hits_per_write",
            "hits per write",
            round(stats.hits / stats.sets, 3) if stats.sets else None,
            "factor",
        ),
    )


def not_helping(stats: PrefixStats, profile: Profile | None) -> Finding | None:
    """A low hit ratio, or fewer hits than writes."""
    reads = stats.hits + stats.misses
    if reads < MIN_READS:
        return None
    ratio = stats.hits / reads
    per_write = stats.hits / stats.sets if stats.sets else None
    few_hits = per_write is not None and stats.sets >= MIN_SETS and per_write < MIN_HITS_PER_WRITE
    if ratio >= LOW_HIT_RATIO and not few_hits:
        return None
    ttl = profile.typical_ttl() if profile is not None else None
    figures = _rates(stats)
    prefix = stats.prefix
    if stats.misses > 2 * max(stats.sets, 1):
        advice = (
            f"Most misses of '{prefix}' are never written back ({stats.misses:,} misses, "
            f"{stats.sets:,} sets): check that the code writes what it reads under the same "
            "key, and caches empty results too."
        )
    elif per_write is not None and per_write < READ_ONCE:
        advice = (
            f"Stop caching '{prefix}', or cache a coarser key: its entries are almost never "
            f"read again ({per_write:.2f} hits per write), so no TTL makes them pay."
        )
    elif ttl is not None and per_write is not None:
        wanted = min(ttl * TARGET_HITS_PER_WRITE / max(per_write, READ_ONCE), MAX_TTL)
        figures += (
            Figure("ttl", "TTL written with", round(ttl), "seconds", True),
            Figure("recommended_ttl", "recommended TTL", round(wanted), "seconds"),
        )
        advice = (
            f"Raise the TTL of '{prefix}' from about {_duration(ttl)} to {_duration(wanted)}: "
            f"at {per_write:.2f} hits per write, hits grow with the TTL while keys are read at "
            f"this rate, and {TARGET_HITS_PER_WRITE:g} hits per write make a hit ratio of "
            f"{TARGET_HITS_PER_WRITE / (TARGET_HITS_PER_WRITE + 1):.0%}."
        )
    else:
        advice = (
            f"Give '{prefix}' a longer TTL, or stop caching it: its entries are replaced or "
            "expire before they are read again (no sampled entry shows its TTL)."
        )
    return Finding(
        "cache-not-helping",
        "warning",
        "prefix",
        prefix,
        f"Prefix '{prefix}': hit ratio {ratio:.1%}"
        + (f", {per_write:.2f} hits per write" if per_write is not None else ""),
        figures,
        advice,
    )


def never_read(stats: PrefixStats, profile: Profile | None) -> Finding | None:
    """Written, never read: memory spent for nothing."""
    if stats.hits or stats.misses or stats.sets < MIN_SETS:
        return None
    memory = profile.memory() if profile is not None else None
    figures: tuple[Figure, ...] = _rates(stats)
    if profile is not None:
        figures += (Figure("entries", "entries", profile.count),)
        if memory is not None:
            figures += (Figure("memory", "memory", memory, "bytes", profile.estimated),)
    return Finding(
        "never-read",
        "warning",
        "prefix",
        stats.prefix,
        f"Prefix '{stats.prefix}' is written ({stats.sets:,} sets) and never read",
        figures,
        f"Stop writing '{stats.prefix}', or read it: nothing has read it in the published "
        "window, so its entries only hold memory (check that the reading code builds the "
        "same keys).",
        sample=None if profile is None or memory is None else profile.sample,
    )


def slow(
    stats: PrefixStats, profile: Profile | None, round_trip_ms: float | None, cluster: bool
) -> Finding | None:
    """A p99 far above the server's own round trip, and what makes it so."""
    p99 = stats.percentile_ms(99)
    if p99 is None or stats.calls < MIN_CALLS:
        return None
    limit = max(SLOW_FLOOR_MS, SLOW_FACTOR * (round_trip_ms or 0))
    if p99 <= limit:
        return None
    causes, fixes = [], []
    mean = profile.mean_stored() if profile is not None else None
    if mean is not None and mean >= HEAVY_VALUE:
        causes.append(f"its values average {mean / 1024:,.0f} KiB, moved and decoded each read")
        fixes.append("cache smaller values")
    if profile is not None and profile.entries:
        packed = sum(1 for e in profile.entries if e.compression != "none")
        if packed * 2 >= len(profile.entries):
            causes.append(f"{packed / len(profile.entries):.0%} of its values are decompressed")
            fixes.append("raise compress_threshold if they are small")
    if cluster:
        causes.append("a multi-key read goes to every primary holding one of its keys")
        fixes.append("read together only keys that share a hash tag")
    if not causes:
        causes.append("its values are small, so the time goes between the application and Redis")
        fixes.append(
            "look at the network distance to Redis, a saturated process or event loop, and "
            "waits for a pooled connection (max_connections)"
        )
    why = "; ".join(causes)
    figures = (
        Figure("p50_ms", "p50", stats.percentile_ms(50), "ms"),
        Figure("p99_ms", "p99", p99, "ms"),
        Figure("calls", "timed calls", stats.calls),
        Figure("round_trip_p99_ms", "server round trip p99", round_trip_ms, "ms"),
        Figure("mean_stored", "mean stored size", None if mean is None else round(mean), "bytes"),
    )
    return Finding(
        "slow-prefix",
        "warning",
        "prefix",
        stats.prefix,
        f"Prefix '{stats.prefix}': p99 {p99:,.2f} ms against a {limit:,.2f} ms bound",
        figures,
        f"{why[:1].upper()}{why[1:]}: {', and '.join(fixes)}.",
        sample=None if profile is None or mean is None else profile.sample,
    )


def fallback(stats: PrefixStats) -> Finding | None:
    """Calls served by the in-memory fallback while Redis could not be used."""
    calls = stats.hits + stats.misses + stats.sets
    if not stats.fallback or not calls or stats.fallback / calls < FALLBACK_SHARE:
        return None
    share = stats.fallback / calls
    return Finding(
        "fallback-served",
        "warning",
        "prefix",
        stats.prefix,
        f"Prefix '{stats.prefix}': {share:.1%} of calls served by the fallback store",
        (
            Figure("fallback", "fallback calls", stats.fallback),
            Figure("calls", "reads and writes", calls),
            Figure("share", "share", share, "ratio"),
            Figure("errors", "errors", stats.errors),
        ),
        "Find why Redis could not be reached (cachectl latency, the server's log, timeouts "
        "too short for the network): while the breaker is open each process serves its own "
        "copy, so processes disagree and hit ratios drop.",
    )


def degradation(published: Published, namespace: str) -> Finding | None:
    """Breaker openings and owed invalidations, where the publishers report them."""
    found = published.stats
    if not published.degradation_published or not (found.opened or found.owed or found.owed_all):
        return None
    figures = (
        Figure("opened", "breaker openings", found.opened),
        Figure("owed", "invalidations owed to Redis", found.owed),
        Figure("owed_all", "owed deletions that became the whole namespace", found.owed_all),
        Figure("fallback", "calls served by the fallback", found.total.fallback),
    )
    return Finding(
        "breaker-opened",
        "warning",
        "namespace",
        namespace,
        f"The breaker opened {found.opened:,} {'time' if found.opened == 1 else 'times'} in "
        "the published window",
        figures,
        "Find why Redis was unreachable (its log, cachectl latency, failure_threshold and "
        "timeouts too tight for the network): while it is open, writes and deletions are "
        "owed to Redis and replayed on recovery"
        + (
            ", and an overflow of owed deletions emptied the namespace on recovery."
            if found.owed_all
            else "."
        ),
    )


def stale(published: Published, namespace: str) -> Finding | None:
    """No process has published for a long time: the figures are old."""
    age = published.age_seconds
    if age is None or age < STALE_AFTER:
        return None
    return Finding(
        "stats-stale",
        "warning",
        "namespace",
        namespace,
        f"No process has published stats for {_duration(age)}",
        (
            Figure("age", "since the last publish", round(age), "seconds"),
            Figure("stale_after", "stale after", STALE_AFTER, "seconds"),
        ),
        "The hit ratios and latencies here are that old: check that the application runs "
        "with stats on (stats=True, the default) and can write to Redis; the hash expires a "
        "day after the last publish.",
    )


def missing(published: Published, namespace: str, entries: int) -> Finding | None:
    """Entries but no stats: the usage findings cannot be made."""
    if published.exists or not entries:
        return None
    return Finding(
        "stats-missing",
        "info",
        "namespace",
        namespace,
        f"Namespace '{namespace}' has entries but no published stats",
        (Figure("entries", "entries", entries),),
        "Turn stats on in the application (stats=True, the default) to have hit ratios, "
        "latency and the breaker judged; without them only the stored entries are.",
    )


def findings(
    published: Published,
    found: Mapping[str, Profile],
    facts: Sequence[NodeFacts],
    cluster: bool,
    namespace: str,
    prefix: str | None,
) -> list[Finding]:
    """Every usage finding: namespace-wide first, then per prefix, busiest first."""
    out = [
        finding
        for finding in (stale(published, namespace), degradation(published, namespace))
        if finding is not None
    ]
    trips = [node.ping_ms[1] for node in facts if node.ping_ms is not None]
    round_trip = max(trips) if trips else None
    rows = list(published.stats.prefixes.values())
    if prefix is not None:
        rows = [row for row in rows if row.prefix == prefix]
    for stats in sorted(rows, key=lambda s: (-(s.hits + s.misses + s.sets), s.prefix)):
        profile = found.get(stats.prefix)
        for finding in (
            never_read(stats, profile),
            not_helping(stats, profile),
            slow(stats, profile, round_trip, cluster),
            fallback(stats),
        ):
            if finding is not None:
                out.append(finding)
    return out
