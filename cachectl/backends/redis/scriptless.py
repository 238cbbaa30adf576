"""The work of the Lua scripts, done from the client where Redis refuses scripts.

Some servers refuse EVAL (an ACL without @scripting, as on some managed services). The Redis
backends then fall back to what is here: plain functions that queue commands on a redis-py
pipeline (sync and asyncio pipelines queue alike) and judge the replies, so that both faces
make the same decisions and differ only where they await. Nothing here does I/O.

Tagged writes (TAG_SCRIPT's work) need no WATCH on their common path; the order of the
commands makes the result right whatever other writers do:

1. The entries and their tags records are written, then TIME is read: a member's score (its
   expiry in server ms) is never earlier than its entry's expiry, as in the script.
2. For each tag set, in one MULTI:

   - a write with a TTL first builds a scratch set holding its members, with the expiry already
     on it, and RENAMENXes it onto the tag set: a tag set that did not exist is born with an
     expiry (ZADD alone would create it persistent, and PEXPIREAT GT never gives an expiry to
     a persistent key, which GT treats as living forever);
   - ZADD, the reaping of expired members, then PEXPIREAT GT (a write with a TTL: the expiry
     only grows, so two writers cannot undo each other's) or PERSIST (a write without TTL:
     persistent while such a member is there, and GT never undoes it).

   After any interleaving of such writers a tag set never expires before a member it holds,
   which is what invalidation needs.
3. The same MULTI reads the longest-lived member and the set's expiry. Only when they differ
   from what the script would leave (the expiry must shrink: the longest-lived member went,
   or the set stayed persistent with no member left without TTL) is the expiry corrected, under
   WATCH, so that a concurrent write makes the correction start over rather than cut its
   member's life short. That rare step is about exactness, not safety: given up after a few
   tries, a set only lives longer than it must.

WATCH/MULTI around every write, as the incr fallback does, would cost two more round trips per
write and retries under contention on a popular tag; here writers never retry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cachectl.backends.base import Items
from cachectl.codec import add_to_integer
from cachectl.keys import tags_record
from cachectl.stats import OTHER, PLACE_KIND, PLACES_FIELD, add_fields, split_field

#: Scores at or above this (ms: the year 2096) belong to entries without expiry (TAG_SCRIPT).
NO_TTL_BASE = 4_000_000_000_000

#: Tries of a WATCHed step before it gives up (each start over means another client wrote).
WATCH_TRIES = 5

#: Appended to a tag key for the scratch set of step 2: after the braces, so the same slot.
SCRATCH = b"#new"

#: Replies a tag set's MULTI ends with: its longest-lived member, then its expiry.
_TAIL = 2


def tag_score(server_time: Any, ttl_ms: int | None) -> tuple[int, str]:
    """(now in server ms, the member score) from TIME's reply, computed as TAG_SCRIPT does."""
    seconds, micros = int(server_time[0]), int(server_time[1])
    now = seconds * 1000 + micros // 1000
    stamp = (micros % 1000) / 1000
    # Added in the script's order, so that the double, and its text, are the script's.
    score = now + ttl_ms + stamp if ttl_ms is not None else NO_TTL_BASE + now + stamp
    return now, f"{score:.3f}"


def queue_sets(
    pipe: Any,
    items: Items,
    ttl_ms: int | None,
    tag_keys: Sequence[bytes],
    members: Sequence[bytes],
    record: bytes,
) -> Any:
    """Queue the items and their tags records (each with the entry's TTL)."""
    for key, value in items:
        pipe.set(key, value, px=ttl_ms)
    if tag_keys:
        for key in members:
            pipe.set(tags_record(key), record, px=ttl_ms)
    return pipe


def queue_tags(
    pipe: Any,
    tag_keys: Sequence[bytes],
    ttl_ms: int | None,
    members: Sequence[bytes],
    server_time: Any,
) -> Any:
    """Queue step 2 and 3's reads for each tag set (see the module docstring) on a MULTI pipe."""
    now, score = tag_score(server_time, ttl_ms)
    expiry = math.floor(float(score))
    scored = dict.fromkeys(members, score)
    for tag_key in tag_keys:
        if ttl_ms is not None:
            scratch = tag_key + SCRATCH
            pipe.zadd(scratch, scored)
            pipe.pexpireat(scratch, expiry)
            # Sent as commands: redis-py's cluster pipelines refuse the renamenx method and
            # split unlink's keys (asynchronously), though both keys share a slot.
            pipe.execute_command("RENAMENX", scratch, tag_key)
            pipe.execute_command("UNLINK", scratch)
        pipe.zadd(tag_key, scored)
        pipe.zremrangebyscore(tag_key, "-inf", f"({now}")
        if ttl_ms is None:
            pipe.persist(tag_key)
        else:
            pipe.pexpireat(tag_key, expiry, gt=True)
        pipe.zrange(tag_key, -1, -1, withscores=True)
        pipe.pexpiretime(tag_key)
    return pipe


def wanted_expiry(top: Any, expire_time: Any) -> int | None:
    """The expiry TAG_SCRIPT would give a set (unix ms; -1: none) when it differs from the set's
    own (PEXPIRETIME), given its longest-lived member (ZRANGE -1 -1 WITHSCORES); else None."""
    if not top:
        return None  # the set is gone
    last = float(top[0][1])
    want = -1 if last >= NO_TTL_BASE else math.floor(last)
    return None if int(expire_time) == want else want


def stale_expiries(tag_keys: Sequence[bytes], replies: Sequence[Any]) -> list[bytes]:
    """The tag sets whose expiry a queue_tags MULTI left other than the script would."""
    per = len(replies) // len(tag_keys)
    stale = []
    for i, tag_key in enumerate(tag_keys):
        end = (i + 1) * per
        top, expire_time = replies[end - _TAIL : end]
        if wanted_expiry(top, expire_time) is not None:
            stale.append(tag_key)
    return stale


def queue_expiry(pipe: Any, tag_key: bytes, want: int) -> Any:
    """Start the MULTI of a WATCHed pipe and queue the expiry wanted_expiry chose."""
    pipe.multi()
    if want < 0:
        pipe.persist(tag_key)
    else:
        pipe.pexpireat(tag_key, want)
    return pipe


def tag_groups(tag_keys: Sequence[bytes], cluster: bool) -> list[Sequence[bytes]]:
    """The tag sets one MULTI may hold together: all on one server, one per slot on a cluster."""
    return [[tag_key] for tag_key in tag_keys] if cluster else [tag_keys]


def unchanged(pairs: Sequence[tuple[bytes, float]], scores: Sequence[Any]) -> list[bytes]:
    """FORGET_SCRIPT's choice: the members whose score (ZMSCORE's reply) is still the one read
    before their keys were unlinked; one written again meanwhile has a new score and stays."""
    return [
        member
        for (member, read), now in zip(pairs, scores, strict=True)
        if now is not None and float(now) == float(read)
    ]


def publish_fields(counters: Mapping[bytes, int]) -> list[bytes]:
    """The fields of the stats hash PUBLISH_SCRIPT's work reads for this delta."""
    fields = dict.fromkeys([PLACES_FIELD])
    other = OTHER.encode()
    for name in counters:
        if name.startswith(b"#"):  # namespace-wide (stats.NAMESPACE_COUNTERS): no place
            fields[name] = None
            continue
        kind, prefix, rest = split_field(name)
        fields[PLACE_KIND + b":" + prefix] = None
        fields[kind + b":" + prefix + rest] = None
        fields[kind + b":" + other + rest] = None
    return list(fields)


def _integer(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def published(
    fields: Sequence[bytes],
    values: Sequence[bytes | None],
    counters: Mapping[bytes, int],
    max_prefixes: int,
) -> dict[bytes, int]:
    """The fields to write, as PUBLISH_SCRIPT would leave them, from their values (HMGET's
    reply to publish_fields): a prefix takes a place while there is one, past them its figures
    go to OTHER; a field that is not an integer is replaced; an unusable place count is full."""
    stored: dict[bytes, int] = {}
    replaced: set[bytes] = set()
    places = PLACE_KIND + b":"
    for field, value in zip(fields, values, strict=True):
        if value is None:
            continue
        number = _integer(value)
        if field == PLACES_FIELD:
            stored[field] = number if number is not None and number >= 0 else max_prefixes
        elif field.startswith(places):
            stored[field] = 1  # only its presence counts
        elif number is None:
            stored[field] = 0
            replaced.add(field)
        else:
            stored[field] = number
    result = _Recording(stored)
    add_fields(result, counters, max_prefixes)
    return {
        field: result[field]
        for field in result.written
        if field not in stored or result[field] != stored[field] or field in replaced
    }


class _Recording(dict[bytes, int]):
    """A dict that remembers which fields were written (those add_fields touched)."""

    def __init__(self, stored: Mapping[bytes, int]) -> None:
        super().__init__(stored)
        self.written: dict[bytes, None] = {}

    def __setitem__(self, field: bytes, value: int) -> None:
        self.written[field] = None
        super().__setitem__(field, value)


# Steps of a WATCHed transaction: given the replies of their reads (made under WATCH), they
# start the MULTI and queue its commands, and say whether there is anything to execute.


def expiry_step(pipe: Any, tag_key: bytes, top: Any, expire_time: Any) -> bool:
    """Correct a tag set's expiry to the script's (step 3), if it still differs."""
    want = wanted_expiry(top, expire_time)
    if want is None:
        return False
    queue_expiry(pipe, tag_key, want)
    return True


def incr_step(pipe: Any, key: bytes, delta: int, data: bytes | None) -> int | None:
    """INCR_SCRIPT's work, from the value read under WATCH (None: the key is absent): queue the
    new value in MULTI; redis-py runs the step again if another client wrote key before EXEC, so
    no increment is lost. The new value, or None when the key is absent."""
    if data is None:
        return None
    stored, value = add_to_integer(data, delta)
    pipe.multi()
    pipe.set(key, stored, keepttl=True)
    return value


def forget_step(
    pipe: Any, tag_key: bytes, pairs: Sequence[tuple[bytes, float]], scores: Sequence[Any]
) -> bool:
    """FORGET_SCRIPT's work: drop the members whose score has not changed (see unchanged)."""
    gone = unchanged(pairs, scores)
    if not gone:
        return False
    pipe.multi()
    pipe.zrem(tag_key, *gone)
    return True


def publish_step(
    pipe: Any,
    key: bytes,
    fields: Sequence[bytes],
    values: Sequence[bytes | None],
    counters: Mapping[bytes, int],
    ttl: int,
    max_prefixes: int,
) -> bool:
    """PUBLISH_SCRIPT's work, from the fields publish_fields read: write them, then the expiry."""
    changes = published(fields, values, counters, max_prefixes)
    pipe.multi()
    if changes:
        pipe.hset(key, mapping=changes)
    pipe.expire(key, ttl)
    return True
