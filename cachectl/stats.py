"""Hit/miss/latency counters per key prefix, in process and as published to Redis.

Published layout, one hash per namespace at '<namespace>#stats', every process adding its
deltas with HINCRBY so the hash is the merge of all of them:

    hits:<prefix>  misses:<prefix>  sets:<prefix>  errors:<prefix>  fallback:<prefix>
    lat:<prefix>:<bucket>      calls whose latency fell in <bucket> (see bucket_of)

Latency buckets are log-linear in microseconds: values below 32 µs have a bucket each; above,
each power of two is split in 16, so a bucket is at most 1/16 (6%) wide and histograms from
any number of processes add up exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COUNTERS = ("hits", "misses", "sets", "errors", "fallback")
MAX_PREFIXES = 1000
OTHER = "(other)"


def bucket_of(micros: int) -> int:
    """The latency bucket of a duration in microseconds."""
    if micros < 32:
        return max(micros, 0)
    bits = micros.bit_length()
    return (bits - 5) * 16 + (micros >> (bits - 5))


def bucket_bounds(index: int) -> tuple[int, int]:
    """The lowest and highest microsecond value of a bucket."""
    if index < 32:
        return index, index
    bits = index // 16 + 4
    mantissa = index % 16 + 16
    return mantissa << (bits - 5), ((mantissa + 1) << (bits - 5)) - 1


# -- the package's one percentile: nearest rank, over samples or over a histogram -------------


def rank(total: int, q: float) -> int:
    """The nearest rank (1..total) of the q-th percentile (0-100) among total values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {q}")
    return min(total, max(1, math.ceil(q / 100 * total)))


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0-100) of sorted values (not empty)."""
    if not ordered:
        raise ValueError("no values")
    return ordered[rank(len(ordered), q) - 1]


def bucket_at(counts: Iterable[tuple[int, int]], total: int, q: float) -> int:
    """The bucket holding the nearest-rank q-th percentile of a histogram, given as
    (bucket, count) pairs in bucket order that add up to total (not zero)."""
    wanted, seen = rank(total, q), 0
    for index, count in counts:
        seen += count
        if seen >= wanted:
            return index
    raise ValueError("bucket counts add up to less than the total")


def percentile_ms(buckets: Mapping[int, int], q: float) -> float | None:
    """The q-th percentile (0-100) of a latency histogram, in milliseconds."""
    total = sum(buckets.values())
    if total == 0:
        return None
    low, high = bucket_bounds(bucket_at(sorted(buckets.items()), total, q))
    return (low + high) / 2 / 1000


class Counters:
    """Mutable counters of one prefix; updated on the hot path, so plain attributes."""

    __slots__ = ("errors", "fallback", "hits", "latency", "misses", "sets")

    def __init__(self) -> None:
        self.hits = self.misses = self.sets = self.errors = self.fallback = 0
        self.latency: dict[int, int] = {}

    def observe(self, micros: int) -> None:
        """Count one call's latency."""
        index = bucket_of(micros)
        self.latency[index] = self.latency.get(index, 0) + 1


class StatsRecorder:
    """The counters of one cache instance, by prefix, and what it has published so far."""

    def __init__(self) -> None:
        self.prefixes: dict[str, Counters] = {}
        self._published: dict[bytes, int] = {}

    def counters(self, prefix: str) -> Counters:
        """The counters of a prefix, created on first use (a bounded number of prefixes)."""
        found = self.prefixes.get(prefix)
        if found is None:
            if len(self.prefixes) >= MAX_PREFIXES:
                prefix = OTHER
            found = self.prefixes.setdefault(prefix, Counters())
        return found

    def fields(self) -> dict[bytes, int]:
        """Cumulative counters in the published field layout."""
        out: dict[bytes, int] = {}
        for prefix, c in list(self.prefixes.items()):
            p = prefix.encode("utf-8", "replace")
            for name in COUNTERS:
                value = getattr(c, name)
                if value:
                    out[name.encode() + b":" + p] = value
            for index, count in list(c.latency.items()):
                out[b"lat:" + p + b":" + str(index).encode()] = count
        return out

    def take_delta(self) -> dict[bytes, int]:
        """What changed since the last take_delta; call restore_delta if publishing fails."""
        current = self.fields()
        delta = {k: v - self._published.get(k, 0) for k, v in current.items()}
        self._published = current
        return {k: v for k, v in delta.items() if v}

    def restore_delta(self, delta: Mapping[bytes, int]) -> None:
        """Forget that delta was published, so the next take_delta includes it again."""
        for key, value in delta.items():
            self._published[key] = self._published.get(key, 0) - value

    def snapshot(self) -> CacheStats:
        """This process's figures."""
        return CacheStats.from_fields(self.fields())


@dataclass(frozen=True, slots=True)
class PrefixStats:
    """Figures of one prefix (or of all, for the total)."""

    prefix: str
    hits: int = 0
    misses: int = 0
    sets: int = 0
    errors: int = 0
    fallback: int = 0
    latency: Mapping[int, int] = field(default_factory=dict)

    @property
    def hit_ratio(self) -> float | None:
        """hits / (hits + misses), or None before any read."""
        reads = self.hits + self.misses
        return self.hits / reads if reads else None

    @property
    def calls(self) -> int:
        """Timed cache calls."""
        return sum(self.latency.values())

    def percentile_ms(self, q: float) -> float | None:
        """A latency percentile in milliseconds."""
        return percentile_ms(self.latency, q)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "prefix": self.prefix,
            "hits": self.hits,
            "misses": self.misses,
            "sets": self.sets,
            "errors": self.errors,
            "fallback": self.fallback,
            "hit_ratio": self.hit_ratio,
            "calls": self.calls,
            "p50_ms": self.percentile_ms(50),
            "p90_ms": self.percentile_ms(90),
            "p99_ms": self.percentile_ms(99),
        }


def _merge(prefix: str, parts: Iterable[PrefixStats]) -> PrefixStats:
    parts = list(parts)
    latency: dict[int, int] = {}
    for part in parts:
        for index, count in part.latency.items():
            latency[index] = latency.get(index, 0) + count
    sums = {n: sum(getattr(p, n) for p in parts) for n in COUNTERS}
    return PrefixStats(prefix, latency=latency, **sums)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Per-prefix figures and their total."""

    prefixes: Mapping[str, PrefixStats]

    @property
    def total(self) -> PrefixStats:
        """All prefixes together."""
        return _merge("*", self.prefixes.values())

    def __getitem__(self, prefix: str) -> PrefixStats:
        return self.prefixes.get(prefix) or PrefixStats(prefix)

    @classmethod
    def from_fields(cls, fields: Mapping[bytes, int] | Mapping[str, int]) -> CacheStats:
        """Parse the published hash layout (unknown fields are ignored: newer writers)."""
        raw: dict[str, dict[str, Any]] = {}
        for key, value in fields.items():
            name = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
            kind, _, rest = name.partition(":")
            if kind in COUNTERS:
                raw.setdefault(rest, {})[kind] = int(value)
            elif kind == "lat":
                prefix, _, index = rest.rpartition(":")
                if index.isdigit():
                    lat = raw.setdefault(prefix, {}).setdefault("latency", {})
                    lat[int(index)] = lat.get(int(index), 0) + int(value)
        return cls({p: PrefixStats(p, **v) for p, v in sorted(raw.items())})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "prefixes": [p.to_dict() for p in self.prefixes.values()],
            "total": self.total.to_dict(),
        }
