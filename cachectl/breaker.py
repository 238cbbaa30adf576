"""The circuit breaker and the invalidations owed to Redis while it was unreachable. No I/O.

closed: every call goes to Redis. open: every call is served by the in-memory fallback, and
every write or deletion it serves is owed to Redis as a deletion. Once Redis answers a probe
the breaker drains (reported as half-open): writes and deletions go to Redis again (a write
overwrites what an owed deletion of its key would remove, so it owes nothing), the owed
deletions are replayed, and a read goes to Redis only when no owed deletion could cover its
key; the others are served by the fallback, which every write and deletion keeps up to date
from the outage on. No new debt means the replay converges, whatever the write rate; the
breaker closes once nothing is owed or being replayed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cachectl.keys import glob_match


class BreakerState(StrEnum):
    """Where calls go: Redis (closed), the fallback store (open), or both while recovering
    (half-open: a probe is running, or owed invalidations are being replayed)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Breaker:
    """Counts consecutive failures; opens at the threshold; probes later, then drains."""

    def __init__(self, threshold: int = 3, recovery_interval: float = 1.0) -> None:
        self.threshold = threshold
        self.recovery_interval = recovery_interval
        self.closed = True  # read on every call, so a plain attribute
        self.draining = False  # Redis answered a probe; owed deletions are being replayed
        self.failures = 0
        self.opened = 0
        self._retry_at = 0.0
        self._probing = threading.Lock()

    def after_fork(self) -> None:
        """In a forked child: a probe lock no thread of the parent holds."""
        self._probing = threading.Lock()

    @property
    def state(self) -> BreakerState:
        """The current state."""
        if self.closed:
            return BreakerState.CLOSED
        if self.draining or self._probing.locked():
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def success(self) -> None:
        """A call reached Redis."""
        self.failures = 0

    def failure(self) -> bool:
        """A call failed; True when it should open the breaker: the threshold of consecutive
        failures reached while closed, or any failure while draining (Redis failing again)."""
        self.failures += 1
        return self.draining or (self.closed and self.failures >= self.threshold)

    def trip(self) -> None:
        """Open now, and probe again after the recovery interval."""
        self.closed = False
        self.draining = False
        self.opened += 1
        self._retry_at = time.monotonic() + self.recovery_interval

    def drain(self) -> None:
        """Redis answers: send writes there and replay what is owed before closing."""
        self.failures = 0
        self.draining = True
        self.closed = False

    def close(self) -> None:
        """Nothing is owed any more: every call goes to Redis."""
        self.failures = 0
        self.draining = False
        self.closed = True

    def claim_probe(self) -> bool:
        """Whether the caller should probe Redis (open, after the recovery interval) or carry on
        replaying (draining) now; at most one caller at a time does, until release_probe."""
        if self.closed or (not self.draining and time.monotonic() < self._retry_at):
            return False
        return self._probing.acquire(blocking=False)

    def retry_later(self) -> None:
        """The probe found Redis still unreachable: wait another interval."""
        self._retry_at = time.monotonic() + self.recovery_interval

    def retry_now(self) -> None:
        """Let the next claim_probe probe at once (close() does not wait for the interval)."""
        self._retry_at = 0.0

    def release_probe(self) -> None:
        """The claimed probe or replay round is over."""
        self._probing.release()


#: What one owed name costs beyond its own bytes (a set entry, a bytes object's header), about.
ENTRY_BYTES = 100


@dataclass
class Pending:
    """Deletions that Redis has not confirmed yet. They commute, so sets are enough.

    Past `limit` entries, or `max_bytes` bytes of names (each counted with ENTRY_BYTES more),
    it degrades to 'everything in the namespace', which is always safe, so that an outage
    costs a bounded amount of memory whatever the keys deleted. A batch taken for replay stays
    visible (`owes`) until it is paid or restored.
    """

    limit: int = 10_000
    keys: set[bytes] = field(default_factory=set)
    globs: set[bytes] = field(default_factory=set)
    tags: set[bytes] = field(default_factory=set)
    everything: bool = False
    replaying: Pending | None = None
    max_bytes: int = 4 * 1024 * 1024
    #: Bytes the names held take, as the bound counts them.
    size: int = 0

    def __bool__(self) -> bool:
        """Whether something is owed and not taken for replay."""
        return self.everything or bool(self.keys or self.globs or self.tags)

    def __len__(self) -> int:
        return len(self.keys) + len(self.globs) + len(self.tags)

    @property
    def settled(self) -> bool:
        """Nothing owed, nothing being replayed."""
        return not self and self.replaying is None

    def add(
        self, keys: Sequence[bytes] = (), globs: Sequence[bytes] = (), tags: Sequence[bytes] = ()
    ) -> bool:
        """Remember deletions to replay; True when they made it 'everything' now."""
        if self.everything:
            return False
        count, size = len(self), self.size
        for names, held in ((keys, self.keys), (globs, self.globs), (tags, self.tags)):
            for name in names:
                if name in held:
                    continue
                count += 1
                size += len(name) + ENTRY_BYTES
                if count > self.limit or size > self.max_bytes:
                    # Checked name by name: a call with many long keys never holds them all.
                    self._collapse()
                    return True
                held.add(name)
        self.size = size
        return False

    def _collapse(self) -> None:
        self.everything = True
        self.keys, self.globs, self.tags, self.size = set(), set(), set(), 0

    def take(self) -> Pending:
        """Move everything into a new Pending to replay; then paid, or restore on failure."""
        taken = Pending(
            self.limit,
            self.keys,
            self.globs,
            self.tags,
            self.everything,
            max_bytes=self.max_bytes,
            size=self.size,
        )
        self.keys, self.globs, self.tags, self.everything, self.size = set(), set(), set(), False, 0
        self.replaying = taken
        return taken

    def paid(self, taken: Pending) -> None:
        """Redis confirmed the replay of a taken batch."""
        if self.replaying is taken:
            self.replaying = None

    def restore(self, taken: Pending) -> None:
        """Put back deletions whose replay failed."""
        self.paid(taken)
        if taken.everything:
            self._collapse()
        else:
            self.add(list(taken.keys), list(taken.globs), list(taken.tags))

    def owed(self) -> Owed:
        """What is owed, being replayed included, by kind."""
        parts = [self] if self.replaying is None else [self, self.replaying]
        if any(part.everything for part in parts):
            return Owed(whole_namespace=True)
        return Owed(
            keys=len(set().union(*(part.keys for part in parts))),
            globs=len(set().union(*(part.globs for part in parts))),
            tags=len(set().union(*(part.tags for part in parts))),
        )

    def owes(self, key: bytes) -> bool:
        """Whether an owed or replaying deletion may cover key, so Redis may hold a value of it
        that is older than the last write or deletion: then reads must not go to Redis."""
        return self._covers(key) or (self.replaying is not None and self.replaying._covers(key))

    def _covers(self, key: bytes) -> bool:
        # Which Redis keys carry a tag is known to Redis only: an owed tag covers every key.
        if self.everything or self.tags or key in self.keys:
            return True
        return any(glob_match(glob, key) for glob in self.globs)


@dataclass(frozen=True, slots=True)
class Owed:
    """Invalidations owed to Redis, by kind: what close() could not replay (it returns this).

    Redis may still hold the values they remove, for another process to read, until those
    expire. False when nothing is owed.
    """

    keys: int = 0
    globs: int = 0
    tags: int = 0
    #: Past pending_max or pending_max_bytes, the owed deletions became the whole namespace.
    whole_namespace: bool = False

    @property
    def count(self) -> int:
        """How many invalidations are owed (the whole namespace counts as one)."""
        return self.keys + self.globs + self.tags + self.whole_namespace

    def __bool__(self) -> bool:
        return self.count > 0

    def __str__(self) -> str:
        if self.whole_namespace:
            return "the whole namespace"
        parts = [
            f"{n:,} {kind}{'s' if n != 1 else ''}"
            for n, kind in ((self.keys, "key"), (self.globs, "glob"), (self.tags, "tag"))
            if n
        ]
        return ", ".join(parts) or "nothing"
