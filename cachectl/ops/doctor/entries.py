"""Findings about the stored entries, per prefix, from the sample: TTLs, sizes, encodings.

An entry the cache cannot read is one finding (undecodable) and no other: its TTL and size
are another program's doing.

A prefix's count is exact (the census); its shares come from its sampled entries and are
extrapolated to the count, which each finding says (its sample: size and population).
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cachectl.ops.doctor.model import (
    Affected,
    Figure,
    Finding,
    NodeFacts,
    Sample,
    Severity,
    plural,
)
from cachectl.ops.doctor.probe import Entry
from cachectl.stats import OTHER

#: A value this big, stored or decoded, is a big value.
BIG_VALUE = 512 * 1024
#: An uncompressed value whose start compresses this well should have been compressed.
COMPRESS_GAIN = 1.5
#: A compressed value that shrank less than this pays decompression for little.
UNPAID_RATIO = 1.1
#: Keys named in a finding at most.
SHOWN = 5


@dataclass
class Profile:
    """One prefix: its entries counted exactly, and those of them sampled."""

    prefix: str
    count: int
    entries: list[Entry] = field(default_factory=list)
    ns: bytes = b""

    @property
    def sample(self) -> Sample:
        """The sample the prefix's shares come from."""
        return Sample(len(self.entries), self.count)

    def scaled(self, n: float) -> int:
        """n sampled entries (or bytes of them) as a figure for the whole prefix."""
        if not self.entries:
            return 0
        return round(n * max(self.count, len(self.entries)) / len(self.entries))

    @property
    def estimated(self) -> bool:
        """Whether figures scaled from the sample are estimates."""
        return not self.sample.exact

    def memory(self) -> int | None:
        """The prefix's memory, from its sampled entries' MEMORY USAGE."""
        sizes = [e.memory for e in self.entries if e.memory is not None]
        if not sizes:
            return None
        return round(sum(sizes) / len(sizes) * max(self.count, len(self.entries)))

    def mean_stored(self) -> float | None:
        """The mean stored size of its sampled string values."""
        sizes = [e.stored for e in self.entries if e.stored is not None]
        return sum(sizes) / len(sizes) if sizes else None

    def typical_ttl(self) -> float | None:
        """The TTL its entries are written with, in seconds, about: the longest remaining TTL
        in the sample, scaled up by n/(n+1) (the expected gap to the largest of n uniform
        ages); None when no sampled entry has a TTL."""
        ttls = [e.ttl_ms for e in self.entries if e.ttl_ms is not None]
        if not ttls:
            return None
        return max(ttls) / 1000 * (len(ttls) + 1) / len(ttls)

    def keys(self, entries: Iterable[Entry]) -> tuple[bytes, ...]:
        """Application keys of entries (the namespace taken off), at most SHOWN."""
        out = []
        for entry in entries:
            out.append(entry.key[len(self.ns) :] if entry.key.startswith(self.ns) else entry.key)
            if len(out) >= SHOWN:
                break
        return tuple(out)


def profiles(
    counts: Counter[str], sample: Sequence[tuple[str, bytes]], entries: Sequence[Entry], ns: bytes
) -> dict[str, Profile]:
    """Every counted prefix with its sampled entries."""
    label_of = dict((key, label) for label, key in sample)
    out = {prefix: Profile(prefix, n, ns=ns) for prefix, n in counts.items()}
    for entry in entries:
        label = label_of.get(entry.key)
        if label is not None:
            out.setdefault(label, Profile(label, 0, ns=ns)).entries.append(entry)
    return out


def _figures(profile: Profile, n: int, memory: float | None) -> tuple[Figure, ...]:
    """The entries found (n of the sample) and the memory they hold, scaled to the prefix."""
    estimated = profile.estimated
    out = [
        Figure("entries", "entries", profile.scaled(n), estimated=estimated),
        Figure("share", "share of the prefix", n / max(len(profile.entries), 1), "ratio"),
    ]
    if memory is not None:
        out.append(Figure("memory", "memory", profile.scaled(memory), "bytes", estimated=estimated))
    return tuple(out)


def _finding(
    profile: Profile,
    found: Sequence[Entry],
    id: str,
    severity: Severity,
    what: str,
    advice: str,
    memory: float | None = None,
    extra: tuple[Figure, ...] = (),
) -> Finding:
    """A finding on the entries found in profile's sample: how many there are scaled to the
    prefix (what they are: 'entry/entries without a TTL'), their share and memory, then extra
    figures; their keys are the affected ones, sampled as the profile was."""
    n = len(found)
    return Finding(
        id,
        severity,
        "prefix",
        profile.prefix,
        _entries(profile, n, what),
        (*_figures(profile, n, memory), *extra),
        advice,
        Affected("key", profile.keys(found), profile.scaled(n)),
        profile.sample,
    )


def _entries(profile: Profile, n: int, what: str) -> str:
    """'Prefix 'p': ~1,200 entries without a TTL' ('1 entry' when exact)."""
    scaled = profile.scaled(n)
    approx = "~" if profile.estimated else ""
    return f"Prefix '{profile.prefix}': {approx}{scaled:,} {plural(scaled, what)}"


def _option(profile: Profile) -> str:
    """' --prefix P' (quoted for a shell) naming the prefix in a command; '' for OTHER, the
    prefixes past the bound, which no option names."""
    return "" if profile.prefix == OTHER else f" --prefix {shlex.quote(profile.prefix)}"


def _evicting(facts: Sequence[NodeFacts]) -> bool:
    """Whether every primary evicts any entry when full (an allkeys policy, with a limit)."""
    return bool(facts) and all(
        (node.policy or "").startswith("allkeys") and bool(node.maxmemory) for node in facts
    )


def no_ttl(profile: Profile, facts: Sequence[NodeFacts]) -> Finding | None:
    """Entries that never expire."""
    found = [e for e in profile.entries if e.ttl_ms is None and e.problem is None]
    if not found:
        return None
    memory = sum(e.memory or 0 for e in found)
    policies = sorted({node.policy or "unknown" for node in facts})
    evicting = _evicting(facts)
    fate = (
        "they leave only when evicted"
        if evicting
        else f"nothing ever removes them but a deletion (maxmemory-policy {', '.join(policies)})"
    )
    return _finding(
        profile,
        found,
        "no-ttl",
        "warning",
        "entry/entries without a TTL",
        f"Give '{profile.prefix}' a TTL (ttl= on set or on the decorator, or default_ttl): "
        f"{fate}, so stale values and memory stay.",
        memory,
    )


def big_values(profile: Profile) -> Finding | None:
    """Values big enough to hold Redis and the network on every read."""
    found = sorted(
        (
            e
            for e in profile.entries
            if e.problem is None and max(e.stored or 0, e.decoded or 0) >= BIG_VALUE
        ),
        key=lambda e: -max(e.stored or 0, e.decoded or 0),
    )
    if not found:
        return None
    biggest = found[0]
    return _finding(
        profile,
        found,
        "big-values",
        "warning",
        f"value/values of {BIG_VALUE // 1024} KiB or more",
        f"Cache smaller values under '{profile.prefix}' (the fields a page shows, a page of "
        "results, one key per item): every read moves the whole value through Redis's single "
        "thread and the network, then decodes it. "
        f"cachectl keys{_option(profile)} --top 10 lists the biggest exactly.",
        sum(e.memory or 0 for e in found),
        (
            Figure("largest_stored", "largest stored", biggest.stored, "bytes"),
            Figure("largest_decoded", "largest decoded", biggest.decoded, "bytes"),
            Figure("threshold", "big from", BIG_VALUE, "bytes"),
        ),
    )


def uncompressed(profile: Profile, threshold: int) -> Finding | None:
    """Values in cachectl's format stored uncompressed above the threshold that compress."""
    found = [
        e
        for e in profile.entries
        if e.cachectl
        and e.problem is None
        and e.compressible is not None
        and e.compressible >= COMPRESS_GAIN
    ]
    if not found:
        return None
    saved = sum((e.stored or 0) * (1 - 1 / (e.compressible or 1)) for e in found)
    ratio = min(e.compressible or 0 for e in found)
    return _finding(
        profile,
        found,
        "uncompressed-values",
        "info",
        "value/values stored uncompressed that compress",
        f"Write '{profile.prefix}' with compression on (compress_threshold "
        f"{threshold:,} bytes, lz4): these were stored uncompressed by an older version or "
        "another setting; they shrink as they are written again or expire.",
        extra=(
            Figure("threshold", "compress_threshold", threshold, "bytes"),
            Figure("ratio", "lz4 ratio of their start", ratio, "factor"),
            Figure("saving", "memory compression saves", profile.scaled(saved), "bytes", True),
        ),
    )


def unpaid(profile: Profile) -> Finding | None:
    """Compressed values that barely shrank: each read pays decompression for nothing."""
    found = [
        e
        for e in profile.entries
        if e.cachectl
        and e.compression != "none"
        and e.decoded
        and e.stored
        and e.decoded / e.stored < UNPAID_RATIO
    ]
    if not found:
        return None
    worst = min((e.decoded or 0) / (e.stored or 1) for e in found)
    return _finding(
        profile,
        found,
        "compression-unpaid",
        "info",
        f"value/values compressed to no less than {1 / UNPAID_RATIO:.0%} of their size",
        f"Store '{profile.prefix}' without compression (already compressed data such as "
        "images or gzip: raise compress_threshold above their size): every read pays the "
        "decompression for almost no memory saved.",
        extra=(
            Figure("ratio", "lowest ratio", worst, "factor"),
            Figure("threshold", "worth it from", UNPAID_RATIO, "factor"),
        ),
    )


def undecodable(profile: Profile, namespace: str) -> Finding | None:
    """Entries the cache cannot read: foreign formats, corrupt values, Redis collections."""
    found = [e for e in profile.entries if e.problem is not None]
    if not found:
        return None
    kinds = Counter(
        "corrupt"
        if e.problem and e.problem.startswith("corrupt")
        else e.type
        if e.type != "string"
        else e.codec
        for e in found
    )
    what = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common(4))
    return _finding(
        profile,
        found,
        "undecodable",
        "warning",
        "entry/entries the cache cannot read",
        f"Another program writes under namespace '{namespace}' or a value was corrupted: the "
        "cache reads these as misses and counts an error each time. Give the other program "
        "a namespace of its own; cachectl inspect KEY shows one, "
        + (
            f"cachectl flush{_option(profile)} removes them."
            if profile.prefix != OTHER
            else "cachectl flush --key KEY removes one."
        ),
        sum(e.memory or 0 for e in found),
        (Figure("kinds", "kinds", what, "text"),),
    )


def findings(
    found: dict[str, Profile], facts: Sequence[NodeFacts], threshold: int, namespace: str
) -> list[Finding]:
    """Every entry finding of every prefix, the prefixes with most entries first."""
    out: list[Finding] = []
    for profile in sorted(found.values(), key=lambda p: (-p.count, p.prefix)):
        for finding in (
            undecodable(profile, namespace),
            big_values(profile),
            no_ttl(profile, facts),
            uncompressed(profile, threshold),
            unpaid(profile),
        ):
            if finding is not None:
                out.append(finding)
    return out
