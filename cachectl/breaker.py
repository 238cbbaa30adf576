"""The circuit breaker and the invalidations owed to Redis while it was unreachable. No I/O."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    """Where calls go: Redis (closed), the fallback store (open), or one probe (half-open)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Breaker:
    """Counts consecutive failures; opens at the threshold; lets one probe through later."""

    def __init__(self, threshold: int = 3, recovery_interval: float = 1.0) -> None:
        self.threshold = threshold
        self.recovery_interval = recovery_interval
        self.closed = True  # read on every call, so a plain attribute
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
        return BreakerState.HALF_OPEN if self._probing.locked() else BreakerState.OPEN

    def success(self) -> None:
        """A call reached Redis."""
        self.failures = 0

    def failure(self) -> bool:
        """A call failed; returns True when this failure opened the breaker."""
        self.failures += 1
        if self.closed and self.failures >= self.threshold:
            self.trip()
            return True
        return False

    def trip(self) -> None:
        """Open now, and probe again after the recovery interval."""
        self.closed = False
        self.opened += 1
        self._retry_at = time.monotonic() + self.recovery_interval

    def claim_probe(self) -> bool:
        """Whether the caller should probe Redis now; at most one caller at a time does."""
        if self.closed or time.monotonic() < self._retry_at:
            return False
        return self._probing.acquire(blocking=False)

    def probe_done(self, ok: bool) -> None:
        """Report the claimed probe's outcome: close, or wait another interval."""
        if ok:
            self.closed = True
            self.failures = 0
        else:
            self._retry_at = time.monotonic() + self.recovery_interval
        self._probing.release()


@dataclass
class Pending:
    """Deletions that Redis has not seen yet. They commute, so sets are enough.

    Past `limit` entries it degrades to 'everything in the namespace', which is always safe.
    """

    limit: int = 10_000
    keys: set[bytes] = field(default_factory=set)
    globs: set[bytes] = field(default_factory=set)
    tags: set[bytes] = field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return self.everything or bool(self.keys or self.globs or self.tags)

    def __len__(self) -> int:
        return len(self.keys) + len(self.globs) + len(self.tags)

    def add(
        self,
        keys: tuple[bytes, ...] | list[bytes] = (),
        globs: tuple[bytes, ...] = (),
        tags: tuple[bytes, ...] | list[bytes] = (),
    ) -> None:
        """Remember deletions to replay."""
        if self.everything:
            return
        self.keys.update(keys)
        self.globs.update(globs)
        self.tags.update(tags)
        if len(self) > self.limit:
            self.everything = True
            self.keys.clear()
            self.globs.clear()
            self.tags.clear()

    def take(self) -> Pending:
        """Move everything into a new Pending (to replay); give it back with restore on failure."""
        taken = Pending(self.limit, self.keys, self.globs, self.tags, self.everything)
        self.keys, self.globs, self.tags, self.everything = set(), set(), set(), False
        return taken

    def restore(self, taken: Pending) -> None:
        """Put back deletions whose replay failed."""
        if taken.everything:
            self.everything = True
            self.keys.clear()
            self.globs.clear()
            self.tags.clear()
        else:
            self.add(list(taken.keys), tuple(taken.globs), list(taken.tags))
