"""`cachectl doctor`: what is wrong with a namespace's cache, with figures and what to do.

    census     one SCAN of the namespace per primary: entries per prefix, tag sets, a sample
    probe      type, TTL, memory, size and encoding of the sampled entries
    published  the stats hash: figures, time since the last publish, breaker fields
    settings   each primary's memory limit, policy, evictions, fragmentation, round trip
    usage      findings from the published stats (hit ratio, reads, latency, fallback, age)
    entries    findings from the sample (TTLs, big values, compression, unreadable values)
    tags       tag sets too big to invalidate quickly
    model      Finding, Diagnosis and their JSON shape (docs/doctor.md)

Read-only, and every step on the server is bounded as flush's are: SCAN asks for STEP_COUNT
keys a call, and the sampled keys are read PROBE_BATCH at a time (one script call, or a
pipeline where scripts may not run).
"""

from __future__ import annotations

import time

from cachectl.keys import prefix_of, to_bytes
from cachectl.ops.connect import Connection
from cachectl.ops.doctor import census, entries, probe, published, settings, tags, usage
from cachectl.ops.doctor.model import (
    SEVERITIES,
    Affected,
    Diagnosis,
    Figure,
    Finding,
    Sample,
    Scope,
    Severity,
    ordered,
    rank,
)

__all__ = [
    "DEFAULT_SAMPLE",
    "MAX_SAMPLE",
    "SEVERITIES",
    "Affected",
    "Diagnosis",
    "Figure",
    "Finding",
    "Sample",
    "Scope",
    "Severity",
    "diagnose",
    "rank",
]

#: Entries whose type, TTL, memory and header are read, by default.
DEFAULT_SAMPLE = 5000
#: The largest sample a caller may ask for (`--sample`, the router's ?sample=).
MAX_SAMPLE = 1_000_000


def _empty(conn: Connection, label: str | None) -> Finding:
    where = f"namespace '{conn.keys.namespace}'"
    if label is not None:
        where = f"prefix '{label}' of {where}"
    return Finding(
        "empty",
        "warning",
        "namespace" if label is None else "prefix",
        conn.keys.namespace if label is None else label,
        f"Nothing under {where}: no entries, tag sets or published stats",
        (Figure("entries", "entries", 0), Figure("tag_sets", "tag sets", 0)),
        "Check --namespace (cachectl namespaces lists those on the server) and --prefix: a "
        "diagnosis of nothing proves nothing.",
    )


def diagnose(
    conn: Connection, prefix: str | None = None, sample: int = DEFAULT_SAMPLE
) -> Diagnosis:
    """Examine the namespace (or one prefix of it) and return every finding, worst first."""
    start = time.perf_counter()
    label = None if prefix is None else prefix_of(to_bytes(prefix).rstrip(b":"))
    facts = settings.read(conn)
    stats = published.read(conn)
    found = census.take(conn, sample, prefix)
    sampled = probe.read(conn, [key for _label, key in found.sample])
    groups = entries.profiles(found.counts, found.sample, sampled, conn.keys.ns)
    all_findings = [
        *settings.findings(facts),
        *usage.findings(stats, groups, facts, conn.cluster, conn.keys.namespace, label),
        *entries.findings(groups, facts, conn.config.compress_threshold, conn.keys.namespace),
    ]
    if prefix is None:
        all_findings += tags.findings(conn, found.tag_sets, facts)
    published_prefix = label is None or label in stats.stats
    if not found.entries and not found.tag_sets_total and not (stats.exists and published_prefix):
        all_findings.append(_empty(conn, label))
    notes = settings.notes(facts)
    if stats.exists and not stats.degradation_published:
        notes.append(
            "Breaker openings and owed invalidations: not published by the version of "
            "cachectl that wrote the stats."
        )
    if stats.exists and stats.age_seconds is None:
        notes.append("Time since the last publish: unknown (the stats hash has no expiry).")
    if stats.stats.skipped:
        skipped = stats.stats.skipped
        notes.append(f"{skipped:,} fields of the stats hash were not usable and skipped.")
    if prefix is not None:
        notes.append("Tag sets are not examined with --prefix (they belong to the namespace).")
    if found.tag_sets_total > len(found.tag_sets):
        notes.append(
            f"Sizes read of the first {len(found.tag_sets):,} of {found.tag_sets_total:,} "
            "tag sets only."
        )
    kept, omitted = ordered(all_findings)
    scope = Scope(
        primaries=len(conn.primaries()),
        entries=found.entries,
        tag_sets=found.tag_sets_total,
        prefixes=len(found.counts),
        sampled=len(sampled),
        sample_limit=sample,
        seconds=time.perf_counter() - start,
    )
    return Diagnosis(
        conn.config.display_url,
        conn.keys.namespace,
        conn.cluster,
        prefix,
        scope,
        kept,
        tuple(facts),
        tuple(notes),
        omitted,
    )
