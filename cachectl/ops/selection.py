"""Which keys of a namespace an operation acts on, and how to walk, count and sample them."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cachectl.errors import ConfigError
from cachectl.keys import KeySpace, parse_glob, to_bytes
from cachectl.ops.connect import Connection

#: Keys asked of SCAN per call by the tool: large, since every call is a round trip.
SCAN_COUNT = 10_000

#: Keys one server-side step (a count or a deletion) examines. On a million keys a step of
#: 4,000 holds the server 3 to 6 ms and came out fastest: 1,000 pays more round trips, 10,000
#: is slower per key on the server and holds it longer.
STEP_COUNT = 4000


@dataclass(frozen=True, slots=True)
class Selection:
    """Named keys, plus keys matching globs, plus members of tags (all full Redis keys)."""

    label: str
    keys: tuple[bytes, ...] = ()
    globs: tuple[bytes, ...] = ()
    tag_keys: tuple[bytes, ...] = ()
    #: Full Redis keys outside any namespace (RawKeySpace): for reading only, never deleted.
    raw: bool = False
    #: Every key of the namespace (--all, or a glob such as '*'): deleting it needs the
    #: namespace's name typed, on every face (see covers_every_name).
    whole: bool = False
    #: Said where nothing matches: a name given with the namespace in front (relative_hint).
    hint: str = ""


def relative_hint(space: KeySpace, *given: str) -> str:
    """A hint for a name given with the namespace in front ('shop:config' in namespace 'shop'
    names the Redis key 'shop:shop:config'), or that is the namespace; else empty."""
    namespace = space.namespace
    if not namespace or space.raw:
        return ""
    relative = f"names are relative to namespace {namespace!r}"
    for name in given:
        if name.startswith(f"{namespace}:") and name.rstrip(":") != namespace:
            return f"{relative}: did you mean {name[len(namespace) + 1 :]!r}?"
        if name.rstrip(":") == namespace:
            return f"{relative}: --all selects all of its keys"
    return ""


def select(
    space: KeySpace,
    *,
    prefix: str | None = None,
    pattern: str | None = None,
    tag: str | None = None,
    keys: Sequence[str] = (),
    everything: bool = False,
    required: bool = True,
) -> Selection:
    """The selection named by exactly one option; none: every entry, unless one is required."""
    chosen = [
        name
        for name, given in (
            ("--prefix", prefix is not None),
            ("--pattern", pattern is not None),
            ("--tag", tag is not None),
            ("--key", bool(keys)),
            ("--all", everything),
        )
        if given
    ]
    if len(chosen) > 1:
        raise ConfigError(f"choose one of {', '.join(chosen)}")
    where, raw_keys = space.where, space.raw
    if prefix is not None:
        raw = to_bytes(prefix).rstrip(b":")
        if not raw:
            raise ConfigError("--prefix needs a non-empty prefix (use --all for every key)")
        # The key equal to the prefix is named, not globbed: a glob without a wildcard would
        # still cost a full SCAN of the keyspace.
        return Selection(
            f"prefix {prefix!r} in {where}",
            keys=(space.full(raw),),
            globs=(space.prefix_globs(raw)[1],),
            raw=raw_keys,
            hint=relative_hint(space, prefix),
        )
    if pattern is not None:
        check_glob(pattern)
        return Selection(
            f"pattern {pattern!r} in {where}",
            globs=(space.glob(pattern),),
            raw=raw_keys,
            whole=covers_every_name(pattern),
            hint=relative_hint(space, pattern),
        )
    if tag is not None:
        if not tag:
            raise ConfigError("--tag needs a non-empty tag")
        return Selection(f"tag {tag!r} in {where}", tag_keys=(space.tag(tag),), raw=raw_keys)
    if keys:
        if any(not k for k in keys):
            # Typically an unset shell variable: refused like every other empty option.
            raise ConfigError("--key needs a non-empty key")
        full = tuple(dict.fromkeys(space.full(k) for k in keys))
        named = f"{len(full)} named key{'' if len(full) == 1 else 's'}"
        hint = relative_hint(space, *keys)
        return Selection(f"{named} in {where}", keys=full, raw=raw_keys, hint=hint)
    if everything:
        if raw_keys:
            raise ConfigError("--all needs a namespace")
        # The published stats hash is kept: it is history, not cached data.
        return Selection(
            f"every key of {where}", globs=(space.data_glob, space.tag_glob), whole=True
        )
    if not required:
        return entries(space)
    raise ConfigError("choose what to act on: --prefix, --pattern, --tag, --key or --all")


def check_glob(pattern: str) -> None:
    """ConfigError for a glob that is empty or that Redis would read other than as written
    (an unclosed '[', a trailing lone backslash)."""
    if not pattern:
        raise ConfigError("--pattern needs a non-empty glob (use --all for every key)")
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            if at + 1 == len(pattern):
                raise ConfigError("--pattern ends with a lone backslash (write \\\\ for one)")
            at += 2
            continue
        if char == "[":
            end = at + 1
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            if end >= len(pattern):
                raise ConfigError(f"--pattern has a '[' at position {at + 1} that is never closed")
            at = end
        at += 1


def covers_every_name(pattern: str) -> bool:
    """Whether a glob selects by nothing but length, so every key of the namespace (or all but
    the shortest): '*', '**', '?*', '*?*' and the like. Read as Redis reads it ('\\*' and '[*]'
    are a literal star)."""
    items = parse_glob(to_bytes(pattern))
    return None in items and all(item is None or len(item) == 256 for item in items)


def entries(space: KeySpace) -> Selection:
    """Every application entry of the namespace (not the tag and stats bookkeeping)."""
    return Selection(space.where, globs=(space.data_glob,), raw=space.raw)


def server_ms(conn: Connection) -> int:
    """The server's clock in milliseconds, as the tag script reads it."""
    seconds, micros = conn.client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def per_key(
    conn: Connection,
    keys: Sequence[bytes],
    ask: Callable[[Any, bytes], object],
    raise_on_error: bool = False,
) -> list[Any]:
    """Each key's reply to the command ask(pipe, key) queues for it, in one round trip. A
    command Redis refuses for one key (WRONGTYPE: a key of someone else's) is that key's
    reply, an exception, unless raise_on_error."""
    if not keys:
        return []
    pipe = conn.client.pipeline(transaction=False)
    for key in keys:
        ask(pipe, key)
    replies: list[Any] = pipe.execute(raise_on_error=raise_on_error)
    return replies


def existing(conn: Connection, keys: Sequence[bytes]) -> list[bytes]:
    """Those of keys that exist, in order."""
    found = per_key(conn, keys, lambda pipe, key: pipe.exists(key), raise_on_error=True)
    return [key for key, exists in zip(keys, found, strict=True) if exists]


def tag_members(conn: Connection, tag_key: bytes, count: int) -> Iterator[list[bytes]]:
    """Batches of the keys recorded under a tag that are unexpired there and still exist: a
    member outlives its key when the key is evicted, or deleted by another program, until the
    tag is invalidated (a dry run counted 200,000 such members where a flush removed 1)."""
    now = server_ms(conn)
    cursor = 0
    while True:
        cursor, pairs = conn.client.zscan(tag_key, cursor, count=count)
        batch = [member for member, score in pairs if float(score) >= now]
        if batch and (batch := existing(conn, batch)):
            yield batch
        if int(cursor) == 0:
            return


def scan_node(
    conn: Connection, node: str, glob: bytes, count: int = SCAN_COUNT
) -> Iterator[tuple[bool, list[bytes]]]:
    """Every SCAN call on one primary: whether the scan is over, and the keys it returned."""
    client = conn.client
    target = client.get_node(node_name=node) if conn.cluster else None
    cursor = 0
    while True:
        if target is None:
            cursor, keys = client.scan(cursor, match=glob, count=count)
        else:
            # redis-py answers a cluster SCAN with ({node name: cursor}, keys).
            cursors, keys = client.scan(cursor, match=glob, count=count, target_nodes=target)
            cursor = cursors[target.name]
        done = int(cursor) == 0
        yield done, keys
        if done:
            return


def scan_ahead(
    conn: Connection, node: str, glob: bytes, count: int = SCAN_COUNT
) -> Generator[tuple[bool, list[bytes]], None, None]:
    """scan_node, each SCAN sent before the previous batch is handed over, so that the server
    walks its keyspace while this process tallies the last batch. Closed early (a scan stopped
    past its bound), it gives its connection back."""
    if conn.memory:
        yield from scan_node(conn, node, glob, count)
        return
    client = conn.client
    if conn.cluster:
        client = client.get_node(node_name=node).redis_connection
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_command("SCAN", 0, "MATCH", glob, "COUNT", count)
        while True:
            cursor, keys = connection.read_response()
            done = int(cursor) == 0
            if not done:
                connection.send_command("SCAN", cursor, "MATCH", glob, "COUNT", count)
            yield done, keys
            if done:
                return
    except BaseException:
        # Stopped early or failed: a reply may still be on its way.
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def batches(
    conn: Connection, selection: Selection, count: int = SCAN_COUNT
) -> Iterator[list[bytes]]:
    """Batches of full keys in the selection (a key may vanish before it is looked at)."""
    named = existing(conn, selection.keys)
    if named:
        yield named
    for glob in selection.globs:
        yield from conn.backend.scan(glob, count)
    for tag_key in selection.tag_keys:
        yield from tag_members(conn, tag_key, count)


def count(conn: Connection, selection: Selection, scan_count: int = STEP_COUNT) -> int:
    """How many keys the selection holds now (tags: the members that still exist)."""
    total = len(existing(conn, selection.keys))
    for glob in selection.globs:
        total += conn.backend.count_matching(glob, scan_count)
    for tag_key in selection.tag_keys:
        total += sum(len(batch) for batch in tag_members(conn, tag_key, scan_count))
    return total


def sample(conn: Connection, selection: Selection, limit: int = 10) -> list[bytes]:
    """Up to limit keys of the selection, the first that come."""
    found: list[bytes] = []
    for batch in batches(conn, selection):
        found.extend(batch[: limit - len(found)])
        if len(found) >= limit:
            break
    return found
