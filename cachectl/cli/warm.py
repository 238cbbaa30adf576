"""`cachectl warm`: request endpoint lists, then prove they answer from the cache, fast."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from cachectl.cli import options
from cachectl.cli.common import Settings, examples, print_json
from cachectl.errors import CachectlError, CheckFailed

if TYPE_CHECKING:
    from cachectl.warm import StatsProbe


INTERRUPTED = 130  # as a shell reports a command stopped by SIGINT


@contextlib.contextmanager
def _stats_probe(ctx: typer.Context) -> Iterator[StatsProbe | None]:
    """A reading of the total hits and misses published, when a cache URL is given or
    configured; None otherwise.

    warm polls it from a worker thread until the figures count the lookups the responses
    announced: one connection serves every reading, opened at the first and closed at the end
    (a reading that fails is empty, and the next one connects again).
    """
    settings = ctx.find_object(Settings) or Settings()
    if settings.url is None and not (os.environ.get("CACHECTL_URL") or os.environ.get("REDIS_URL")):
        yield None
        return
    from cachectl.ops.connect import Connection, connect, translate_errors
    from cachectl.stats import CacheStats

    config = settings.config()
    opened: list[Connection] = []

    def read() -> dict[str, int]:
        try:
            if not opened:
                opened.append(connect(config))
            conn = opened[0]
            with translate_errors(conn.config):
                fields = conn.backend.read_counters(conn.keys.stats_key)
        except CachectlError:
            if opened:
                opened.pop().close()
            return {}
        total = CacheStats.from_fields(fields).total
        return {"hits": total.hits, "misses": total.misses}

    try:
        yield read
    finally:
        if opened:
            opened.pop().close()


#: Shown at the end of `cachectl warm --help`.
EXAMPLES = examples(
    "cachectl warm endpoints.txt --base-url http://localhost:8000",
    "# A CI gate: exit status 1 past 50 ms at p95, and a JUnit report",
    "cachectl warm urls.txt --base-url http://app:8000 --max-p95 50 --junit w.xml",
)


def warm(
    ctx: typer.Context,
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE...",
            help="Endpoint lists: text ('[METHOD] path-or-URL' a line, # comments, {1..20} "
            "ranges), sitemap XML, or JSON targets (one object a line, as vegeta's).",
        ),
    ],
    base_url: Annotated[
        str | None, options.option("URL", "Joined to every path (absolute URLs are kept).")
    ] = None,
    concurrency: Annotated[int, options.option("N", "Requests in flight.")] = 16,
    rate: Annotated[float | None, options.option("R", "At most R requests per second.")] = None,
    timeout: Annotated[float, options.option("S", "Seconds per request.")] = 10.0,
    retries: Annotated[
        int, options.option("N", "Retries on connection errors and 5xx, with backoff.")
    ] = 2,
    header: Annotated[
        list[str] | None,
        options.option(
            "'Name: value'",
            "Sent with every request to the --base-url origin (and --header-origin ones); "
            "${VAR} reads the environment. Values are never printed.",
        ),
    ] = None,
    header_origin: Annotated[
        list[str] | None,
        options.option(
            "ORIGIN",
            "Also send the --header values to this scheme://host[:port] (repeatable). "
            "Requests to any other origin go without them.",
        ),
    ] = None,
    variant: Annotated[
        list[str] | None,
        options.option("'Name: v1,v2'", "Warm each value of a Vary header separately."),
    ] = None,
    passes: Annotated[int, options.option("N", "Pass 1 warms; passes 2..N are measured.")] = 2,
    max_p95: Annotated[float | None, options.above_ms("the measured p95")] = None,
    min_hit_ratio: Annotated[
        float | None,
        options.option(
            "R",
            "Exit with status 1 when fewer than R of the measured requests were cache hits "
            "(X-Cache, CF-Cache-Status, or Age > 0).",
        ),
    ] = None,
    app: Annotated[
        str | None,
        options.option(
            "MODULE:ATTR",
            "Warm an ASGI application (or a factory that returns one) in process: no server "
            "needed.",
        ),
    ] = None,
    factory: Annotated[
        bool | None,
        options.flag(
            "--factory/--no-factory",
            "Whether --app names a factory (default: told from its signature).",
        ),
    ] = None,
    junit: Annotated[str | None, options.option("PATH", "Write a JUnit XML report there.")] = None,
    json_output: options.Json = False,
) -> None:
    """Request endpoints to fill the cache, then measure that they answer from it.

    Pass 1 warms; later passes measure cold vs warm latency, speedup and whether each
    response came from the cache. Latencies are measured with --concurrency requests in
    flight (use --concurrency 1 for the latency of one request alone). Exit status 1 when an
    endpoint failed or a threshold was missed, 2 for a bad endpoint file or option (nothing is
    requested), 3 when the base URL cannot be reached at all, 130 on Ctrl-C (after a partial
    summary).
    """
    from cachectl.warm import WarmOptions, check_junit_path, write_junit
    from cachectl.warm import warm as run

    options = WarmOptions(
        base_url=base_url,
        concurrency=concurrency,
        rate=rate,
        timeout=timeout,
        retries=retries,
        headers=tuple(header or ()),
        passes=passes,
        max_p95_ms=max_p95,
        min_hit_ratio=min_hit_ratio,
        variants=tuple(variant or ()),
        app=app,
        header_origins=tuple(header_origin or ()),
        factory=factory,
    )
    if junit is not None:
        check_junit_path(junit)  # now, not after the run
    with _stats_probe(ctx) as probe:
        if json_output:
            report = run(files, options, stats_probe=probe)
        else:
            from cachectl.cli.warm_view import request_progress

            with request_progress() as on_progress:
                report = run(files, options, stats_probe=probe, on_progress=on_progress)
    if junit is not None:
        write_junit(report, junit)
    if json_output:
        print_json(report.to_dict())
    else:
        from cachectl.cli.warm_view import show_warm

        show_warm(report)
    if report.interrupted:
        typer.echo("cachectl: interrupted", err=True)
        raise typer.Exit(INTERRUPTED)
    if not report.passed:
        raise CheckFailed(report.failures[0] if report.failures else "warm failed")
