"""Hit/miss/latency counters per key prefix, in process and as published to Redis.

Published layout, one hash per namespace at '<namespace>#stats', every process adding its
deltas so the hash is the merge of all of them:

    hits:<prefix>  misses:<prefix>  sets:<prefix>  errors:<prefix>  fallback:<prefix>
    near:<prefix>              reads answered by a process's near cache (counted in hits or
                               misses too; not timed: see docs/near-cache.md)
    near_invalidations:<prefix>  invalidations a process's near cache received for keys of
                               the prefix (every process tracking the namespace receives each)
    near_evictions:<prefix>    entries of the prefix a near cache evicted to stay in bounds
                               (the three near kinds from layout 3 on)
    lat:<prefix>:<bucket>      calls whose latency fell in <bucket> (see bucket_of)
    prefix:<prefix>            1: the prefix holds one of the MAX_PREFIXES places
    #prefixes                  how many places are taken

Namespace-wide fields, from layout 2 on (a reader that knows no layout skips them):

    #layout      3: the highest layout a publisher has written (kept, never added up)
    #opened      times a process's breaker opened
    #owed        invalidations queued as owed to Redis while it was out (keys, globs, tags)
    #owed_all    times a process's owed invalidations overflowed pending_max or
                 pending_max_bytes and became the whole namespace

A counter at 0 is not written, so without '#layout' these are unknown rather than 0.

Near caches (docs/near-cache.md) also publish, each process its own, a snapshot of what they
hold, in a sorted set of their own at '<namespace>#near': one member per process,

    <token>|<state>|<entries>|<bytes>|<flushes>

scored with the unix ms until which it counts (NEAR_TTL after its last publish: a process that
exits unclosed drops out then), at most MAX_NEAR_PROCESSES of them (the soonest to expire go
first). A reader sums the members that still count (NearSummary) and skips unusable ones.

Latency buckets are log-linear in microseconds: values below 32 µs have a bucket each; above,
each power of two is split in 16, so a bucket is at most 1/16 (6%) wide and histograms from
any number of processes add up exactly.

Bounds, so that neither a process nor the hash grows with the keys an application uses:
- a process counts at most MAX_PREFIXES prefixes of at most MAX_PREFIX_BYTES; calls on any
  other prefix are counted under OTHER;
- the hash holds at most MAX_PREFIXES prefixes whatever the number of processes: past it, a
  publisher adds a new prefix's figures to OTHER (decided on the server, in one script);
- the hash expires STATS_TTL seconds after the last publish of any process;
- a reader skips and counts (CacheStats.skipped) every field it cannot trust: not an integer,
  negative, an unknown kind, a name that is not the layout's or not UTF-8.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cachectl import forksafe
from cachectl.keys import KEY_ERRORS

COUNTERS = (
    "hits",
    "misses",
    "sets",
    "errors",
    "fallback",
    "near",
    "near_invalidations",
    "near_evictions",
)
#: Prefixes counted by one process, and held by the published hash across processes.
MAX_PREFIXES = 1000
#: Longer prefixes (a key without ':' is its own prefix) are counted under OTHER.
MAX_PREFIX_BYTES = 200
#: Where figures of the prefixes past the bounds go.
OTHER = "(other)"
#: Seconds the published hash lives after the last publish of any process (a day).
STATS_TTL = 86_400
#: The bucket of the largest latency a 64-bit counter of microseconds holds.
MAX_BUCKET = 959
#: Bookkeeping fields of the published hash.
PLACES_FIELD = b"#prefixes"
PLACE_KIND = b"prefix"
#: The layout this version publishes, and its namespace-wide counters (see the docstring).
LAYOUT = 3
LAYOUT_FIELD = b"#layout"
NAMESPACE_COUNTERS = {b"#opened": "opened", b"#owed": "owed", b"#owed_all": "owed_all"}
#: What a backend reads when the stats key is not a hash: a field no reader can use.
NOT_A_HASH = b"#not-a-hash"
#: A delta a process publishes: field name (the layout above) -> amount to add.
Delta = Mapping[bytes, int]

_COUNTER_KINDS = frozenset(name.encode() for name in COUNTERS)
_INTEGER = re.compile(rb"0|[1-9][0-9]{0,18}")
_MAX_COUNT = 2**63 - 1


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

    __slots__ = (
        "errors",
        "fallback",
        "hits",
        "latency",
        "misses",
        "near",
        "near_evictions",
        "near_invalidations",
        "sets",
    )

    def __init__(self) -> None:
        self.hits = self.misses = self.sets = self.errors = self.fallback = 0
        self.near = self.near_invalidations = self.near_evictions = 0
        self.latency: dict[int, int] = {}

    def observe(self, micros: int) -> None:
        """Count one call's latency."""
        index = bucket_of(micros)
        self.latency[index] = self.latency.get(index, 0) + 1


class StatsRecorder:
    """The counters of one cache instance, by prefix, and what it has published so far."""

    def __init__(self) -> None:
        self.prefixes: dict[str, Counters] = {}
        #: Namespace-wide counters (see NAMESPACE_COUNTERS): breaker openings, owed
        #: invalidations queued, and overflows of them into the whole namespace.
        self.opened = self.owed = self.owed_all = 0
        self._published: dict[bytes, int] = {}
        # Publishers of several faces (a Cache and an AsyncCache) may share one recorder.
        self._lock = threading.Lock()
        forksafe.register(self)

    def after_fork(self) -> None:
        """In a forked child: a lock no thread of the parent holds."""
        self._lock = threading.Lock()

    def counters(self, prefix: str) -> Counters:
        """The counters of a prefix, created on first use (a bounded number of prefixes)."""
        found = self.prefixes.get(prefix)
        if found is None:
            if (
                len(self.prefixes) >= MAX_PREFIXES
                or len(prefix.encode("utf-8", "replace")) > MAX_PREFIX_BYTES
            ):
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
        for field_name, attribute in NAMESPACE_COUNTERS.items():
            total = getattr(self, attribute)
            if total:
                out[field_name] = total
        return out

    def take_delta(self) -> dict[bytes, int]:
        """What changed since the last take_delta (with the layout it follows, whenever
        something did); call restore_delta if publishing fails."""
        with self._lock:
            current = self.fields()
            delta = {k: v - self._published.get(k, 0) for k, v in current.items()}
            self._published = current
        changed = {k: v for k, v in delta.items() if v}
        if changed:
            # Each publish says so: the hash may have expired since this process last did.
            changed[LAYOUT_FIELD] = LAYOUT
        return changed

    def restore_delta(self, delta: Mapping[bytes, int]) -> None:
        """Forget that delta was published, so the next take_delta includes it again."""
        with self._lock:
            for key, value in delta.items():
                if key != LAYOUT_FIELD:
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
    #: Reads the near cache answered (in hits or misses too), invalidations the near caches
    #: received for keys of the prefix, and their entries evicted.
    near: int = 0
    near_invalidations: int = 0
    near_evictions: int = 0
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
            "near": self.near,
            "near_invalidations": self.near_invalidations,
            "near_evictions": self.near_evictions,
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
class NearStats:
    """A near cache's figures in one process: its state, size and what happened to it.

    state is 'on' (serving), 'starting' (tracking being established: reads go to Redis),
    'off' (tracking refused: see reason; the near cache stays off), or 'closed'.
    """

    state: str
    reason: str = ""
    #: Reads it answered (hits of Redis's values and of keys known absent), and reads that
    #: went to Redis while it was on or starting.
    hits: int = 0
    misses: int = 0
    entries: int = 0
    bytes: int = 0
    max_entries: int = 0
    max_bytes: int = 0
    invalidations: int = 0
    evictions: int = 0
    flushes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "state": self.state,
            "reason": self.reason,
            "hits": self.hits,
            "misses": self.misses,
            "entries": self.entries,
            "bytes": self.bytes,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
            "invalidations": self.invalidations,
            "evictions": self.evictions,
            "flushes": self.flushes,
        }


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Per-prefix figures and their total; skipped counts published fields that were unusable.

    opened, owed and owed_all are the namespace-wide counters (see the layout above): breaker
    openings, invalidations queued as owed while Redis was out, and times those overflowed into
    the whole namespace; layout is the highest layout a publisher declared (0: none did, so
    those three are unknown rather than 0).
    """

    prefixes: Mapping[str, PrefixStats]
    skipped: int = 0
    opened: int = 0
    owed: int = 0
    owed_all: int = 0
    layout: int = 0
    #: The process's near cache (cache.stats() only; None when near_cache is off).
    near: NearStats | None = None

    @property
    def total(self) -> PrefixStats:
        """All prefixes together."""
        return _merge("*", self.prefixes.values())

    def __getitem__(self, prefix: str) -> PrefixStats:
        return self.prefixes.get(prefix) or PrefixStats(prefix)

    # Without these, `"p" in stats` and `for p in stats` would fall back to __getitem__(0),
    # (1), ... which never raises: a loop without end.
    def __contains__(self, prefix: object) -> bool:
        return prefix in self.prefixes

    def __iter__(self) -> Iterator[str]:
        return iter(self.prefixes)

    @classmethod
    def from_fields(
        cls, fields: Mapping[bytes, bytes | int] | Mapping[str, bytes | int | str]
    ) -> CacheStats:
        """Parse the published hash; fields that do not fit the layout are skipped and counted.

        Past MAX_PREFIXES prefixes (a hash written before the bound, or by someone else), the
        figures of the others are added to OTHER.
        """
        raw: dict[str, dict[str, Any]] = {}
        wide: dict[str, Any] = {}  # opened, owed, owed_all, layout: ints
        skipped = 0
        for key, value in fields.items():
            name = key.encode("utf-8", KEY_ERRORS) if isinstance(key, str) else key
            if name == LAYOUT_FIELD or name in NAMESPACE_COUNTERS:
                count = _count(value)
                if count is None:
                    skipped += 1
                else:
                    wide[NAMESPACE_COUNTERS.get(name, "layout")] = count
                continue
            parsed = _parse_field(key, value)
            if parsed is None:
                skipped += 1
                continue
            kind, prefix, bucket, count = parsed
            if not kind:
                continue  # bookkeeping
            if prefix not in raw and prefix != OTHER and len(raw) - (OTHER in raw) >= MAX_PREFIXES:
                prefix = OTHER
            figures = raw.setdefault(prefix, {})
            if bucket is None:
                figures[kind] = figures.get(kind, 0) + count
            else:
                lat = figures.setdefault("latency", {})
                lat[bucket] = lat.get(bucket, 0) + count
        return cls({p: PrefixStats(p, **v) for p, v in sorted(raw.items())}, skipped, **wide)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "prefixes": [p.to_dict() for p in self.prefixes.values()],
            "total": self.total.to_dict(),
            "skipped_fields": self.skipped,
            "opened": self.opened,
            "owed": self.owed,
            "owed_all": self.owed_all,
            "layout": self.layout,
            "near": None if self.near is None else self.near.to_dict(),
        }


def _count(value: bytes | int | str) -> int | None:
    """A published count: an integer from 0 to 2**63-1, else None."""
    if isinstance(value, int):
        return value if 0 <= value <= _MAX_COUNT else None
    data = value.encode() if isinstance(value, str) else value
    return int(data) if _INTEGER.fullmatch(data) and int(data) <= _MAX_COUNT else None


def _parse_field(
    key: bytes | str, value: bytes | int | str
) -> tuple[str, str, int | None, int] | None:
    """(kind, prefix, bucket or None, count) of a published field; kind '' for bookkeeping;
    None for a field that does not fit the layout."""
    name = key.encode("utf-8", KEY_ERRORS) if isinstance(key, str) else key
    if len(name) > MAX_PREFIX_BYTES + 32:
        return None
    count = _count(value)
    if name == PLACES_FIELD:
        return ("", "", None, 0) if count is not None else None
    kind, colon, rest = name.partition(b":")
    if not colon:
        return None
    try:
        text = rest.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if kind == PLACE_KIND:
        return ("", "", None, 0) if b":" not in rest else None
    if count is None:
        return None
    if kind in _COUNTER_KINDS and b":" not in rest:
        return kind.decode(), text, None, count
    if kind == b"lat":
        prefix, _, index = text.rpartition(":")
        if ":" not in prefix and index.isascii() and index.isdigit():
            bucket = int(index)
            if bucket <= MAX_BUCKET and str(bucket) == index:
                return "lat", prefix, bucket, count
    return None


def split_field(name: bytes) -> tuple[bytes, bytes, bytes]:
    """(kind, prefix, rest) of a field a recorder wrote: kind + b':' + prefix + rest."""
    kind, _, tail = name.partition(b":")
    if kind == b"lat":
        prefix, colon, index = tail.rpartition(b":")
        return kind, prefix, colon + index
    return kind, tail, b""


def add_fields(
    stored: MutableMapping[bytes, int], delta: Mapping[bytes, int], max_prefixes: int
) -> None:
    """Add a recorder's delta to a published hash held in memory (what PUBLISH_SCRIPT does)."""
    places = stored.get(PLACES_FIELD, 0)
    other = OTHER.encode()
    for name, value in delta.items():
        if name.startswith(b"#"):  # namespace-wide: no prefix, no place
            if name == LAYOUT_FIELD:
                stored[name] = max(stored.get(name, 0), value)
            else:
                stored[name] = stored.get(name, 0) + value
            continue
        kind, prefix, rest = split_field(name)
        if len(prefix) > MAX_PREFIX_BYTES:
            prefix = other
        elif prefix != other and PLACE_KIND + b":" + prefix not in stored:
            if places < max_prefixes:
                stored[PLACE_KIND + b":" + prefix] = 1
                places += 1
            else:
                prefix = other
        target = kind + b":" + prefix + rest
        stored[target] = stored.get(target, 0) + value
    stored[PLACES_FIELD] = places


# -- the near caches' snapshots (the sorted set at '<namespace>#near') ---------------------------

#: Seconds a process's near-cache snapshot counts after it was published, at the least.
NEAR_TTL = 30
#: Processes one namespace's snapshot set holds at most.
MAX_NEAR_PROCESSES = 1000
#: The states a snapshot may name (a closed near cache removes its member).
NEAR_STATES = ("on", "starting", "off")
_TOKEN = re.compile(rb"[0-9a-f]{32}")


def near_key(namespace: str) -> bytes:
    """The key of a namespace's near-cache snapshots."""
    return namespace.encode() + b"#near"


def near_member(token: str, stats: NearStats) -> bytes:
    """A process's snapshot, as a member of the set (empty for a closed near cache)."""
    if stats.state not in NEAR_STATES:
        return b""
    return f"{token}|{stats.state}|{stats.entries}|{stats.bytes}|{stats.flushes}".encode()


@dataclass(frozen=True, slots=True)
class NearSummary:
    """The near caches of the processes that published lately: how many in each state, what
    they hold, and how often they were flushed since each started; skipped counts members
    that were unusable (or 1 when the key holds something else)."""

    processes: int = 0
    on: int = 0
    starting: int = 0
    off: int = 0
    entries: int = 0
    bytes: int = 0
    flushes: int = 0
    skipped: int = 0

    @classmethod
    def from_members(cls, members: Iterable[object] | None) -> NearSummary:
        """Sum the members (None: the key is not a sorted set)."""
        if members is None:
            return cls(skipped=1)
        states = dict.fromkeys(NEAR_STATES, 0)
        entries = size = flushes = skipped = 0
        for member in members:
            parts: list[Any] = member.split(b"|") if type(member) is bytes else []
            figures = parts[2:]
            if (
                len(parts) != 5
                or not _TOKEN.fullmatch(parts[0])
                or parts[1].decode("ascii", "replace") not in states
                or not all(_INTEGER.fullmatch(f) and int(f) <= _MAX_COUNT for f in figures)
            ):
                skipped += 1
                continue
            states[parts[1].decode()] += 1
            entries += int(figures[0])
            size += int(figures[1])
            flushes += int(figures[2])
        on, starting, off = states.values()
        return cls(on + starting + off, on, starting, off, entries, size, flushes, skipped)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "processes": self.processes,
            "on": self.on,
            "starting": self.starting,
            "off": self.off,
            "entries": self.entries,
            "bytes": self.bytes,
            "flushes": self.flushes,
            "skipped": self.skipped,
        }
