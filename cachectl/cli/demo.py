"""`cachectl demo`: the whole loop on the embedded default, started and stopped by itself."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from cachectl.cli.common import JsonOption, print_json


def demo(
    ctx: typer.Context,
    no_redis_server: Annotated[
        bool,
        typer.Option(
            "--no-redis-server",
            help="Use the in-process Redis-protocol server (fakeredis) even when redis-server "
            "is installed.",
        ),
    ] = False,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="After the tour, keep Redis, the shop and its Cache Management page running "
            "until Ctrl-C.",
        ),
    ] = False,
    json_output: JsonOption = False,
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

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


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
    from cachectl.cli import render

    render.note("Starting Redis, building the shop database and the application...")
    with demo_environment(use_redis_server=not no_redis_server) as env:
        render.show_demo_environment(env)
        for step in tour(env):
            check()
            render.show_demo_step(step)
        check()
        if keep_running:
            typer.echo(
                f"\nThe shop and its Cache Management page ({env.page_url}) keep running; "
                "Ctrl-C stops everything."
            )
            wait_until_stopped()
    render.note("Stopped everything the demo started.")
