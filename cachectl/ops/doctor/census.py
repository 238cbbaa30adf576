"""One pass over the namespace on every primary: entries per prefix, the tag sets, and a sample.

A single SCAN per primary with MATCH '<ns>[:#]*' sees the entries, the tag sets and the tags
records at once (SCAN walks the whole keyspace whatever it matches, so one pattern costs one
walk, two patterns two). Each call asks for STEP_COUNT keys, flush's step: a few milliseconds
of the server's time. On a plain server the next call is sent before the last batch is
tallied, so the server walks while this process counts.

Counts are exact. The sample is what the per-key findings read (type, TTL, memory, header), at
most `sample` entries: the first FIRST_OF_EACH of every prefix (so that a small prefix is
sampled too; fewer each when there are many prefixes), then every k-th entry in SCAN order, k
doubling whenever the picks pass twice the sample (SCAN visits the hash table in an order
unrelated to key names, so both are uniform samples of their prefix).
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from cachectl.keys import KeySpace, escape_glob, prefix_of, to_bytes
from cachectl.ops.connect import Connection, Node
from cachectl.ops.selection import STEP_COUNT, existing, scan_ahead
from cachectl.stats import MAX_PREFIX_BYTES, MAX_PREFIXES, OTHER

#: Entries of each prefix sampled whatever the stride: the first ones SCAN returns.
FIRST_OF_EACH = 8
#: Up to this many first segments, a batch is counted with one bytes.count per segment.
FEW_SEGMENTS = 16
#: Tag sets whose size is read (ZCARD) at most; past it the others are counted only.
MAX_TAG_SETS = 100_000


@dataclass
class Census:
    """Entries per prefix, the tag sets found, and the sampled entries (full keys)."""

    counts: Counter[str] = field(default_factory=Counter)
    tag_sets: list[bytes] = field(default_factory=list)  # at most MAX_TAG_SETS
    tag_sets_total: int = 0
    sample: list[tuple[str, bytes]] = field(default_factory=list)  # (prefix, full key)

    @property
    def entries(self) -> int:
        """Entries counted in all."""
        return self.counts.total()


@functools.lru_cache(maxsize=16)
def _patterns(namespace: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes], re.Pattern[bytes]]:
    """Over a batch joined by line feeds: the first segment of each entry, each entry, and
    each tag set (found in C: Python works per distinct segment, not per key)."""
    quoted = re.escape(namespace)
    heads = re.compile(rb"^" + quoted + rb":([^:\n]*)", re.MULTILINE)
    entries = re.compile(rb"^" + quoted + rb":[^\n]*", re.MULTILINE)
    tags = re.compile(rb"^" + quoted + rb"#tag:\{[^\n]*\}$", re.MULTILINE)
    return heads, entries, tags


class _Tally:
    """Counts and samples batch after batch; memory bounded by the sample and MAX_PREFIXES."""

    def __init__(self, space: KeySpace, limit: int, fixed: str | None) -> None:
        self.ns = space.ns
        self.heads, self.entries, self.tags = _patterns(space.namespace.encode())
        self.limit = max(limit, 1)
        self.fixed = fixed  # --prefix: every entry counts under this label
        self.census = Census()
        self.labels: dict[bytes, str] = {}
        self.marks: dict[bytes, bytes] = {}  # first segment -> b"\n<ns>:<segment>:"
        self.firsts: dict[str, list[bytes]] = {}
        self.picked: list[bytes] = []
        self.stride = 1
        self.position = 0  # entries seen so far: the index of the next one

    def label(self, head: bytes) -> str:
        found = self.labels.get(head)
        if found is None:
            found = self.fixed or prefix_of(head)
            if found not in self.firsts and (
                len(head) > MAX_PREFIX_BYTES or len(self.firsts) >= MAX_PREFIXES
            ):
                found = OTHER
            self.firsts.setdefault(found, [])
            if len(self.labels) < 4 * MAX_PREFIXES:
                self.labels[head] = found
        return found

    def add(self, keys: list[bytes]) -> None:
        if not keys:
            return
        joined = b"\n" + b"\n".join(keys)  # every key after a line feed, the first one too
        if joined.count(b"\n") == len(keys):
            heads = self._known(joined, len(keys)) or Counter(self.heads.findall(joined))
            entries = keys
            if heads.total() != len(keys):  # tag sets, tags records, stats or audit too
                entries = self.entries.findall(joined)
                self._tag_sets(self.tags.findall(joined))
        else:  # a key holds a line feed: one by one
            skip = len(self.ns)
            entries = [key for key in keys if key.startswith(self.ns)]
            heads = Counter(key[skip:].partition(b":")[0] for key in entries)
            start = self.ns[:-1] + b"#tag:{"
            self._tag_sets([k for k in keys if k.startswith(start) and k.endswith(b"}")])
        self._count(heads, entries)
        self._pick(entries)

    def _known(self, joined: bytes, n: int) -> Counter[bytes] | None:
        """The batch's entries by first segment when all of them are entries of the few
        segments seen so far (one count in C per segment: the common case, and cheaper than
        the regex); None otherwise."""
        marks = self.marks
        if not marks or len(marks) > FEW_SEGMENTS:
            return None
        found = Counter({head: joined.count(mark) for head, mark in marks.items()})
        return +found if found.total() == n else None  # +: without the segments at 0

    def _tag_sets(self, found: list[bytes]) -> None:
        census = self.census
        census.tag_sets_total += len(found)
        census.tag_sets.extend(found[: MAX_TAG_SETS - len(census.tag_sets)])

    def _count(self, heads: Counter[bytes], entries: list[bytes]) -> None:
        needy: dict[bytes, list[bytes]] = {}
        for head, n in heads.items():
            if head not in self.marks and len(self.marks) <= FEW_SEGMENTS:
                self.marks[head] = b"\n" + self.ns + head + b":"
            label = self.label(head)
            self.census.counts[label] += n
            firsts = self.firsts[label]
            if len(firsts) < FIRST_OF_EACH:
                needy[head] = firsts
        if not needy:
            return
        skip = len(self.ns)
        for key in entries:
            wanting = needy.get(key[skip:].partition(b":")[0])
            if wanting is not None and len(wanting) < FIRST_OF_EACH:
                wanting.append(key)

    def _pick(self, entries: list[bytes]) -> None:
        start = (-self.position) % self.stride
        self.picked.extend(entries[start :: self.stride])
        self.position += len(entries)
        while len(self.picked) >= 2 * self.limit:
            # Every other pick is at a multiple of the doubled stride: the first one is entry 0.
            self.picked = self.picked[::2]
            self.stride *= 2

    def result(self) -> Census:
        """The census, its sample at most limit entries: the first of each prefix (fewer
        each when there are many prefixes), then the picks in SCAN order."""
        census = self.census
        limit = self.limit
        each = min(FIRST_OF_EACH, max(1, limit // max(len(self.firsts), 1)))
        chosen: dict[bytes, str] = {}
        for label, firsts in self.firsts.items():
            chosen.update(dict.fromkeys(firsts[:each], label))
        chosen = dict(list(chosen.items())[:limit])
        picked = [key for key in self.picked if key not in chosen]
        room = limit - len(chosen)
        if len(picked) > room:
            step = len(picked) / room if room else 0
            picked = [picked[int(i * step)] for i in range(room)]
        skip = len(self.ns)
        for key in picked:
            chosen[key] = self.label(key[skip:].partition(b":")[0])
        census.sample = [(label, key) for key, label in chosen.items()]
        return census


def _batches(conn: Connection, node: Node, glob: bytes, count: int) -> Iterator[list[bytes]]:
    """The keys of one primary matching glob, batch by batch."""
    with contextlib.closing(scan_ahead(conn, node.name, glob, count)) as steps:
        for _done, keys in steps:
            yield keys


def take(
    conn: Connection, sample: int, prefix: str | None = None, count: int = STEP_COUNT
) -> Census:
    """Count the namespace's entries (or those of prefix) and tag sets, and sample entries."""
    space = conn.keys
    if prefix is None:
        glob = escape_glob(space.namespace.encode()) + b"[:#]*"
        tally = _Tally(space, sample, None)
    else:
        raw = to_bytes(prefix).rstrip(b":")
        glob = space.prefix_globs(raw)[1]
        tally = _Tally(space, sample, prefix_of(raw))
        tally.add(existing(conn, [space.full(raw)]))
    for node in conn.primaries():
        for keys in _batches(conn, node, glob, count):
            tally.add(keys)
    return tally.result()
