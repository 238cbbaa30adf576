"""Pipelines filled once for both faces, and the readings of their replies.

redis-py's sync and asyncio pipelines queue commands alike and differ only in awaiting
execute(), so each function here queues on either and returns the pipe. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgpack
import redis.exceptions

from cachectl.backends.base import Items
from cachectl.backends.redis import scriptless
from cachectl.backends.redis.scripts import tag_args
from cachectl.keys import tags_record
from cachectl.stats import NOT_A_HASH

#: A step of a WATCHed transaction (see scriptless): its reads, then a MULTI if it says so.
WatchStep = Callable[[Any], bool]
AsyncWatchStep = Callable[[Any], Awaitable[bool]]


def ttl_reply(pttl: int) -> int | None:
    """PTTL's answer in the contract's terms: None without expiry, -2 when absent."""
    pttl = int(pttl)
    return None if pttl == -1 else pttl


#: Tag keys a tags record may list for touch to move (more are not read).
MAX_RECORDED_TAGS = 1000


def tags_value(tag_keys: Sequence[bytes]) -> bytes:
    """The value of a tags record (keys.tags_record): the tag keys, as a msgpack array."""
    return msgpack.packb(list(tag_keys))  # type: ignore[no-any-return]


def recorded_tags(key: bytes, data: bytes | None) -> list[bytes]:
    """The tag keys a tags record of key lists; those of key's namespace only, so that a record
    written by someone else can make touch write to no other key."""
    if not data:
        return []
    try:
        tags = msgpack.unpackb(data, max_array_len=MAX_RECORDED_TAGS, max_map_len=0)
    except Exception:
        return []
    if not isinstance(tags, list):
        return []
    own = key.partition(b":")[0] + b"#tag:{"
    return [t for t in tags if type(t) is bytes and t.startswith(own) and t.endswith(b"}")]


def queue_writes(
    pipe: Any,
    items: Items,
    ttl_ms: int | None,
    tag_keys: Sequence[bytes],
    members: Sequence[bytes] | None = None,
) -> Any:
    """Queue a set of items and their tag bookkeeping (members: the tagged keys, if not items'):
    each tagged key's record of its tags, with its TTL, then its place in each tag set."""
    tagged = tagged_keys(items, members)
    scriptless.queue_sets(pipe, items, ttl_ms, tag_keys, tagged, tags_value(tag_keys))
    for tag_key in tag_keys:
        pipe.execute_command(*tag_args(tag_key, ttl_ms, tagged))
    return pipe


def tagged_keys(items: Items, members: Sequence[bytes] | None) -> list[bytes]:
    """The keys a write tags: members when given, else the items' keys."""
    return [key for key, _ in items] if members is None else list(members)


def queue_sets_here(
    pipe: Any,
    items: Items,
    ttl_ms: int | None,
    tag_keys: Sequence[bytes],
    members: Sequence[bytes] | None,
) -> Any:
    """Step 1 of a tagged write where scripts are refused (see scriptless): the items and
    their tags records; the caller then reads TIME."""
    tagged = tagged_keys(items, members)
    return scriptless.queue_sets(pipe, items, ttl_ms, tag_keys, tagged, tags_value(tag_keys))


def queue_touch(pipe: Any, key: bytes, ttl_ms: int | None) -> Any:
    """Queue a new TTL for key and the read of its tags record (see touched)."""
    if ttl_ms is None:
        queue_persist(pipe, key)
    else:
        pipe.pexpire(key, ttl_ms)
    pipe.get(tags_record(key))
    return pipe


def touched(key: bytes, ttl_ms: int | None, replies: list[Any]) -> tuple[bool, list[bytes]]:
    """Whether key exists, and the tag sets its membership must move in (its new TTL)."""
    exists = bool(replies[1] if ttl_ms is None else replies[0])
    return exists, recorded_tags(key, replies[-1]) if exists else []


def queue_persist(pipe: Any, key: bytes) -> Any:
    # PERSIST answers 0 for a key without a TTL too: whether it exists is asked beside it.
    pipe.persist(key)
    pipe.exists(key)
    return pipe


def records_of(keys: Sequence[bytes]) -> list[bytes]:
    """The tags records of data keys ('N:<key>'), to unlink with them; bookkeeping keys
    ('N#...') have none. Bookkeeping then never outlives the entries it is about."""
    records = []
    for key in keys:
        namespace, sep, _ = key.partition(b":")
        if sep and b"#" not in namespace:
            records.append(tags_record(key))
    return records


def queue_unlink(pipe: Any, keys: Sequence[bytes]) -> Any:
    """Unlink keys (the first reply counts them), then their tags records."""
    pipe.unlink(*keys)
    if records := records_of(keys):
        pipe.unlink(*records)
    return pipe


def queue_unlink_scan(pipe: Any, keys: list[bytes], cursor: int, glob: bytes, count: int) -> Any:
    """Unlink a batch and fetch the next one in one round trip (where scripts are refused)."""
    if keys:
        queue_unlink(pipe, keys)
    if cursor != 0:
        pipe.scan(cursor, match=glob, count=count)
    return pipe


def members_of(pairs: list[Any]) -> list[bytes]:
    """The members of ZRANGE WITHSCORES pairs."""
    return [member for member, _score in pairs]


def not_a_hash(exc: redis.exceptions.ResponseError) -> dict[bytes, bytes]:
    """The stats key holds something else: one unusable field, which readers count."""
    if not str(exc).startswith("WRONGTYPE"):
        raise exc
    return {NOT_A_HASH: b""}
