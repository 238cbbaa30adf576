"""`cachectl latency`: round-trip percentiles to every primary, with microsecond resolution."""

from __future__ import annotations

from typing import Annotated

import typer

from cachectl.cli import options
from cachectl.cli.common import connection, examples, show
from cachectl.errors import CheckFailed

#: Shown at the end of `cachectl latency --help`.
EXAMPLES = examples(
    "cachectl --url redis://localhost:6379/0 latency --samples 200",
    "# A CI gate: exit status 1 when a PING or GET p99 is above 5 ms",
    "cachectl latency --max-p99 5 --json > latency.json",
)


def latency(
    ctx: typer.Context,
    samples: Annotated[int, options.count("Round trips per probe.")] = 100,
    interval: Annotated[float, options.option("MS", "Pause between round trips.", min=0.0)] = 5.0,
    max_p50: Annotated[float | None, options.above_ms("a PING or GET p50")] = None,
    max_p99: Annotated[float | None, options.above_ms("a PING or GET p99")] = None,
    json_output: options.Json = False,
) -> None:
    """Probe round trips: PING and GET of a canary key, and a cache set+get of 1 KB.

    PING and GET go over a dedicated connection speaking RESP directly, timed to the
    microsecond (redis-cli --latency counts whole milliseconds); the set+get goes through
    cachectl.Cache, as the application does. On a cluster, every primary is probed.
    """
    from cachectl.ops.latency import measure

    with connection(ctx) as conn:
        report = measure(conn, samples, interval)
    over = report.exceeded(max_p50, max_p99)
    from cachectl.cli.latency_view import show_latency

    show(report, json_output, lambda drawn: show_latency(drawn, over))
    if over:
        raise CheckFailed("latency above threshold: " + "; ".join(over))
