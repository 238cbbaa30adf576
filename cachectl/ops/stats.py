"""Cache figures per prefix: what the library publishes, plus key counts and sampled memory.

Key counts come from a SCAN of the namespace on every primary. Past max_scan keys examined
on a primary the scan stops and the counts are extrapolated from the share of that
primary's keyspace covered (SCAN visits the hash table in an order unrelated to key names),
and the report says so. Memory is MEMORY USAGE of a sample of keys per prefix times the count.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis.exceptions

from cachectl.keys import prefix_of, to_bytes
from cachectl.ops.connect import Connection
from cachectl.ops.record import record
from cachectl.ops.selection import SCAN_COUNT, existing, scan_ahead
from cachectl.ops.server import ServerInfo, key_counts, server_info
from cachectl.stats import (
    MAX_PREFIX_BYTES,
    MAX_PREFIXES,
    OTHER,
    CacheStats,
    NearSummary,
    PrefixStats,
    near_key,
)

#: Keys examined per primary before counts are extrapolated.
MAX_SCAN = 1_000_000
#: Keys per prefix whose MEMORY USAGE is read.
SAMPLE = 32


@dataclass(frozen=True, slots=True)
class PrefixRow:
    """One prefix: published figures, key count and estimated memory."""

    prefix: str
    stats: PrefixStats
    keys: int
    memory: int | None  # estimated bytes; None when no key was sampled
    sampled: int

    @property
    def vacant(self) -> bool:
        """Nothing stored under the prefix and nothing published for it: a mistyped name."""
        s = self.stats
        return not (self.keys or s.hits or s.misses or s.sets or s.errors or s.fallback or s.calls)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {**self.stats.to_dict(), "keys": self.keys, "memory": self.memory}


@dataclass(frozen=True, slots=True)
class StatsReport:
    """Servers and prefixes of one namespace."""

    url: str
    namespace: str
    cluster: bool
    servers: list[ServerInfo]
    prefixes: list[PrefixRow]
    total: PrefixStats
    keys_exact: bool
    skipped_fields: int = 0  # fields of the published hash that were not usable
    #: What could not be measured for the prefixes, and why (MEMORY USAGE refused or renamed);
    #: each server says its own (ServerInfo.note).
    notes: tuple[str, ...] = ()
    #: The near caches' snapshots (None: no process published one lately).
    near: NearSummary | None = None

    def below(self, ratio: float) -> list[PrefixRow]:
        """Prefixes that have been read and whose hit ratio is under ratio."""
        return [
            row
            for row in self.prefixes
            if row.stats.hit_ratio is not None and row.stats.hit_ratio < ratio
        ]

    @property
    def total_memory(self) -> int | None:
        """The prefixes' estimated memory summed; None when none was estimated."""
        estimates = [row.memory for row in self.prefixes if row.memory is not None]
        return sum(estimates) if estimates else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        keys = sum(row.keys for row in self.prefixes)
        return record(
            self,
            "url",
            "namespace",
            "cluster",
            servers=[server.to_dict() for server in self.servers],
            prefixes=[row.to_dict() for row in self.prefixes],
            total={**self.total.to_dict(), "keys": keys, "memory": self.total_memory},
            keys_exact=self.keys_exact,
            skipped_fields=self.skipped_fields,
            notes=list(self.notes),
            near=None if self.near is None else self.near.to_dict(),
        )


@dataclass
class _Tally:
    """Keys per prefix, and the first keys of each prefix, for memory sampling.

    Besides the published prefixes (known), at most MAX_PREFIXES are told apart (a keyspace
    where every key is its own first segment would otherwise make a row, and a sample, per
    key); the others count as OTHER.
    """

    known: frozenset[str] = frozenset()

    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[bytes]] = field(default_factory=dict)
    exact: bool = True
    labels: dict[bytes, str] = field(default_factory=dict)

    def label(self, head: bytes) -> str:
        found = self.labels.get(head)
        if found is None:
            found = prefix_of(head)
            if found not in self.known and (
                len(head) > MAX_PREFIX_BYTES
                or (found not in self.samples and len(self.samples) >= MAX_PREFIXES)
            ):
                found = OTHER
            self.samples.setdefault(found, [])
            if len(self.labels) < 4 * MAX_PREFIXES:
                self.labels[head] = found
        return found

    def add(self, conn: Connection, keys: list[bytes]) -> Counter[str]:
        # First segments found by one regex over the joined batch, in C; Python work per
        # distinct segment only, so that a million keys cost about what their SCAN does.
        ns = conn.keys.ns
        skip = len(ns)
        joined = b"\n".join(keys)
        heads: Counter[bytes] = Counter()
        if joined.count(b"\n") == len(keys) - 1:  # no key holds a newline
            heads.update(_heads(ns).findall(joined))
        if heads.total() != len(keys):  # a newline in a key, or a key outside the namespace
            heads = Counter(
                [(key[skip:] if key.startswith(ns) else key).partition(b":")[0] for key in keys]
            )
        seen: Counter[str] = Counter()
        needy: dict[bytes, list[bytes]] = {}
        for head, n in heads.items():
            label = self.label(head)
            seen[label] += n
            picked = self.samples[label]
            if len(picked) < SAMPLE:
                needy[head] = picked
        for key in keys if needy else ():
            head = (key[skip:] if key.startswith(ns) else key).partition(b":")[0]
            wanting = needy.get(head)
            if wanting is not None:
                if len(wanting) < SAMPLE:  # several segments may share a label (OTHER)
                    wanting.append(key)
                if len(wanting) >= SAMPLE:
                    del needy[head]
                    if not needy:
                        break
        return seen


@functools.lru_cache(maxsize=16)
def _heads(ns: bytes) -> re.Pattern[bytes]:
    """Matches the first segment of every line that is a key of the namespace."""
    return re.compile(rb"^" + re.escape(ns) + rb"([^:\n]*)", re.MULTILINE)


def _count(
    conn: Connection,
    globs: list[bytes],
    named: list[bytes],
    sizes: dict[str, int],
    max_scan: int,
    known: frozenset[str],
) -> _Tally:
    tally = _Tally(known)
    tally.counts.update(tally.add(conn, existing(conn, named)))
    for glob in globs:
        for node in conn.primaries():
            seen: Counter[str] = Counter()
            steps = scan_ahead(conn, node.name, glob)
            with contextlib.closing(steps):  # a scan stopped early gives its connection back
                for calls, (done, keys) in enumerate(steps, 1):
                    seen.update(tally.add(conn, keys))
                    examined = calls * SCAN_COUNT
                    if not done and examined >= max_scan:
                        covered = min(1.0, examined / max(sizes.get(node.name, examined), 1))
                        seen = Counter({p: round(n / covered) for p, n in seen.items()})
                        tally.exact = False
                        break
            tally.counts.update(seen)
    return tally


def _memory(conn: Connection, samples: dict[str, list[bytes]]) -> dict[str, tuple[int, int]]:
    """Per prefix: the summed MEMORY USAGE of its sampled keys, and how many answered."""
    pipe = conn.client.pipeline(transaction=False)
    order = [(prefix, key) for prefix, keys in samples.items() for key in keys]
    for _prefix, key in order:
        conn.memory_usage(pipe, key)
    out: dict[str, tuple[int, int]] = {}
    for (prefix, _key), size in zip(order, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(size, int):
            total, n = out.get(prefix, (0, 0))
            out[prefix] = (total + size, n + 1)
    return out


def published_stats(conn: Connection) -> CacheStats:
    """The figures every process has published for the namespace, merged."""
    return CacheStats.from_fields(conn.backend.read_counters(conn.keys.stats_key))


def collect(conn: Connection, prefix: str | None = None, max_scan: int = MAX_SCAN) -> StatsReport:
    """Servers, published figures and key counts of the namespace (or of one prefix)."""
    servers = server_info(conn)
    published = published_stats(conn)
    space = conn.keys
    if prefix is None:
        globs, named = [space.data_glob], []
    else:
        raw = to_bytes(prefix).rstrip(b":")
        globs, named = [space.prefix_globs(raw)[1]], [space.full(raw)]
    sizes = key_counts(conn, servers)
    tally = _count(conn, globs, named, sizes, max_scan, frozenset(published.prefixes))
    memory = _memory(conn, tally.samples)

    names = set(tally.counts)
    if prefix is None:
        names |= set(published.prefixes)
    else:
        names = {prefix_of(to_bytes(prefix))}
        names |= set(tally.counts)
    rows = []
    for name in sorted(names):
        keys = tally.counts.get(name, 0)
        sampled_total, sampled = memory.get(name, (0, 0))
        estimate = round(sampled_total / sampled * keys) if sampled else None
        rows.append(PrefixRow(name, published[name], keys, estimate, sampled))
    total = CacheStats({row.prefix: row.stats for row in rows}).total
    notes = [f"memory not estimated: {conn.memory_note}"] if conn.memory_note and rows else []
    near = near_summary(conn, notes)
    return StatsReport(
        conn.config.display_url,
        space.namespace,
        conn.cluster,
        servers,
        rows,
        total,
        tally.exact,
        published.skipped,
        tuple(notes),
        near,
    )


def near_summary(conn: Connection, notes: list[str]) -> NearSummary | None:
    """The near caches of the namespace, as their processes published them lately (None when
    none did, or on the embedded store, which has none; a user that may not read them adds a
    note saying so)."""
    read = getattr(conn.backend, "read_near", None)
    if read is None:
        return None
    try:
        members = read(near_key(conn.keys.namespace), int(time.time() * 1000))
    except redis.exceptions.NoPermissionError as exc:
        notes.append(f"near caches not read: {exc}")
        return None
    summary = NearSummary.from_members(members)
    return summary if summary.processes or summary.skipped else None
