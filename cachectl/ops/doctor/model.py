"""What a diagnosis is made of: findings with their figures, and the report that holds them.

Plain frozen dataclasses with to_dict, so that the command line, the admin router and a CI job
read the same data; docs/doctor.md documents the JSON shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from cachectl.keys import display_name
from cachectl.ops.record import record

Severity = Literal["info", "warning", "error"]
#: Severities, least severe first.
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")
#: What a figure measures, so that a renderer can show it in its unit.
Unit = Literal["count", "bytes", "ratio", "factor", "ms", "seconds", "per_second", "text"]
#: What a finding is about.
SubjectKind = Literal["namespace", "prefix", "tag", "node"]


def plural(n: int, forms: str) -> str:
    """The form of 'entry/entries ...' for n: 'entry ...' for one, 'entries ...' else (the
    slash splits the first word only)."""
    first, _, rest = forms.partition(" ")
    one, _, many = first.partition("/")
    return (one if n == 1 else many or one) + (f" {rest}" if rest else "")


def rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for error."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of the evidence: a name for programs, a label for people, a value in unit.

    estimated: extrapolated from a sample (see the finding's sample)."""

    name: str
    label: str
    value: int | float | str | None
    unit: Unit = "count"
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figure."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Affected:
    """A bounded sample of what a finding concerns: keys (application keys, namespace off),
    prefixes, tags or nodes, and how many there are in all (None: unknown)."""

    kind: Literal["key", "prefix", "tag", "node"]
    items: tuple[bytes, ...] | tuple[str, ...] = ()
    total: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready sample; a key or tag that is not UTF-8 also carries its bytes in hex."""
        items: list[dict[str, str]] = []
        for item in self.items:
            if isinstance(item, bytes):
                entry = {"name": display_name(item)}
                try:
                    item.decode("utf-8")
                except UnicodeDecodeError:
                    entry["hex"] = item.hex()
                items.append(entry)
            else:
                items.append({"name": item})
        return {"kind": self.kind, "items": items, "total": self.total}


@dataclass(frozen=True, slots=True)
class Sample:
    """How figures were sampled: size keys read of population (None: unknown)."""

    size: int
    population: int | None

    @property
    def exact(self) -> bool:
        """Whether the sample is the whole population."""
        return self.population is not None and self.size >= self.population

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"size": self.size, "population": self.population, "exact": self.exact}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the doctor found wrong, with its evidence and what to do about it."""

    id: str
    severity: Severity
    subject_kind: SubjectKind
    subject: str  # the prefix, tag, node or namespace concerned
    title: str
    evidence: tuple[Figure, ...]
    recommendation: str
    affected: Affected | None = None
    sample: Sample | None = None  # None: the figures are exact

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready finding (docs/doctor.md)."""
        return {
            "id": self.id,
            "severity": self.severity,
            "subject": {"kind": self.subject_kind, "name": self.subject},
            "title": self.title,
            "evidence": [figure.to_dict() for figure in self.evidence],
            "affected": None if self.affected is None else self.affected.to_dict(),
            "sample": None if self.sample is None else self.sample.to_dict(),
            "recommendation": self.recommendation,
        }


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What could be read of one primary; None where it could not."""

    node: str
    used_memory: int | None = None
    rss: int | None = None
    maxmemory: int | None = None  # 0: no limit
    policy: str | None = None
    evicted_keys: int | None = None
    expired_keys: int | None = None
    uptime_seconds: int | None = None
    fragmentation: float | None = None
    ping_ms: tuple[float, float] | None = None  # p50, p99 of a PING round trip
    refused: tuple[str, ...] = ()  # what the server refused, said for a note

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts."""
        ping = [None, None] if self.ping_ms is None else [round(ms, 3) for ms in self.ping_ms]
        head = record(self, "node", "used_memory", "maxmemory", maxmemory_policy=self.policy)
        names = "evicted_keys", "expired_keys", "uptime_seconds", "fragmentation"
        return head | record(self, *names, ping_p50_ms=ping[0], ping_p99_ms=ping[1])


@dataclass(frozen=True, slots=True)
class Scope:
    """What the doctor examined: keys scanned, keys sampled, and how long it took."""

    primaries: int
    entries: int  # data keys of the namespace (or of --prefix), counted exactly
    tag_sets: int
    prefixes: int
    sampled: int  # entries whose type, TTL, memory and header were read
    sample_limit: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready scope."""
        return {**asdict(self), "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Every finding of one run, worst first, and the notes on what could not be checked."""

    url: str
    namespace: str
    cluster: bool
    prefix: str | None
    scope: Scope
    findings: tuple[Finding, ...]
    servers: tuple[NodeFacts, ...] = ()
    notes: tuple[str, ...] = ()
    #: Findings left out past the bound per id (see MAX_PER_ID), by id.
    omitted: Mapping[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Findings per severity (omitted ones included)."""
        out: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        for finding in self.findings:
            out[finding.severity] += 1
        for finding_id, n in self.omitted.items():
            severity = next(f.severity for f in self.findings if f.id == finding_id)
            out[severity] += n
        return out

    def at_least(self, severity: str) -> list[Finding]:
        """The findings of severity or worse."""
        floor = rank(severity)
        return [f for f in self.findings if rank(f.severity) >= floor]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready diagnosis (docs/doctor.md)."""
        return record(
            self,
            "url",
            "namespace",
            "cluster",
            "prefix",
            scope=self.scope.to_dict(),
            servers=[server.to_dict() for server in self.servers],
            counts=self.counts(),
            findings=[finding.to_dict() for finding in self.findings],
            omitted=dict(self.omitted),
            notes=list(self.notes),
        )


#: Findings of one id kept at most (the worst first); the others are counted in omitted.
MAX_PER_ID = 20


def ordered(findings: Sequence[Finding]) -> tuple[tuple[Finding, ...], dict[str, int]]:
    """Findings worst first (stable within a severity), at most MAX_PER_ID of each id."""
    kept: list[Finding] = []
    omitted: dict[str, int] = {}
    seen: dict[str, int] = {}
    for finding in sorted(findings, key=lambda f: -rank(f.severity)):
        seen[finding.id] = seen.get(finding.id, 0) + 1
        if seen[finding.id] > MAX_PER_ID:
            omitted[finding.id] = omitted.get(finding.id, 0) + 1
        else:
            kept.append(finding)
    return tuple(kept), omitted
