"""Which namespaces a server holds, found from its keys rather than guessed.

A namespace holds no ':' or '#' (cachectl.keys), so the namespace of any key is the text
before its first separator, and its published stats hash is '<namespace>#stats'. Two bounded
passes per primary find them:

- a sample: the first `sample` keys SCAN returns, each classified (entry, tag set, stats hash
  or foreign); counts are exact when the sample covers the database, else extrapolated from the
  share of the database examined (SCAN's order is unrelated to key names), and marked so;
- when the sample did not cover the database, a SCAN MATCH '*#stats' of up to `stats_scan`
  keys finds the namespaces that publish stats but were missed by the sample.

Any 'word:...' key looks like an entry of namespace 'word', so each namespace also says whether
cachectl wrote it: a stats hash, a tag set, or a sampled value in cachectl's format.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from cachectl.codec import MAGIC, VERSION
from cachectl.keys import escape_glob, namespace_of
from cachectl.ops.connect import Connection
from cachectl.ops.record import record
from cachectl.ops.selection import SCAN_COUNT, per_key, scan_node
from cachectl.ops.server import key_counts, server_info

#: Keys classified per primary; past it counts are extrapolated.
SAMPLE = 10_000
#: Keys examined per primary looking for stats hashes when the sample did not cover them all.
STATS_SCAN = 1_000_000
#: Sampled entries per namespace whose first bytes are read for cachectl's header.
PROBES = 3


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """One namespace found on the server."""

    name: str
    keys: int  # entries ('<name>:...'); extrapolated unless the discovery is exact
    tags: int  # tag sets ('<name>#tag:{...}'), the same way
    stats: bool  # a published stats hash '<name>#stats' exists
    cachectl: bool  # written by cachectl: stats, tags, or a sampled value in its format

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Discovery:
    """The namespaces of a server's database, biggest first."""

    url: str
    namespaces: list[NamespaceInfo]
    examined: int  # keys classified, over every primary
    total: int  # keys in the database, over every primary
    foreign: int  # keys of no namespace (extrapolated unless exact)

    @property
    def exact(self) -> bool:
        """Whether every key was classified (counts are exact)."""
        return self.examined >= self.total

    def names(self) -> list[str]:
        """The namespaces' names, biggest first."""
        return [ns.name for ns in self.namespaces]

    def others(self, namespace: str) -> list[NamespaceInfo]:
        """The namespaces found other than namespace, cachectl's first, biggest first."""
        return [ns for ns in self.namespaces if ns.name != namespace]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        namespaces = [ns.to_dict() for ns in self.namespaces]
        counts = {"total_keys": self.total, "foreign_keys": self.foreign}
        return record(self, "url", "exact", "examined", **counts, namespaces=namespaces)


def _kind(key: bytes, namespace: str) -> str:
    """'keys', 'tags', 'records', 'stats' or 'audit': what a key of namespace is."""
    mark = key[len(namespace) : len(namespace) + 1]
    if mark == b":":
        return "keys"
    if key.endswith(b"#audit"):
        return "audit"  # the admin router's log of destructive actions (ops.audit)
    if mark == b"#" and key.startswith(b"#tag::", len(namespace)):
        return "records"  # the tags an entry was written with (keys.tags_record)
    return "stats" if key.endswith(b"#stats") else "tags"


def discover(conn: Connection, sample: int = SAMPLE, stats_scan: int = STATS_SCAN) -> Discovery:
    """The namespaces on the server, from a bounded sample of keys and the stats hashes."""
    if sample < 1 or stats_scan < 1:
        raise ValueError("sample and stats_scan must be positive")
    sizes = key_counts(conn, server_info(conn))
    counts: dict[str, Counter[str]] = {}
    with_stats: set[str] = set()
    probes: dict[str, list[bytes]] = {}
    examined = total = 0
    foreign = 0.0
    for node in conn.primaries():
        seen: dict[str, Counter[str]] = {}
        looked = strays = 0
        complete = False
        for done, keys in scan_node(conn, node.name, b"*", min(SCAN_COUNT, sample)):
            complete = done
            looked += len(keys)
            for key in keys:
                name = namespace_of(key)
                if name is None:
                    strays += 1
                    continue
                kind = _kind(key, name)
                if kind == "stats":
                    with_stats.add(name)
                elif kind == "keys" and len(probes.setdefault(name, [])) < PROBES:
                    probes[name].append(key)
                seen.setdefault(name, Counter())[kind] += 1
            if looked >= sample:
                break
        size = max(sizes.get(node.name, looked), looked)
        if complete:
            size = looked  # the whole database was seen: INFO's count may lag
        scale = size / looked if looked else 1.0
        for name, kinds in seen.items():
            target = counts.setdefault(name, Counter())
            for kind, n in kinds.items():
                target[kind] += round(n * scale) if kind != "stats" else n
        foreign += strays * scale
        examined += looked
        total += size
        if not complete:
            with_stats |= _stats_hashes(conn, node.name, stats_scan)
    for name in with_stats:
        counts.setdefault(name, Counter())
    formatted = _in_cachectl_format(conn, probes)
    found = [
        NamespaceInfo(
            name,
            kinds["keys"],
            kinds["tags"],
            name in with_stats,
            # An audit log is written only by cachectl's flush, delete and TTL changes.
            name in with_stats or kinds["tags"] > 0 or kinds["audit"] > 0 or name in formatted,
        )
        for name, kinds in counts.items()
    ]
    found.sort(key=lambda ns: (not ns.cachectl, -ns.keys, -ns.tags, ns.name))
    return Discovery(conn.config.display_url, found, examined, total, round(foreign))


def _in_cachectl_format(conn: Connection, probes: dict[str, list[bytes]]) -> set[str]:
    """Namespaces with a probed value that starts with cachectl's header."""
    order = [(name, key) for name, keys in probes.items() for key in keys]
    # WRONGTYPE for collections: not cachectl's
    heads = per_key(conn, [key for _name, key in order], lambda pipe, key: pipe.getrange(key, 0, 1))
    header = bytes((MAGIC, VERSION))
    return {name for (name, _key), head in zip(order, heads, strict=True) if head == header}


def _stats_hashes(conn: Connection, node: str, limit: int) -> set[str]:
    """Namespaces whose '<namespace>#stats' SCAN finds on node within limit keys examined."""
    names: set[str] = set()
    for calls, (_done, keys) in enumerate(scan_node(conn, node, b"*#stats", SCAN_COUNT), 1):
        for key in keys:
            name = namespace_of(key)
            if name is not None and _kind(key, name) == "stats":
                names.add(name)
        if calls * SCAN_COUNT >= limit:
            break
    return names


def holds_anything(conn: Connection) -> bool:
    """Whether the connection's namespace holds anything of cachectl's: an entry, its stats
    hash, a tag set or a tag record (its audit log alone does not count: it records what was
    done, and a namespace is not kept alive by a record of its own flush).

    Its stats hash is asked first (one EXISTS, the answer for any namespace in use); only
    without it is the keyspace scanned, in bounded steps, and stopped at the first key found.
    """
    space = conn.keys
    if space.raw:
        return True  # outside any namespace: nothing to check
    if conn.client.exists(space.stats_key):
        return True
    audit = space.namespace.encode() + b"#audit"
    glob = escape_glob(space.namespace.encode()) + b"[:#]*"
    for node in conn.primaries():
        for _done, keys in scan_node(conn, node.name, glob, SCAN_COUNT):
            if any(key != audit and namespace_of(key) == space.namespace for key in keys):
                return True
    return False


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn a into b."""
    if len(a) < len(b):
        a, b = b, a
    before: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if before is not None and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
    return previous[-1]


def nearest(
    name: str, namespaces: list[NamespaceInfo]
) -> tuple[list[NamespaceInfo], list[NamespaceInfo]]:
    """namespaces split for a "did you mean": those near enough to name to be a typo of it,
    nearest first (edit distance, letter case aside; then the bigger), and the others in their
    order (biggest first). Near: about one edit in three letters, so 'billng' is near
    'billing' and 'myap' near 'myapp', while 'shop' is not near 'api'."""
    wanted = name.casefold()
    distances = {ns.name: edit_distance(wanted, ns.name.casefold()) for ns in namespaces}
    close = [
        ns for ns in namespaces if distances[ns.name] <= max(1, min(len(name), len(ns.name)) // 3)
    ]
    close.sort(key=lambda ns: (distances[ns.name], -ns.keys))
    return close, [ns for ns in namespaces if ns not in close]
