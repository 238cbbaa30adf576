"""How `cachectl latency` draws its probes: percentiles in milliseconds, one row a probe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cachectl.cli.render import figures, millis, name, number, out, text, unbreakable

if TYPE_CHECKING:
    from rich.text import Text

    from cachectl.ops.latency import LatencyReport


def show_latency(report: LatencyReport, over: Sequence[str]) -> None:
    """The probes' percentiles in milliseconds."""
    from rich.table import Table

    table = Table(title=text(name(f"Round trips to {report.url} (ms)")), title_justify="left")
    if report.cluster:
        table.add_column("node", overflow="fold")
    table.add_column("probe", overflow="fold")
    figures(table, "samples", "min", "p50", "p90", "p99", "max")
    for probe in report.probes:
        q = probe.quantiles()
        failed = any(line.startswith(probe.name + " ") and probe.node in line for line in over)
        cells: list[Text | str] = [text(probe.name), number(len(probe.samples_us))]
        cells += [millis(q[name] / 1000) for name in ("min", "p50", "p90", "p99", "max")]
        table.add_row(
            *([text(probe.node)] if report.cluster else []),
            *cells,
            style="bold red" if failed else "",
        )
    table.caption = "PING, GET: own raw connection; set+get: through cachectl.Cache"
    table.caption_justify = "left"
    out().print(unbreakable(table))
