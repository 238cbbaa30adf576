"""The breaker's decisions for both faces: failures, owed deletions, the probe and the replay.

While Redis is out, calls go to the in-memory fallback and Redis is owed the deletions it has
not seen (breaker.Pending). Once a probe reaches it, writes go there again and the owed
deletions are replayed; the breaker closes when nothing is owed. The decisions are here; a face
only makes the backend calls they ask for, awaiting them or not.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Generator, Sequence
from typing import Any

from cachectl.breaker import Owed, Pending
from cachectl.cache.base import CacheState
from cachectl.stats import Counters
from cachectl.tls import failure

log = logging.getLogger("cachectl")

#: Replay rounds one caller runs before it lets the next caller carry on.
REPLAY_ROUNDS = 3
#: Seconds close() waits between two probes of a Redis that does not answer.
CLOSE_PAUSE = 0.05


class OutOfTime(Exception):
    """close_timeout is over: close()'s replay stops between two backend calls or batches."""


def in_time(deadline: float, removed: int = 0) -> None:
    """OutOfTime once deadline (time.monotonic()) is past; a batch callback of the replay."""
    if time.monotonic() > deadline:
        raise OutOfTime


#: A call a face makes for _recovery: the name of its own method, and the arguments.
Step = tuple[str, tuple[Any, ...]]


def thrown(steps: Generator[Step, None, None], exc: BaseException) -> Step | None:
    """Tell a step generator that its last call failed; its next call, or None when done."""
    try:
        return steps.throw(exc)
    except StopIteration:
        return None


class Recovery(CacheState):
    """Failures, owed deletions, the probe and the replay, decided once for both faces."""

    def _failed(self, exc: BaseException, counters: Counters | None = None) -> None:
        """Count a failed call; the breaker opens at the threshold, or at once while draining."""
        if counters is not None:
            counters.errors += 1
        if self.breaker.failure():
            self._opened(exc)

    def _owe(
        self, keys: Sequence[bytes] = (), globs: Sequence[bytes] = (), tags: Sequence[bytes] = ()
    ) -> None:
        """Remember deletions Redis has not seen (the caller then applies them to the fallback)."""
        recorder = self.recorder
        recorder.owed += len(keys) + len(globs) + len(tags)
        with self._owed_lock:
            if self.pending.add(keys, globs, tags):
                recorder.owed_all += 1
            if self.breaker.closed:
                # A call that found the breaker open finished after it closed, or a write failed
                # below the threshold: replay that debt; the fallback serves the keys it covers,
                # and holds nothing older than this moment.
                self.fallback.clear()
                self.breaker.drain()

    def _admits(self, reads: Sequence[bytes] | None) -> bool:
        """Whether a call goes to Redis while the breaker is not closed. Draining, writes and
        deletions do; a read (its full keys) does when no owed deletion covers any of them."""
        breaker = self.breaker
        if breaker.closed:
            return True
        if not breaker.draining:
            return False
        if reads is None:
            return True
        with self._owed_lock:
            owes = self.pending.owes
            return not any(owes(full) for full in reads)

    def _drain(self) -> None:
        """The probe reached Redis: writes go there from now on, and the replay starts."""
        with self._owed_lock:
            self.breaker.drain()
        log.warning("cachectl: %s answers; replaying owed invalidations", self.config.display_url)

    def _take(self) -> Pending | None:
        """The owed deletions to replay now, or None when nothing is left to replay."""
        with self._owed_lock:
            return self.pending.take() if self.pending and self.breaker.draining else None

    def _replayed(self, taken: Pending, ok: bool) -> None:
        """The replay of a taken batch reached Redis (ok), or not: then it is owed again."""
        with self._owed_lock:
            if ok:
                self.pending.paid(taken)
            else:
                self.pending.restore(taken)

    def _recovery(self, deadline: float | None = None) -> Generator[Step, None, None]:
        """The probe and the replay rounds, for both faces: yields the face's calls to make
        ("_probe", "_replay"), and is told of a failed one by a throw. With a deadline
        (close()'s), a replay stops with OutOfTime once it is past."""
        try:
            if not self.breaker.draining:
                yield ("_probe", ())
                self._drain()
            # No new debt while draining: the rounds converge. A few per caller, so that no
            # caller is held long; the next caller carries on.
            for _ in range(REPLAY_ROUNDS):
                if self._close_if_settled():
                    return
                taken = self._take()
                if taken is None:
                    return
                ok = False
                try:
                    yield ("_replay", (taken,) if deadline is None else (taken, deadline))
                    ok = True
                finally:
                    self._replayed(taken, ok)
        except self._errors as exc:
            self._probe_failed(exc)

    def _replay_calls(self, taken: Pending, deadline: float | None) -> list[Step]:
        """The backend calls that pay a taken batch of owed deletions, in order; with a
        deadline, a scan stops between two batches once it is past (OutOfTime)."""
        on_batch = None if deadline is None else functools.partial(in_time, deadline)
        calls: list[Step] = []
        if taken.everything:
            # Tags first: a write whose tag entry this removes was made before the data keys'
            # scan began, so that scan removes its key too.
            globs = [self.keys.tag_glob, self.keys.data_glob]
            calls.append(("delete_matching", (globs, on_batch)))
        calls.append(("delete", (list(taken.keys),)))
        if taken.globs:
            calls.append(("delete_matching", (list(taken.globs), on_batch)))
        calls.append(("invalidate_tags", (list(taken.tags),)))
        return calls

    # -- close(): what is owed is replayed first, for up to close_timeout -------------------

    def _close_deadline(self) -> float | None:
        """When close()'s replay of owed deletions must end; None when nothing is owed."""
        if self.pending.settled:
            return None
        self.breaker.retry_now()  # close() does not wait for recovery_interval
        return time.monotonic() + self.config.close_timeout

    def _close_waits(self, deadline: float, replayed: bool) -> float | None:
        """Before close() tries again: None when it is done (nothing owed, or out of time),
        else the seconds to pause first: none while Redis answers and this close() replays,
        CLOSE_PAUSE while Redis does not answer or another caller holds the probe."""
        left = deadline - time.monotonic()
        if self.pending.settled or left <= 0:
            return None
        self.breaker.retry_now()
        return 0.0 if replayed and self.breaker.draining else min(CLOSE_PAUSE, left)

    def _unpaid(self) -> Owed:
        """What close() leaves owed, logged once at WARNING when anything is."""
        with self._owed_lock:
            owed = self.pending.owed()
        if owed:
            log.warning(
                "cachectl: closing with %d invalidation(s) still owed to %s (%s): it did not "
                "answer within close_timeout (%gs); until the values they remove expire, another "
                "process may read them",
                owed.count,
                self.config.display_url,
                owed,
                self.config.close_timeout,
            )
        return owed

    def _close_if_settled(self) -> bool:
        """Close the breaker if nothing is owed; under the lock, so no deletion slips past."""
        with self._owed_lock:
            if not self.breaker.draining or not self.pending.settled:
                return False
            self.fallback.clear()
            self.breaker.close()
            # Said once per outage: a write refused while closed (OOM) drains without opening.
            announce = self.breaker.opened != self._announced
            self._announced = self.breaker.opened
        (log.warning if announce else log.debug)(
            "cachectl: %s is back; owed invalidations replayed", self.config.display_url
        )
        return True

    def _probe_failed(self, exc: BaseException) -> None:
        """The probe or a replay failed: Redis is unreachable again."""
        log.debug("cachectl: probe of %s failed: %s", self.config.display_url, exc)
        if self.breaker.draining:
            self._opened(exc)
        else:
            self.breaker.retry_later()

    def _opened(self, exc: BaseException) -> None:
        with self._owed_lock:
            breaker = self.breaker
            if breaker.closed:
                # The fallback starts empty at each outage: entries from an earlier one may be
                # stale. From draining it is kept: every write and deletion since the outage
                # began reached it.
                self.fallback.clear()
            elif not breaker.draining:
                return  # another caller opened it
            breaker.trip()
            self.recorder.opened += 1
        if self.near is not None:
            self.near.lost()  # tracking may have missed invalidations too: renewed
        log.warning(
            "cachectl: %s is failing (%s); serving from the in-memory fallback",
            self.config.display_url,
            failure(exc, self.config),
        )
