"""SCAN-based key listing (never KEYS): type, TTL, memory and codec of the keys shown.

A listing is the first N keys of the whole selection in its order (by name: no command per
key; by TTL or memory: one pipelined PTTL or MEMORY USAGE round trip per SCAN batch), kept
in a bounded pool while the scan runs; then one pipelined round trip for TYPE, PTTL, MEMORY
USAGE and the first bytes of each value shown (whose header names the codec).
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import redis

from cachectl.errors import ConfigError
from cachectl.keys import display_name
from cachectl.ops.connect import Connection
from cachectl.ops.record import record
from cachectl.ops.selection import (
    SCAN_COUNT,
    STEP_COUNT,
    Selection,
    batches,
    existing,
    per_key,
    server_ms,
    tag_members,
)
from cachectl.ops.sniff import CODEC_SAMPLE, describe_head

SORTS = ("name", "ttl", "memory")
#: Bytes read from the start of a string value: the sample that names its codec.
HEADER_BYTES = CODEC_SAMPLE


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key of a listing."""

    key: bytes  # as the application names it
    type: str
    ttl_ms: int | None  # None: no expiry
    memory: int | None  # MEMORY USAGE, bytes
    codec: str  # strings: from the header or magic bytes; collections: "-"
    length: int | None = None  # a string's stored bytes (STRLEN); None for collections

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description; key_hex holds the exact bytes of a key that is not UTF-8."""
        return {"key": display_name(self.key), **key_bytes(self.key)} | {
            "type": self.type,
            "ttl_ms": self.ttl_ms,
            "memory": self.memory,
            "length": self.length,
            "codec": self.codec,
        }


def key_bytes(key: bytes) -> dict[str, str]:
    """{"key_hex": ...} for a key that is not UTF-8 (its display form is lossy), else {}."""
    try:
        key.decode("utf-8")
    except UnicodeDecodeError:
        return {"key_hex": key.hex()}
    return {}


@dataclass(frozen=True, slots=True)
class Listing:
    """The first keys of a selection in an order, and how many the scan found in all."""

    selection: str
    rows: list[KeyInfo]
    truncated: bool  # more keys matched than are shown
    sort: str
    top: int | None = None
    matched: int | None = None  # keys the scan returned (a key may be counted twice by SCAN)
    #: What memory order ranked by: MEMORY USAGE, or the value's length (STRLEN) where the
    #: server does not answer MEMORY USAGE (refused or renamed); None for other orders.
    ranked_by: str | None = None
    #: What could not be measured and why, for the views.
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready listing."""
        keys = [row.to_dict() for row in self.rows]
        names = "selection", "sort", "top", "ranked_by", "truncated", "matched"
        return record(self, *names, count=len(keys), keys=keys, notes=list(self.notes))


def _text(value: Any) -> str:
    return display_name(value) if isinstance(value, bytes) else str(value)


def describe(conn: Connection, keys: Sequence[bytes]) -> list[KeyInfo]:
    """Type, TTL, memory and codec of keys in one pipelined round trip (vanished keys dropped)."""
    if not keys:
        return []
    pipe = conn.client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
        pipe.pttl(key)
        conn.memory_usage(pipe, key)
        pipe.getrange(key, 0, HEADER_BYTES - 1)
        pipe.strlen(key)
    replies = pipe.execute(raise_on_error=False)
    rows = []
    for i, key in enumerate(keys):
        kind, pttl, size, head, length = replies[5 * i : 5 * i + 5]
        kind = _text(kind)
        if kind == "none" or isinstance(pttl, Exception) or int(pttl) == -2:
            continue
        codec = "-"
        string = kind == "string" and isinstance(length, int)
        if string and isinstance(head, bytes):
            codec = describe_head(head, length)
        rows.append(
            KeyInfo(
                conn.keys.app(key),
                kind,
                int(pttl) if int(pttl) >= 0 else None,
                int(size) if isinstance(size, int) else None,
                codec,
                length if string else None,
            )
        )
    return rows


#: The score of a key that never expires (ttl order) or whose memory is unknown: last.
LAST = 1 << 62

# One SCAN step on the server, scoring its keys by PTTL or MEMORY USAGE there (lower first):
# only keys that can still be among the first n come back, those scoring below the caller's
# bound and no worse than the step's n-th, in SCAN order, n at most. Ties go to the key seen
# first: Lua compares strings with the server's locale, so names are never compared here.
RANK_STEP_SCRIPT = """
local call = redis.call
local reply = call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local keys, n, bound = reply[2], tonumber(ARGV[5]), tonumber(ARGV[6])
local found, scores = {}, {}
-- One loop per order, with nothing in it but the call and the comparison: this runs once
-- per key of the selection, and most keys score no better than the bound.
if ARGV[4] == 'ttl' then
  for _, key in ipairs(keys) do
    local v = call('PTTL', key)
    if v ~= -2 then
      local score = v
      if v < 0 then score = 4611686018427387904 end
      if score < bound then
        found[#found + 1] = {key, v, score}
        scores[#scores + 1] = score
      end
    end
  end
else
  for _, key in ipairs(keys) do
    local v = call('MEMORY', 'USAGE', key)
    if v and -v < bound then
      found[#found + 1] = {key, v, -v}
      scores[#scores + 1] = -v
    end
  end
end
local cut, ties = bound, n
if #scores > n then
  table.sort(scores)
  cut = scores[n]
  for i = n, 1, -1 do
    if scores[i] < cut then break end
    ties = i  -- the first place held by a score equal to cut
  end
  ties = n - ties + 1  -- how many keys scoring cut can be kept
end
local flat = {}
for _, f in ipairs(found) do
  if f[3] < cut or (f[3] == cut and ties > 0) then
    if f[3] == cut then ties = ties - 1 end
    flat[#flat + 1] = f[1]
    flat[#flat + 1] = f[2]
  end
end
return {reply[1], #keys, flat}
"""


def _score(sort: str, reply: Any) -> int | None:
    """A key's score in ttl or memory order (lower first); None: the key has gone."""
    if reply is None or reply == -2 or isinstance(reply, Exception):
        return None
    if not isinstance(reply, int) or isinstance(reply, bool):
        return LAST  # no MEMORY USAGE on this server: unknown, last
    if sort == "ttl":
        return reply if reply >= 0 else LAST
    return -reply


def _scored(conn: Connection, keys: Sequence[bytes], sort: str) -> list[tuple[Any, bytes]]:
    """(score, key) of keys, lower first: the name itself, soonest expiry, most memory."""
    if sort == "name":
        return [(key, key) for key in keys]
    # Where MEMORY USAGE is refused, the stored value's length (collections: an error, so last).
    command = "pttl" if sort == "ttl" else "memory_usage" if conn.has_memory_usage else "strlen"
    replies = per_key(conn, keys, lambda pipe, key: getattr(pipe, command)(key))
    scored: list[tuple[Any, bytes]] = []
    for key, reply in zip(keys, replies, strict=True):
        score = _score(sort, reply)
        if score is not None:
            scored.append((score, key))
    return scored


class _Pool:
    """The n first keys of everything added, by score and then by name (name order) or by
    arrival (ttl and memory order: ties go to the key scanned first).

    Memory stays within about 2n keys: once n keys are in, only keys that rank before the
    n-th best (nth) are kept, and the pool is cut to its n best whenever it doubles.
    """

    def __init__(self, n: int, by_name: bool) -> None:
        self.n, self.by_name = n, by_name
        self.ranks: dict[bytes, Any] = {}  # by key: SCAN may return a key twice
        self.seen = 0
        self._nth: Any = None
        self._added = 0  # keys kept since _nth was found

    def add(self, scored: list[tuple[Any, bytes]], seen: int | None = None) -> None:
        first = self.seen
        self.seen += len(scored) if seen is None else seen
        if self.by_name:
            ranked = scored
        else:
            ranked = [((score, first + i), key) for i, (score, key) in enumerate(scored)]
        bound = self.nth()
        if bound is not None:
            ranked = [item for item in ranked if item[0] < bound]
        for rank, key in ranked:
            self.ranks.setdefault(key, rank)
        self._added += len(ranked)
        if len(self.ranks) >= 2 * self.n + 1024:
            self.ranks = dict(heapq.nsmallest(self.n, self.ranks.items(), key=itemgetter(1)))

    def nth(self) -> Any:
        """A rank no key after which can enter the first n (None: fewer than n keys yet), so
        a scan step may drop such keys where it runs. It is the n-th best rank as of n or more
        additions ago: ranks only improve as keys come, so an older one still holds, and
        finding it again costs no more than the additions since."""
        if len(self.ranks) < self.n:
            return None
        if self._nth is None or self._added >= self.n:
            self._nth, self._added = heapq.nsmallest(self.n, self.ranks.values())[-1], 0
        return self._nth

    def best(self) -> list[bytes]:
        return [key for key, _ in heapq.nsmallest(self.n, self.ranks.items(), key=itemgetter(1))]


RANK_STEP_SHA = hashlib.sha1(RANK_STEP_SCRIPT.encode()).hexdigest()


def _rank_step(client: Any, args: Sequence[Any]) -> Any:
    """One RANK_STEP_SCRIPT call by its digest (the script travels only the first time)."""
    try:
        return client.evalsha(RANK_STEP_SHA, 0, *args)
    except redis.exceptions.NoScriptError:
        return client.eval(RANK_STEP_SCRIPT, 0, *args)


def _rank_on_server(conn: Connection, glob: bytes, sort: str, pool: _Pool) -> bool:
    """Rank the keys matching glob with RANK_STEP_SCRIPT; False where scripts are refused."""
    cursor = b"0"
    while True:
        nth = pool.nth()
        bound = "1e300" if nth is None else str(nth[0])
        args = (cursor, glob, STEP_COUNT, sort, pool.n, bound)
        try:
            cursor, seen, flat = _rank_step(conn.client, args=args)
        except redis.exceptions.ResponseError:
            if cursor != b"0":
                raise
            return False  # before the first step: the caller ranks from here
        pairs = zip(flat[::2], flat[1::2], strict=True)
        pool.add([(_score(sort, int(v)), key) for key, v in pairs], int(seen))
        if cursor == b"0":
            return True


def _rank(conn: Connection, selection: Selection, sort: str, n: int, scan_count: int) -> _Pool:
    """The pool of the first n keys of the selection in sort order."""
    pool = _Pool(n, by_name=sort == "name")
    if sort == "name" or conn.cluster or (sort == "memory" and not conn.has_memory_usage):
        for batch in batches(conn, selection, scan_count):
            pool.add(_scored(conn, batch, sort))
        return pool
    pool.add(_scored(conn, existing(conn, selection.keys), sort))
    for glob in selection.globs:
        if not _rank_on_server(conn, glob, sort, pool):
            for batch in conn.backend.scan(glob, scan_count):
                pool.add(_scored(conn, batch, sort))
    for tag_key in selection.tag_keys:
        for batch in tag_members(conn, tag_key, scan_count):
            pool.add(_scored(conn, batch, sort))
    return pool


def _order(rows: list[KeyInfo], sort: str, by_length: bool = False) -> list[KeyInfo]:
    if sort == "ttl":
        # Soonest expiry first; keys without a TTL last.
        return sorted(rows, key=lambda r: (r.ttl_ms is None, r.ttl_ms or 0, r.key))
    if sort == "memory" and by_length:
        return sorted(rows, key=lambda r: (-(r.length if r.length is not None else -1), r.key))
    if sort == "memory":
        return sorted(rows, key=lambda r: (-(r.memory or 0), r.key))
    return sorted(rows, key=lambda r: r.key)


def list_keys(
    conn: Connection,
    selection: Selection,
    limit: int = 100,
    sort: str = "name",
    scan_count: int = SCAN_COUNT,
) -> Listing:
    """The first limit keys of the whole selection in sort order (name, ttl or memory)."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    pool = _rank(conn, selection, sort, limit, scan_count)
    chosen, seen = pool.best(), pool.seen
    rows = [
        row
        for i in range(0, len(chosen), scan_count)
        for row in describe(conn, chosen[i : i + scan_count])
    ]
    ranked_by, notes = None, []
    if sort == "memory":
        ranked_by = "memory_usage" if conn.has_memory_usage else "strlen"
    if not rows and selection.hint:
        notes.append(selection.hint)
    if rows and not conn.has_memory_usage:
        notes.append(f"memory not shown: {conn.memory_note}")
        if sort == "memory":
            notes.append(
                "ranked by the stored value's length (STRLEN) instead of MEMORY USAGE; "
                "tag sets and other collections last"
            )
    return Listing(
        selection.label,
        _order(rows, sort, ranked_by == "strlen"),
        seen > limit,
        sort,
        matched=seen,
        ranked_by=ranked_by,
        notes=tuple(notes),
    )


def top_keys(
    conn: Connection, selection: Selection, top: int, scan_count: int = SCAN_COUNT
) -> Listing:
    """The top biggest keys of the whole selection (MEMORY USAGE, or the value's length where
    the server does not answer it; memory stays flat)."""
    listing = list_keys(conn, selection, top, "memory", scan_count)
    return dataclasses.replace(listing, top=top)


#: Keys one page may examine before it returns what it found (with a cursor to go on).
PAGE_EXAMINE = 200_000
#: Keys asked of one SCAN call at most while filling a page.
PAGE_STEP = 10_000


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a cursor walk over a selection: its keys sorted within the page only."""

    selection: str
    rows: list[KeyInfo]
    cursor: str | None  # where the next page starts; None: the walk is over
    sort: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready page."""
        keys = [row.to_dict() for row in self.rows]
        return record(self, "selection", "sort", "cursor", keys=keys)


def _sources(selection: Selection) -> list[tuple[str, bytes]]:
    """What a page walk visits in turn: the named keys, each glob, each tag."""
    out = [("keys", b"")] if selection.keys else []
    out += [("glob", glob) for glob in selection.globs]
    out += [("tag", tag) for tag in selection.tag_keys]
    return out


def _parse_cursor(cursor: str | None) -> tuple[int, int, int]:
    if not cursor:
        return 0, 0, 0
    try:
        source, node, position = (int(part) for part in cursor.split("."))
    except ValueError:
        raise ConfigError(f"not a cursor of this listing: {cursor[:40]!r}") from None
    # SCAN and ZSCAN cursors are unsigned 64-bit numbers.
    if min(source, node, position) < 0 or position >= 1 << 64:
        raise ConfigError(f"not a cursor of this listing: {cursor[:40]!r}")
    return source, node, position


def page(
    conn: Connection,
    selection: Selection,
    cursor: str | None = None,
    count: int = 100,
    sort: str = "name",
) -> Page:
    """About count keys of the selection from cursor on (SCAN/ZSCAN, never KEYS), described
    and sorted within the page. A page stops early after PAGE_EXAMINE keys examined, so no
    page holds Redis or the caller long; its cursor then goes on from there."""
    if sort not in SORTS:
        raise ConfigError(f"sort must be one of {', '.join(SORTS)}")
    if count < 1:
        raise ConfigError("count must be at least 1")
    sources = _sources(selection)
    source, node, position = _parse_cursor(cursor)
    nodes = conn.primaries()
    if cursor and (source >= len(sources) or node >= len(nodes)):
        raise ConfigError("not a cursor of this listing: no such selection or node")
    found: dict[bytes, None] = {}
    examined, step = 0, count
    while source < len(sources) and len(found) < count and examined < PAGE_EXAMINE:
        kind, name = sources[source]
        if kind == "keys":
            found.update(dict.fromkeys(existing(conn, selection.keys)))
            source, node, position = source + 1, 0, 0
            continue
        if kind == "tag":
            position, keys = _zscan_once(conn, name, position, step)
        else:
            position, keys = _scan_once(conn, nodes[node].name, name, position, step)
        before = len(found)
        found.update(dict.fromkeys(keys))
        examined += step
        # SCAN's COUNT is work, not results: ask for more when few keys match, so a sparse
        # selection is crossed in few round trips, and only for what is missing when most
        # do, so a dense one does not overshoot the page by another whole page.
        density = max((len(found) - before) / step, 0.001)
        missing = max(count - len(found), 1)
        step = max(missing, min(PAGE_STEP, int(missing / density)))
        if position == 0:
            if kind == "glob" and node + 1 < len(nodes):
                node += 1
            else:
                source, node = source + 1, 0
    done = source >= len(sources)
    rows = describe(conn, list(found))
    return Page(
        selection.label,
        _order(rows, sort),
        None if done else f"{source}.{node}.{position}",
        sort,
    )


def _scan_once(
    conn: Connection, node: str, glob: bytes, position: int, count: int
) -> tuple[int, list[bytes]]:
    """One SCAN call on one primary: the next cursor and the keys it returned."""
    client = conn.client
    if not conn.cluster:
        cursor, keys = client.scan(position, match=glob, count=count)
        return int(cursor), list(keys)
    target = client.get_node(node_name=node)
    cursors, keys = client.scan(position, match=glob, count=count, target_nodes=target)
    return int(cursors[target.name]), list(keys)


def _zscan_once(
    conn: Connection, tag_key: bytes, position: int, count: int
) -> tuple[int, list[bytes]]:
    """One ZSCAN step of a tag from position: the next cursor and its unexpired members."""
    now = server_ms(conn)
    cursor, pairs = conn.client.zscan(tag_key, position, count=count)
    return int(cursor), [member for member, score in pairs if float(score) >= now]
