"""The miss sentinel and the small protocol the @cached decorator needs of a cache.

Imports nothing of cachectl, so that the cache, the decorator and the default cache depend on
it and not on each other (as dogpile.cache keeps NO_VALUE in api.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Protocol


class Missing:
    """The miss sentinel's type, so that None can be cached."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISS"

    def __bool__(self) -> bool:
        return False


#: What a read of an absent key answers (Cache.ttl, Cache.get(key, MISS)).
MISS: Final = Missing()

#: The longest ttl (or stale) a write takes, in seconds: Redis refuses an expiry past 2**63
#: ms from now.
MAX_TTL: Final = 1e15


def valid_seconds(value: object) -> bool:
    """Whether value is a ttl a write takes: positive seconds up to MAX_TTL (nan, a bool or a
    str is not)."""
    try:
        return value is not True and 0 < value <= MAX_TTL  # type: ignore[operator]
    except TypeError:
        return False


#: A hit as lookup answers it: the value, and its fresh-until stamp (unix ms) if it has one.
Entry = tuple[Any, int | None]


class EntryStore(Protocol):
    """What @cached needs of a synchronous cache (Cache has it)."""

    def lookup(self, key: str) -> Entry | Missing:
        """The entry under key, or MISS."""
        ...

    def store_entry(
        self, key: str, value: Any, ttl: float | None, tags: Iterable[str], stale: float | None
    ) -> None:
        """Store value; with stale, it is kept that much longer past ttl, marked stale."""
        ...

    def delete(self, *keys: str) -> int:
        """Remove keys."""
        ...


class AsyncEntryStore(Protocol):
    """What @cached needs of an asyncio cache (AsyncCache has it)."""

    async def lookup(self, key: str) -> Entry | Missing:
        """The entry under key, or MISS."""
        ...

    async def store_entry(
        self, key: str, value: Any, ttl: float | None, tags: Iterable[str], stale: float | None
    ) -> None:
        """See EntryStore.store_entry."""
        ...

    async def delete(self, *keys: str) -> int:
        """Remove keys."""
        ...
