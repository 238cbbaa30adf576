"""`cachectl demo`: the whole loop on the embedded default, started and stopped by itself."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cachectl.cli import options
from cachectl.cli.common import examples, print_json

if TYPE_CHECKING:
    from cachectl.demo.environment import DemoEnvironment
    from cachectl.demo.summary import DemoSummary
    from cachectl.demo.tour import Step


#: Shown at the end of `cachectl demo --help`.
EXAMPLES = examples(
    "cachectl demo",
    "# Keep the shop and its Cache Management page up until Ctrl-C",
    "cachectl demo --keep-running",
)


def demo(
    ctx: typer.Context,
    no_redis_server: Annotated[
        bool,
        options.flag(
            "--no-redis-server",
            "Use the in-process Redis-protocol server (fakeredis) even when redis-server is "
            "installed.",
        ),
    ] = False,
    keep_running: Annotated[
        bool,
        options.flag(
            "--keep-running",
            "After the tour, keep Redis, the shop and its Cache Management page running until "
            "Ctrl-C.",
        ),
    ] = False,
    json_output: options.Json = False,
) -> None:
    """Start Redis and the reference shop, warm it, show stats, inspect, invalidate, flush.

    Redis is a redis-server on a free port when one is installed, else fakeredis's
    in-process server; the application runs under uvicorn on a free port. Everything it
    started is stopped at the end, also on Ctrl-C. Needs the fastapi extra:
    pip install 'cachectl-redis[fastapi]'. With --json, one JSON document: the environment,
    every step's result and the summary (the speedup of the cached dashboard endpoints). The shop
    mounts the Cache Management page at /_cache/; its address and admin token are printed,
    and --keep-running leaves it up after the tour until Ctrl-C. The demo never uses your
    Redis: --url, --namespace and --password-file are refused (the tour flushes keys), and
    $CACHECTL_URL and the settings file are not read.
    """
    _refuse_connection_options(ctx)
    try:
        import fakeredis  # noqa: F401
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        from cachectl.errors import ConfigError

        raise ConfigError(
            f"cachectl demo needs the fastapi extra ({exc.name} is missing): "
            "pip install 'cachectl-redis[fastapi]'"
        ) from None
    try:
        with _interrupts() as interrupted:
            _run(no_redis_server, keep_running, json_output, interrupted)
    except KeyboardInterrupt:
        typer.echo("cachectl: interrupted; stopped everything the demo started", err=True)
        raise typer.Exit(130) from None


def _refuse_connection_options(ctx: typer.Context) -> None:
    """The tour writes, invalidates and flushes keys: on its own Redis only, never on one an
    option names (so an option given is an error, not silently ignored)."""
    from cachectl.cli.common import Settings
    from cachectl.errors import ConfigError

    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    given = [
        f"--{name.replace('_', '-')}"
        for name in ("url", "namespace", "password_file")
        if getattr(settings, name) is not None
    ]
    if given:
        raise ConfigError(
            f"cachectl demo runs on a Redis of its own and never touches yours: drop "
            f"{' and '.join(given)} (for your own cache, try: cachectl --url URL ui)"
        )


@contextlib.contextmanager
def _interrupts() -> Iterator[threading.Event]:
    """SIGINT also sets an event: a KeyboardInterrupt that lands in a finalizer (an event
    loop's __del__, say) is ignored by Python, and the demo would go on to the end."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handler(signum: int, frame: Any) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    def unraisable(report: Any) -> None:
        # Python would print the ignored KeyboardInterrupt with its traceback; the event
        # already holds it, and the demo stops at its next check.
        if report.exc_type is not KeyboardInterrupt:
            previous_hook(report)

    previous = signal.signal(signal.SIGINT, handler)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


def _run(
    no_redis_server: bool, keep_running: bool, json_output: bool, interrupted: threading.Event
) -> None:
    from cachectl.demo.environment import demo_environment, wait_until_stopped
    from cachectl.demo.tour import tour

    def check() -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt

    if json_output:
        # No Rich with --json: the notes go to stderr as plain lines, the document to stdout.
        typer.echo("Starting Redis, building the shop database and the application...", err=True)
        with demo_environment(use_redis_server=not no_redis_server) as env:
            environment = {
                "redis_url": env.redis_url,
                "redis_kind": env.redis_kind,
                "app_url": env.app_url,
                "page_url": env.page_url,
                "namespace": env.namespace,
            }
            steps = []
            for step in tour(env):
                check()
                steps.append(step.to_dict())
            summary = next(step["result"] for step in steps if step["kind"] == "summary")
            print_json({"environment": environment, "summary": summary, "steps": steps})
            if keep_running:
                typer.echo(f"Running until Ctrl-C; admin token {env.admin_token}", err=True)
                wait_until_stopped()
        typer.echo("Stopped everything the demo started.", err=True)
        return
    from cachectl.cli.render import note

    note("Starting Redis, building the shop database and the application...")
    with demo_environment(use_redis_server=not no_redis_server) as env:
        _show_environment(env)
        for step in tour(env):
            check()
            _show_step(step)
        check()
        if keep_running:
            typer.echo(
                f"\nThe shop and its Cache Management page ({env.page_url}) keep running; "
                "Ctrl-C stops everything."
            )
            wait_until_stopped()
    note("Stopped everything the demo started.")


# -- the tour's view: each step drawn as its command draws it --------------------------------


def _show_environment(env: DemoEnvironment) -> None:
    """Where the demo's parts run."""
    from cachectl.cli.render import out, text

    out().rule("cachectl demo")
    out().print(
        text(
            f"Redis ({env.redis_kind}) at {env.redis_url}, the reference shop at {env.app_url}, "
            f"namespace {env.namespace!r}, database {env.db_path}"
        )
    )
    out().print(text(f"Cache Management page at {env.page_url}, admin token {env.admin_token}"))


def _show_step(step: Step) -> None:
    """One step of the tour, rendered like the command it stands for."""
    from cachectl.cli.flush_view import show_flushed
    from cachectl.cli.inspect_view import show_inspection
    from cachectl.cli.render import out, text
    from cachectl.cli.stats_view import show_stats
    from cachectl.cli.warm_view import show_warm

    if step.kind == "summary":
        _show_summary(step.result)
        return
    out().print()
    out().rule(text(f"$ {step.title}"), align="left")
    out().print(text(step.explanation, style="italic"))
    if step.kind == "warm":
        show_warm(step.result, limit=8)
    elif step.kind == "stats":
        show_stats(step.result)
    elif step.kind == "inspect":
        show_inspection(step.result)
    elif step.kind == "flush":
        show_flushed(*step.result)
    elif step.kind == "invalidation":
        change = step.result
        out().print(
            text(
                f"{change.request} removed {len(change.removed)} of "
                f"{len(change.removed) + change.kept} entries "
                f"(X-Cache-Invalidated: {change.header}), all tagged with it:"
            )
        )
        for key in change.removed:
            out().print(text(f"  - {key}"))


def _show_summary(summary: DemoSummary) -> None:
    """The demo's closing summary, the speedup of the cached dashboard endpoints first."""
    from cachectl.cli.render import millis, out, text

    out().print()
    out().rule("Summary", align="left")
    for row in summary.dashboard:
        if row.speedup is None:
            why = "no cold figure: its first request was already a cache hit"
            out().print(text(f"{row.path}: {why}; cached p50 {millis(row.warm_p50_ms)} ms"))
            continue
        out().print(
            text(
                f"{row.path}: {row.speedup:,.0f}x faster cached: cold {millis(row.cold_ms)} ms "
                f"-> cached p50 {millis(row.warm_p50_ms)} ms, p95 {millis(row.warm_p95_ms)} ms "
                f"({row.speedup_p95:,.0f}x at p95; {row.hits}/{row.samples} X-Cache: HIT)",
                style="bold",
            )
        )
    median = "-" if summary.median_speedup is None else f"{summary.median_speedup:,.1f}x"
    lines = [
        f"All {summary.endpoints} endpoints: median speedup {median}; "
        f"{summary.measured_hits} of {summary.measured} measured requests answered "
        "X-Cache: HIT",
        f"Measured one request at a time (concurrency {summary.concurrency}); cold figures only "
        f"from requests that missed the cache ({summary.cold_misses} of {summary.endpoints}); "
        "hits from each response's X-Cache header, not from published stats.",
    ]
    for line in lines:
        out().print(text(line))
