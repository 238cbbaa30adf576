"""`cachectl latency`: round-trip percentiles to every primary, with microsecond resolution."""

from __future__ import annotations

from typing import Annotated

import typer

from cachectl.cli.common import JsonOption, connection, examples, print_json
from cachectl.errors import CheckFailed

#: Shown at the end of `cachectl latency --help`.
EXAMPLES = examples(
    "cachectl --url redis://localhost:6379/0 latency --samples 200",
    "# A CI gate: exit status 1 when a PING or GET p99 is above 5 ms",
    "cachectl latency --max-p99 5 --json > latency.json",
)


def latency(
    ctx: typer.Context,
    samples: Annotated[int, typer.Option(metavar="N", min=1, help="Round trips per probe.")] = 100,
    interval: Annotated[
        float, typer.Option(metavar="MS", min=0.0, help="Pause between round trips.")
    ] = 5.0,
    max_p50: Annotated[
        float | None,
        typer.Option(metavar="MS", help="Exit with status 1 when a PING or GET p50 is above MS."),
    ] = None,
    max_p99: Annotated[
        float | None,
        typer.Option(metavar="MS", help="Exit with status 1 when a PING or GET p99 is above MS."),
    ] = None,
    json_output: JsonOption = False,
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
    if json_output:
        print_json(report.to_dict())
    else:
        from cachectl.cli.latency_view import show_latency

        show_latency(report, over)
    if over:
        raise CheckFailed("latency above threshold: " + "; ".join(over))
