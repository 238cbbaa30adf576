"""Pure helpers of the cache façade: a key's stats prefix, argument checks, TTL units."""

from __future__ import annotations

from collections.abc import Iterable

from cachectl.api import MAX_TTL, MISS, Missing
from cachectl.keys import Key, display_name

__all__ = ["MAX_TTL", "checked_delta", "key_list", "prefix_of", "seconds_left", "shared_prefix"]


def prefix_of(key: Key) -> str:
    """The prefix a key's figures are counted under: its first segment."""
    if isinstance(key, str):
        return key.partition(":")[0]
    if isinstance(key, bytes):
        return display_name(key.partition(b":")[0])  # as `stats` shows the keyspace's rows
    raise TypeError(f"cache keys are str or bytes, not {type(key).__name__}")


def shared_prefix(keys: list[Key]) -> str | None:
    """The prefix of every key, if they are str keys that all share one."""
    first = keys[0]
    if type(first) is not str:
        return None
    head = first.partition(":")[0] + ":"
    try:
        # Every string between the smallest and the largest shares what those two share.
        low, high = min(keys), max(keys)
    except TypeError:  # a bytes key among them
        return None
    if low.startswith(head) and high.startswith(head):  # type: ignore[arg-type]
        return head[:-1]
    return None


def seconds_left(ttl_ms: int | None) -> float | Missing | None:
    """A backend's remaining life in ms as ttl() answers it."""
    if ttl_ms is None:
        return None
    return MISS if ttl_ms < 0 else ttl_ms / 1000


def checked_delta(delta: int) -> int:
    """incr's and decr's delta, an int (not a bool)."""
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise TypeError(f"incr and decr add an int, not {type(delta).__name__}")
    return int(delta)


def key_list(keys: Iterable[Key]) -> list[Key]:
    """delete_many's keys, a collection (a lone str or bytes key is a mistake)."""
    if isinstance(keys, (str, bytes)):
        raise TypeError("delete_many takes a collection of keys; use delete for one key")
    return list(keys)
