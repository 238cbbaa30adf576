"""Changes to the cache (writes but set's, deletions, invalidations), decided once for both faces.

A change is described by a Change: the backend method to call and its arguments. A face only
sends it to its backend, awaiting it or not (see its _change); the fallback, a MemoryStore,
has the same methods, so while Redis is out the same call is made there, and Redis is owed
the keys, globs and tags.

A write the codec refuses (a type msgpack cannot store, a value over max_value_size) is decided
here too: set, set_many and store_entry delete the key's old value (the caller meant to
replace it: no read may return it after the write failed; memcached and Django's memcached
backend do the same), then raise; add raises and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cachectl.api import Missing
from cachectl.backends.memory import MemoryStore
from cachectl.cache.helpers import checked_delta, seconds_left
from cachectl.cache.recovery import Recovery
from cachectl.errors import BackendUnavailable, SerializationError, ValueTooLarge
from cachectl.keys import Key
from cachectl.stats import Counters


@dataclass(slots=True)
class Change:
    """A change to the cache: the backend method to call and its arguments, and what the
    breaker needs to know of it."""

    method: str
    args: tuple[Any, ...]
    keys: Sequence[bytes] = ()
    globs: Sequence[bytes] = ()
    tags: Sequence[bytes] = ()
    #: Full keys whose owed deletions keep the change off Redis while recovering (None: none).
    reads: Sequence[bytes] | None = None
    counters: Counters | None = None
    #: What the fallback does with Redis's answer while recovering (None: the same call).
    mirror: Callable[[MemoryStore, Any], object] | None = None
    #: Applied to the answer from Redis or the fallback.
    done: Callable[[Any], Any] | None = None


def refusal_error(
    refused: Sequence[tuple[Key, SerializationError]], replaced: bool
) -> SerializationError:
    """The error a refused write raises: a type msgpack cannot store as the codec said it,
    values over max_value_size as one ValueTooLarge naming their keys."""
    for _, exc in refused:
        if not isinstance(exc, ValueTooLarge):
            return exc
    keys = tuple(key for key, _ in refused)
    named = ", ".join(repr(key)[:100] for key in keys[:5]) + (", ..." if len(keys) > 5 else "")
    first = refused[0][1]
    assert isinstance(first, ValueTooLarge)
    size = f"{first.size} bytes" if len(keys) == 1 else "each"
    after = "; the old value was removed" if replaced else ""
    return ValueTooLarge(
        f"not cached: {named}: {size} encoded, over max_value_size ({first.limit} bytes){after}",
        max(exc.size for _, exc in refused if isinstance(exc, ValueTooLarge)),
        first.limit,
        keys,
    )


class Changes(Recovery):
    """The changes both faces make, and what becomes of them while Redis is out."""

    def _count_sets(
        self, mapping: Mapping[Key, Any], refused: Sequence[tuple[Key, SerializationError]] = ()
    ) -> int:
        """Count a set_many's writes on each key's own prefix (so _write counts none)."""
        if self._stats_on:
            skipped = {key for key, _ in refused}
            for key in mapping:
                if key not in skipped:
                    self._counters(key).sets += 1
        return 0

    def _encode_many(
        self, mapping: Mapping[Key, Any]
    ) -> tuple[list[tuple[bytes, bytes]], list[tuple[Key, SerializationError]]]:
        """The items to write, and apart the keys whose values the codec refuses."""
        full, encode = self.keys.full, self.codec.encode
        try:
            return [(full(k), encode(v)) for k, v in mapping.items()], []
        except SerializationError:
            pass  # rare: encode each, keeping the others
        items: list[tuple[bytes, bytes]] = []
        refused: list[tuple[Key, SerializationError]] = []
        for key, value in mapping.items():
            try:
                items.append((full(key), encode(value)))
            except SerializationError as exc:
                refused.append((key, exc))
        return items, refused

    def _refusing(
        self, refused: Sequence[tuple[Key, SerializationError]], replaced: bool
    ) -> SerializationError:
        """Count refused writes as errors, log the first, and return the error to raise."""
        for key, _ in refused:
            self._counters(key).errors += 1
        error = refusal_error(refused, replaced)
        self._warn_once("refused-write", "cachectl: a write was refused: %s", error)
        return error

    def _refusal(
        self, refused: Sequence[tuple[Key, SerializationError]]
    ) -> tuple[Change, SerializationError]:
        """The deletion of refused keys' old values, and the error to raise once it is made."""
        fulls = [self.keys.full(key) for key, _ in refused]
        error = self._refusing(refused, replaced=True)
        return Change("delete", (fulls,), keys=fulls), error

    def _sent(self, change: Change, result: Any) -> Any:
        """Redis took the change; while recovering, the fallback gets it too (reads of owed
        keys are served there, and it must hold nothing older than Redis if Redis fails again)."""
        if not self.breaker.closed:
            if change.mirror is None:
                getattr(self.fallback, change.method)(*change.args)
            else:
                change.mirror(self.fallback, result)
        self._near_changed(change.keys, change.globs, change.tags)
        return result if change.done is None else change.done(result)

    def _kept(self, change: Change) -> Any:
        """Redis is out (or failed the change): the fallback takes it, and Redis owes it."""
        if change.counters is not None:
            change.counters.fallback += 1
        self._owe(change.keys, change.globs, change.tags)
        self._near_changed(change.keys, change.globs, change.tags)
        result = getattr(self.fallback, change.method)(*change.args)
        return result if change.done is None else change.done(result)

    def _add_change(self, key: Key, value: Any, ttl: float | None, tags: Iterable[str]) -> Change:
        try:
            data = self.codec.encode(value)
        except SerializationError as exc:
            # Nothing to delete: add would not have replaced a value that is there.
            raise self._refusing([(key, exc)], replaced=False) from None
        full, counters = self.keys.full(key), self._counters(key)
        ttl_ms, tag_keys = self._ttl_ms(ttl), self._tag_keys(tags)

        def mirror(store: MemoryStore, added: bool) -> None:
            if added:
                store.set_many([(full, data)], ttl_ms, tag_keys)

        def counted(added: bool) -> bool:
            counters.sets += added
            return added

        return Change(
            "add",
            (full, data, ttl_ms, tag_keys),
            keys=(full,),
            reads=(full,),
            counters=counters,
            mirror=mirror,
            done=counted,
        )

    def _incr_change(self, key: Key, delta: int) -> Change:
        full, delta, counters = self.keys.full(key), checked_delta(delta), self._counters(key)
        return Change(
            "incr",
            (full, delta),
            keys=(full,),
            reads=(full,),
            counters=counters,
            # Recovering: the fallback's copy (if any) is now older than Redis's.
            mirror=lambda s, _: s.delete([full]),
        )

    def _uncounted(self, key: Key, exc: BaseException | None) -> BackendUnavailable:
        """incr's error when Redis cannot count (fallback_counters off): the fallback would
        count from what it holds, and its count is deleted once Redis is back."""
        why = (
            f"the breaker is {self.breaker.state.value}"
            if exc is None
            else f"{type(exc).__name__}: {exc}"
        )
        return BackendUnavailable(
            f"cannot increment {key!r}: {self.config.display_url} is unavailable ({why}); "
            "counters are kept on Redis only (fallback_counters=True counts in the in-memory "
            "fallback instead, and loses those counts when Redis is back)"
        )

    def _incremented(self, key: Key, value: int | None, change: Change) -> int:
        """The counter's new value; a missing key is a ValueError (as Django's incr has it)."""
        if value is None:
            raise ValueError(f"cannot increment {key!r}: it is not in the cache")
        if change.counters is not None:
            change.counters.sets += 1
        return value

    def _touch_change(self, key: Key, ttl: float | None) -> Change:
        full, ttl_ms = self.keys.full(key), self._ttl_ms(ttl)
        return Change(
            "touch",
            (full, ttl_ms),
            keys=(full,),
            reads=(full,),
            counters=self._counters(key),
        )

    def _ttl_fallback(self, full: bytes, counters: Counters) -> float | Missing | None:
        counters.fallback += 1
        return seconds_left(self.fallback.ttl_ms(full))
