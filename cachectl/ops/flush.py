"""Delete a selection in batches: the same SCAN+UNLINK and tag code the library's invalidate_* use.

Memory stays flat whatever the number of keys: one SCAN batch is held at a time, and on a
cluster every primary is scanned and each batch is unlinked grouped by hash slot.

`flush` is the operation both faces run (`cachectl flush` and the admin router): `delete` and
then one entry in the namespace's audit log, saying who, what selection and how many keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cachectl.backends.base import BatchCallback
from cachectl.errors import ConfigError
from cachectl.ops import audit
from cachectl.ops.connect import Connection
from cachectl.ops.selection import STEP_COUNT, Selection

#: The highest rate a flush may be limited to, in keys a second (`cachectl flush --rate`).
MAX_RATE = 1_000_000
#: The highest limit on the keys a flush may remove (`cachectl flush --max-keys`).
MAX_LIMIT = 1_000_000_000


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What a flush removed, and how long it took."""

    removed: int
    seconds: float

    @property
    def rate(self) -> float:
        """Keys removed per second."""
        return self.removed / self.seconds if self.seconds > 0 else 0.0


class Throttle:
    """A batch callback that sleeps so that no more than rate keys go per second."""

    def __init__(self, rate: float | None, then: BatchCallback | None = None) -> None:
        check_rate(rate)
        self.rate = rate
        self.then = then
        self.done = 0
        self.start = time.monotonic()

    def __call__(self, removed: int) -> None:
        self.done += removed
        if self.then is not None:
            self.then(removed)
        if self.rate is not None:
            ahead = self.done / self.rate - (time.monotonic() - self.start)
            if ahead > 0:
                time.sleep(ahead)


def check_rate(rate: float | None) -> None:
    """ConfigError unless rate is None or a finite number of keys a second, 1 to MAX_RATE."""
    # Written so that nan fails too (inf is past MAX_RATE).
    if rate is not None and not 1 <= rate <= MAX_RATE:
        raise ConfigError(f"rate must be a number of keys a second from 1 to {MAX_RATE:,}")


def batch_size(rate: float | None, scan_count: int = STEP_COUNT) -> int:
    """Keys per batch: large for speed, about a tenth of a second's worth when throttled."""
    check_rate(rate)
    if rate is None:
        return scan_count
    return max(1, min(scan_count, int(rate / 10)))


def delete(
    conn: Connection,
    selection: Selection,
    on_batch: BatchCallback | None = None,
    rate: float | None = None,
    scan_count: int = STEP_COUNT,
) -> FlushResult:
    """Delete every key of the selection, batch by batch; on_batch sees each batch's count."""
    if selection.raw:
        # Keys outside a namespace are for reading: a flush never reaches beyond its namespace.
        raise ConfigError(f"refusing to delete keys of {selection.label}: name a namespace")
    start = time.perf_counter()
    count = batch_size(rate, scan_count)
    callback = Throttle(rate, on_batch)
    removed = 0
    for _ in range(FAILOVER_PASSES):
        before = conn.primary_address() if conn.config.sentinel else None
        removed += _delete_once(conn, selection, callback, count)
        if before is None or conn.primary_address() == before:
            break
        # The primary changed under the flush: a SCAN cursor means nothing on another server
        # (each seeds its own hashing), and the new primary may not have had a deletion
        # replicated: the selection is deleted again, there.
    return FlushResult(removed, time.perf_counter() - start)


#: Passes of a flush over Sentinel when the primary keeps changing under it.
FAILOVER_PASSES = 3


def _delete_once(
    conn: Connection, selection: Selection, callback: BatchCallback, count: int
) -> int:
    backend = conn.backend
    removed = 0
    for i in range(0, len(selection.keys), count):
        n = backend.delete(list(selection.keys[i : i + count]))
        removed += n
        callback(n)
    if selection.globs:
        removed += backend.delete_matching(list(selection.globs), callback, count)
    if selection.tag_keys:
        removed += backend.invalidate_tags(list(selection.tag_keys), callback, count)
    return removed


def flush(
    conn: Connection,
    selection: Selection,
    actor: audit.Actor,
    on_batch: BatchCallback | None = None,
    rate: float | None = None,
    scan_count: int = STEP_COUNT,
) -> FlushResult:
    """Delete the selection (as delete does) and record it in the audit log.

    A flush that removed nothing changed nothing and records nothing: the log would otherwise
    bring a mistyped namespace into being (namespaces lists it, for the log's lifetime). A
    flush cut short (Ctrl-C, Redis lost) that removed keys is recorded too, with what it
    removed and '(interrupted)'; its error is what the caller sees.
    """
    removed = 0

    def counted(n: int) -> None:
        nonlocal removed
        removed += n
        if on_batch is not None:
            on_batch(n)

    try:
        result = delete(conn, selection, counted, rate, scan_count)
    except BaseException:
        if removed:
            audit.record_by(conn, actor, "flush", f"{selection.label} (interrupted)", removed)
        raise
    if result.removed:
        audit.record_by(conn, actor, "flush", selection.label, result.removed)
    return result
