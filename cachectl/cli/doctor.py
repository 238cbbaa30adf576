"""`cachectl doctor`: what is wrong with the namespace's cache, and what to do about it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cachectl.cli import options
from cachectl.cli.common import connection, examples, show
from cachectl.errors import CheckFailed, ConfigError

#: Shown at the end of `cachectl doctor --help`.
EXAMPLES = examples(
    "cachectl --namespace shop doctor --prefix users",
    "# A CI gate: exit status 1 when a warning or an error is found",
    "cachectl --namespace shop doctor --fail-on warning --json > diagnosis.json",
)


class FailOn(StrEnum):
    """The least severity that fails the run."""

    info = "info"
    warning = "warning"
    error = "error"


def doctor(
    ctx: typer.Context,
    prefix: options.AppPrefix = None,
    fail_on: Annotated[
        FailOn | None,
        typer.Option(
            help="Exit with status 1 when a finding of this severity or worse is present "
            "(after printing the report)."
        ),
    ] = None,
    sample_size: Annotated[
        int,
        options.count(
            "Entries whose type, TTL, memory and encoding are read: the first of each prefix, "
            "then every k-th in SCAN order. Counts are exact whatever N; shares found in the "
            "sample are extrapolated, and marked so.",
            1,
            "--sample",
        ),
    ] = 5000,
    json_output: options.Json = False,
    allow_empty: options.AllowEmpty = False,
) -> None:
    """Find what is wrong with the cache: prefixes the cache does not help, entries wasting
    memory, tags too big to invalidate, a server unfit for a cache.

    Reads the published stats, scans the namespace once on every primary (flush's step:
    each SCAN holds Redis a few milliseconds), reads a sample of entries, and asks each
    primary's INFO and CONFIG GET (what this user may not read becomes a note). Findings
    are grouped by severity, each with its figures, the prefixes, keys or tags concerned,
    and one recommendation. docs/doctor.md lists every finding. Read-only.
    """
    from cachectl.keys import to_bytes
    from cachectl.ops.doctor import diagnose, rank

    if prefix is not None and not to_bytes(prefix).rstrip(b":"):
        raise ConfigError("--prefix needs a non-empty prefix")
    with connection(ctx) as conn:
        diagnosis = diagnose(conn, prefix, sample_size)
        empty = None
        if any(finding.id == "empty" for finding in diagnosis.findings):
            from cachectl.cli.namespaces import empty_namespace

            # The same gate as stats, keys, inspect and flush: a mistyped namespace is status
            # 5 with the nearest names, not a report of nothing that a CI job reads as healthy.
            empty = empty_namespace(conn, allow_empty)
    from cachectl.cli.doctor_view import show_diagnosis

    show(diagnosis, json_output, show_diagnosis, empty)
    if fail_on is not None:
        failing = diagnosis.at_least(fail_on.value)
        if failing:
            counts = diagnosis.counts()
            n = sum(counts[level] for level in counts if rank(level) >= rank(fail_on.value))
            ids = ", ".join(dict.fromkeys(finding.id for finding in failing))
            raise CheckFailed(
                f"{n:,} finding{'' if n == 1 else 's'} at {fail_on.value} or worse "
                f"(--fail-on {fail_on.value}): {ids}"
            )
