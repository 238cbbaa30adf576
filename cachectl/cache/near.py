"""The near cache's state: values read from Redis, kept in the process. No I/O here.

Coherence comes from Redis (backends.redis.tracking): a listener thread receives an
invalidation for every write to the namespace's keys and drops them here, and while tracking
is not established nothing is kept or served. What is kept here, and why each rule holds:

- A read that misses takes a token (begin) before its command is sent, and its reply is kept
  (keep) only if the token is still there: an invalidation, a write of this process or a flush
  that came meanwhile took it away, since the reply may be older than what they announced
  (Lettuce #3481, redis #6867: the reply and the invalidation travel on two connections).
- An entry expires when the key does in Redis: its PTTL is read in the same round trip as the
  value, and counted from before the command was sent.
- A hit returns the entry's (value, fresh-until) pair. Values of immutable types, and every
  value with shared_values, are kept decoded and returned as they are; others are kept as
  their msgpack payload (decompressed) and unpacked on each hit, so that callers never share
  a mutable object.
- Bounded by entries and by bytes (the keys, the payloads and a fixed overhead each), with
  CLOCK eviction (second chance): a hit only sets a bit, and the oldest entries whose bit is
  not set go first. It keeps LRU's hit ratio at a fraction of LRU's cost per hit (see
  bench/bench_near.py).

Hits read `entries` without the lock (a dict lookup is atomic); everything that changes the
state takes it. Every POLL_NS a hit also applies what has come on the tracking connections
itself (poll), so that an invalidation waits for no thread to be scheduled.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from cachectl import forksafe
from cachectl.api import MISS, Entry, Missing
from cachectl.codec import HAS_STAMP, Codec, fresh_until, unpack_again
from cachectl.config import NearCache
from cachectl.errors import DecodeError
from cachectl.keys import compile_glob, display_name
from cachectl.stats import Counters, NearStats, StatsRecorder

log = logging.getLogger("cachectl")

#: The expiry of an entry whose key has none in Redis (monotonic ns: never reached).
NEVER = 2**63
#: Bytes counted for an entry besides its key and payload (the entry, its dict slot, its place
#: in the eviction queue).
OVERHEAD = 200
#: A value larger than this share of max_bytes is not kept: it would evict too many others.
LARGEST_SHARE = 8
#: In-flight reads remembered at most; past it they are forgotten (their replies not kept).
MAX_PENDING = 10_000
#: Nanoseconds between two looks of the readers at the tracking connections (Near.poll).
POLL_NS = 500_000

#: Types whose values no caller can change: kept decoded and returned as they are.
IMMUTABLE = frozenset(
    {
        str,
        bytes,
        int,
        float,
        bool,
        type(None),
        Decimal,
        uuid.UUID,
        dt.datetime,
        dt.date,
        dt.time,
        dt.timedelta,
    }
)

# An entry is a list, the fields by position (read on the hot path):
#   0 expiry, monotonic ns        1 (value, fresh-until), MISS for an absent key, or None
#   2 payload to unpack, or None  3 bytes counted                 4 visited since last pass
#   5 fresh-until of a payload entry                              6 its prefix's Counters
EXPIRES, FOUND, PAYLOAD, SIZE, VISITED, STAMP, COUNTERS = range(7)


class Tracking(Protocol):
    """What keeps a near cache coherent (backends.redis.tracking.Tracker)."""

    def ensure(self) -> None:
        """Start tracking if it is not running (first use, or in a forked child)."""

    def poll(self) -> bool:
        """Apply the invalidations that have come, from the calling thread; whether all could
        be (else the near cache is not to be trusted for now)."""

    def renew(self) -> None:
        """Drop the tracking connections and establish them again."""

    def close(self) -> None:
        """Stop tracking for good."""


class Near:
    """The near cache of one Cache (an AsyncCache may share it: see CacheState.near)."""

    def __init__(self, settings: NearCache, codec: Codec) -> None:
        self.settings = settings
        self.codec = codec
        self.shared = settings.shared_values
        self.max_entries = settings.max_entries
        self.max_bytes = settings.max_bytes
        self.largest = settings.max_bytes // LARGEST_SHARE
        #: full key -> entry (see the layout above); read by hits without the lock.
        self.entries: dict[bytes, list[Any]] = {}
        #: Keys in the order they were kept, for CLOCK; entries dropped since are skipped.
        self._order: deque[tuple[bytes, list[Any]]] = deque()
        self._pending: dict[bytes, int] = {}
        self._token = 0
        self.size = 0
        self.serving = False
        self.state = "starting"
        self.reason = ""
        self.misses = self.invalidations = self.evictions = self.flushes = 0
        self.tracker: Tracking | None = None
        #: When a hit next looks at the tracking connections itself (monotonic ns).
        self.due = 0
        #: Where invalidations and evictions are counted by prefix (None: stats off), and
        #: how long the namespace's part of a full key is.
        self.recorder: StatsRecorder | None = None
        self.skip = 0
        #: Who this process is in the published snapshots, and its last one published.
        self.token = uuid.uuid4().hex
        self.published = b""
        self._lock = threading.Lock()
        forksafe.register(self)

    def after_fork(self) -> None:
        """In a forked child: nothing is served until the child's own tracking is up (the
        parent's connection is not the child's), and a lock no thread of the parent holds."""
        self._lock = threading.Lock()
        self.token, self.published = uuid.uuid4().hex, b""
        self._drop_all()
        if self.state != "off":
            self.serving = False
            self.state = "starting"

    # -- reads --------------------------------------------------------------------------------

    def poll(self, now: int) -> bool:
        """A hit's look at the tracking connections, every POLL_NS at most (see
        Tracker.poll): what has come is applied before the hit is answered. False when it
        could not be: the hit goes to Redis, and the next one looks again."""
        if not self.serving or self.tracker is None or self.tracker.poll():
            self.due = now + POLL_NS
            return True
        return False

    def fresh(self, entry: list[Any]) -> Entry:
        """A payload entry's (value, fresh-until), unpacked anew for this caller."""
        return unpack_again(entry[PAYLOAD]), entry[STAMP]

    def begin(self, full: bytes) -> int:
        """A token for a read of full about to be sent, or 0 when its reply may not be kept
        (tracking is not established: then it is started)."""
        self.misses += 1
        if not self.serving:
            if self.tracker is not None and self.state == "starting":
                self.tracker.ensure()
            return 0
        with self._lock:
            if not self.serving:
                return 0
            if len(self._pending) >= MAX_PENDING:
                self._pending.clear()
            self._token += 1
            self._pending[full] = self._token
            return self._token

    def begin_many(self, fulls: Sequence[bytes]) -> list[int]:
        """A token for each read of a multi-key read about to be sent (see begin)."""
        if not self.serving:
            self.misses += len(fulls) - 1
            return [self.begin(fulls[0]) if fulls else 0] + [0] * (len(fulls) - 1)
        with self._lock:
            if not self.serving:
                return [0] * len(fulls)
            self.misses += len(fulls)
            if len(self._pending) + len(fulls) > MAX_PENDING:
                self._pending.clear()
            tokens = []
            for full in fulls:
                self._token += 1
                self._pending[full] = self._token
                tokens.append(self._token)
            return tokens

    def keep_many(
        self,
        keys: Sequence[Any],
        fulls: Sequence[bytes],
        tokens: Sequence[int],
        decoded: Mapping[Any, Any],
        replies: Sequence[tuple[bytes | None, int]] | None,
        sent: int,
        counters: Callable[[Any], Counters],
    ) -> None:
        """keep for each key of a multi-key read (decoded: the values found, by key; replies:
        value and PTTL of each, None when the read did not reach Redis; counters: of a key's
        prefix)."""
        kept = []
        for index, full in enumerate(fulls):
            token = tokens[index]
            if not token:
                continue
            entry = None
            if replies is not None:
                data, pttl = replies[index]
                key = keys[index]
                found: Entry | Missing = MISS
                if data is not None and key in decoded:
                    found = (decoded[key], fresh_until(data) if data[2] & HAS_STAMP else None)
                entry = self._entry(full, data, found, pttl, sent, counters(key))
            kept.append((full, token, entry))
        if not kept:
            return
        if self.tracker is not None and not self.tracker.poll():  # see keep
            kept = [(full, token, None) for full, token, _ in kept]
        with self._lock:
            pending = self._pending
            for full, token, entry in kept:
                if pending.get(full) == token:
                    del pending[full]
                    if entry is not None:
                        self._put(full, entry)

    def keep(
        self,
        full: bytes,
        token: int,
        data: bytes | None,
        found: Entry | Missing,
        pttl: int | None,
        sent: int,
        counters: Counters,
    ) -> None:
        """Keep what a read found (data, decoded as found; PTTL as Redis answered it beside,
        None when the read did not reach Redis; counters: its prefix's, which a hit counts
        in), if nothing made it stale since begin."""
        entry = self._entry(full, data, found, pttl, sent, counters)
        if entry is not None and self.tracker is not None and not self.tracker.poll():
            entry = None  # what came before the reply could not be applied: not kept
        with self._lock:
            if self._pending.get(full) != token:
                return
            del self._pending[full]
            if entry is not None:
                self._put(full, entry)

    def _entry(
        self,
        full: bytes,
        data: bytes | None,
        found: Entry | Missing,
        pttl: int | None,
        sent: int,
        counters: Counters,
    ) -> list[Any] | None:
        """The entry to keep for a read, or None when there is nothing to keep."""
        if pttl is None:
            return None  # answered by the fallback, or failed
        if data is None:
            # Absent: kept as a miss, until a write of the key is announced. A PTTL that says
            # otherwise means the key changed between the two commands.
            if pttl != -2:
                return None
            return [NEVER, MISS, None, len(full) + OVERHEAD, False, None, counters]
        if isinstance(found, Missing) or pttl == -2:
            return None  # unreadable (counted by the caller), or gone since the GET
        expires = NEVER if pttl < 0 else sent + pttl * 1_000_000
        try:
            # Counted decompressed: what the value takes here, kept decoded or not.
            payload = self.codec.payload(data)
        except DecodeError:
            return None
        size = len(full) + len(payload) + OVERHEAD
        if size > self.largest:
            return None
        if self.shared or type(found[0]) in IMMUTABLE:
            return [expires, found, None, size, False, None, counters]
        return [expires, None, payload, size, False, found[1], counters]

    def _put(self, full: bytes, entry: list[Any]) -> None:
        # Under the lock. Popped first, so that the dict's order stays the order of keeping.
        old = self.entries.pop(full, None)
        if old is not None:
            self.size -= old[SIZE]
        self.entries[full] = entry
        self.size += entry[SIZE]
        self._order.append((full, entry))
        if len(self.entries) > self.max_entries or self.size > self.max_bytes:
            self._evict()
        elif len(self._order) > 2 * len(self.entries) + 1000:
            # Entries dropped since they were kept leave their place behind: start afresh.
            self._order = deque(self.entries.items())

    def _evict(self) -> None:
        """CLOCK: the oldest entry not visited since the last pass goes, until within bounds."""
        entries, order = self.entries, self._order
        while (len(entries) > self.max_entries or self.size > self.max_bytes) and order:
            full, entry = order.popleft()
            if entries.get(full) is not entry:
                continue  # dropped or kept again since
            if entry[VISITED]:
                entry[VISITED] = False
                order.append((full, entry))
                continue
            del entries[full]
            self.size -= entry[SIZE]
            self.evictions += 1
            if self.recorder is not None:
                self._count((full,), "near_evictions")

    # -- what makes entries stale -------------------------------------------------------------

    def drop(self, fulls: Iterable[bytes]) -> None:
        """This process changed these keys: their entries, and replies in flight, go."""
        with self._lock:
            self._forget(fulls)

    def _forget(self, fulls: Iterable[bytes]) -> None:
        """Under the lock: these keys' entries and the replies in flight for them go."""
        pop, pending = self.entries.pop, self._pending
        for full in fulls:
            pending.pop(full, None)
            entry = pop(full, None)
            if entry is not None:
                self.size -= entry[SIZE]

    def drop_matching(self, globs: Sequence[bytes]) -> None:
        """This process deleted what these Redis globs match."""
        matchers = [compile_glob(glob).match for glob in globs]
        with self._lock:
            self._pending.clear()  # cheaper than matching each; only a few replies lost
            gone = [full for full in self.entries if any(match(full) for match in matchers)]
            for full in gone:
                self.size -= self.entries.pop(full)[SIZE]

    def invalidated(self, fulls: Sequence[bytes] | None) -> None:
        """Redis announced writes of these keys (None: of every key, as FLUSHALL does)."""
        if fulls is None:
            self.flush()
            return
        if self.recorder is not None:
            self._count(fulls, "near_invalidations")
        with self._lock:
            self.invalidations += len(fulls)
            self._forget(fulls)

    def _count(self, fulls: Iterable[bytes], kind: str) -> None:
        """Count keys under their prefixes (as cache.helpers.prefix_of names a bytes key's)."""
        assert self.recorder is not None
        skip = self.skip
        heads = Counter([full[skip:].partition(b":")[0] for full in fulls])
        for head, n in heads.items():
            counters = self.recorder.counters(display_name(head))
            setattr(counters, kind, getattr(counters, kind) + n)

    def flush(self) -> None:
        """Drop every entry, and the replies in flight."""
        with self._lock:
            self.flushes += 1
            self._drop_all()

    def _drop_all(self) -> None:
        self.entries.clear()
        self._order.clear()
        self._pending.clear()
        self.size = 0

    # -- tracking -----------------------------------------------------------------------------

    def established(self) -> None:
        """Tracking is established: from now on replies are kept, and entries served."""
        with self._lock:
            if self.state in ("off", "closed"):
                return
            self._drop_all()
            self.serving = True
            self.state = "on"

    def lost(self, renew: bool = True) -> None:
        """Tracking is lost (or may be: the breaker opened): nothing is served or kept until it
        is established again, which renew asks of the tracker."""
        with self._lock:
            was = self.serving or bool(self.entries)
            self.serving = False
            if self.state == "on":
                self.state = "starting"
            if was:
                self.flushes += 1
            self._drop_all()
        if renew and self.tracker is not None:
            self.tracker.renew()

    def refused(self, reason: str) -> None:
        """The server refuses tracking: the near cache stays off, said once."""
        with self._lock:
            self.serving = False
            self.state = "off"
            self.reason = reason
            self._drop_all()
        log.warning("cachectl: near cache off: %s", reason)

    def close(self) -> None:
        """Stop serving and tracking."""
        with self._lock:
            self.serving = False
            self.state = "closed"
            self._drop_all()
        if self.tracker is not None:
            self.tracker.close()

    def stats(self, hits: int = 0) -> NearStats:
        """This process's figures (hits: as its cache's recorder counted them)."""
        return NearStats(
            self.state,
            self.reason,
            hits,
            self.misses,
            len(self.entries),
            self.size,
            self.max_entries,
            self.max_bytes,
            self.invalidations,
            self.evictions,
            self.flushes,
        )


def changed(
    near: Near, keys: Sequence[bytes], globs: Sequence[bytes], tags: Sequence[bytes]
) -> None:
    """This process changed keys, what globs match, and what tags name: drop what may be
    stale. Which keys carry a tag is known to Redis only, so a tag drops every entry."""
    if tags:
        near.flush()
        return
    if keys:
        near.drop(keys)
    if globs:
        near.drop_matching(globs)
