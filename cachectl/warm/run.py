"""warm() and run_warm(): read the endpoint files, open one client, run the passes, judge."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence

import httpx

from cachectl.config import redact_url
from cachectl.errors import BackendUnavailable, ConfigError
from cachectl.warm.app import lifespan, load_app
from cachectl.warm.engine import Engine, ProgressCallback
from cachectl.warm.headers import expand_headers
from cachectl.warm.judge import build_report
from cachectl.warm.options import WarmOptions
from cachectl.warm.report import WarmReport
from cachectl.warm.targets import load_targets

StatsProbe = Callable[[], Mapping[str, int]]
USER_AGENT = "cachectl-warm"

EndpointFiles = Sequence[str | os.PathLike[str]]


def _client(options: WarmOptions, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    # The --header values are not client defaults: the engine adds them per request, only
    # for the origins they may go to.
    default_headers = httpx.Headers({"User-Agent": USER_AGENT})
    # As many kept-alive connections as workers, so that no request waits for a handshake.
    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    return httpx.AsyncClient(
        transport=transport,
        headers=default_headers,
        timeout=httpx.Timeout(options.timeout),
        limits=limits,
        follow_redirects=False,  # a redirect must not carry the headers to another origin
    )


def _unreachable(engine: Engine, options: WarmOptions) -> BackendUnavailable:
    base_url = options.effective_base_url
    names = sorted({origin.name for origin in engine.origins})
    where = redact_url(base_url) if base_url else ", ".join(names)
    reason = next((o.down for o in engine.origins if o.down), None) or engine.records[0].error
    return BackendUnavailable(f"cannot reach {where}: {reason}")


def _delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {key: after.get(key, 0) - before.get(key, 0) for key in sorted({*before, *after})}


async def run_warm(
    files: EndpointFiles,
    options: WarmOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    stats_probe: StatsProbe | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    partial_on_cancel: bool = False,
) -> WarmReport:
    """Warm every endpoint of the files, then measure; ConfigError before any request is sent.

    Pass 1 warms, passes 2..N are measured. Raises BackendUnavailable when no request of pass 1
    could connect. `on_progress(done, total)` is called as requests finish (throttled);
    `stats_probe()` is called before and after the measured passes and its delta reported.
    With `partial_on_cancel`, a cancellation (Ctrl-C under asyncio.run) returns the report
    of the requests done so far, marked interrupted, instead of raising.
    """
    options = options or WarmOptions()
    targets = load_targets(files, options)
    headers = expand_headers(options.headers, os.environ)
    policy = options.header_policy
    app = load_app(options.app, options.factory) if options.app is not None else None
    if app is not None and transport is not None:
        raise ConfigError("--app serves the requests itself: give no transport with it")
    async with contextlib.AsyncExitStack() as stack:
        if app is not None:
            served = await stack.enter_async_context(lifespan(app, str(options.app)))
            transport = httpx.ASGITransport(app=served, raise_app_exceptions=False)
        client = await stack.enter_async_context(_client(options, transport))
        engine = Engine(
            client,
            targets,
            concurrency=options.concurrency,
            timeout=options.timeout,
            retries=options.retries,
            backoff=options.backoff,
            rate=options.rate,
            total=len(targets) * options.passes,
            headers=headers,
            policy=policy,
            on_progress=on_progress,
        )
        started = time.perf_counter()
        tally = engine.tally
        measured_s = 0.0
        delta = None
        interrupted = False
        try:
            await engine.run_pass(measured=False)
            if tally.responses == 0 and tally.connect_failures == len(targets):
                raise _unreachable(engine, options)
            before = stats_probe() if stats_probe is not None and options.passes > 1 else None
            for _ in range(options.passes - 1):
                measured_s += await engine.run_pass(measured=True)
            delta = _delta(before, stats_probe()) if before is not None and stats_probe else None
        except asyncio.CancelledError:
            if not partial_on_cancel:
                raise
            interrupted = True
        duration_s = time.perf_counter() - started
    return build_report(
        targets,
        engine.records,
        tally,
        base_url=options.effective_base_url,
        header_names=[name for name, _ in headers],
        passes=options.passes,
        duration_s=duration_s,
        measured_s=measured_s,
        stats_delta=delta,
        max_p95_ms=options.max_p95_ms,
        min_hit_ratio=options.min_hit_ratio,
        concurrency=options.concurrency,
        received_bytes=engine.received_bytes,
        header_origins=policy.names if headers else (),
        headers_withheld=dict(engine.withheld),
        interrupted=interrupted,
    )


def warm(
    files: EndpointFiles,
    options: WarmOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    stats_probe: StatsProbe | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> WarmReport:
    """run_warm() for synchronous callers such as the CLI (starts its own event loop).

    Ctrl-C stops the run and returns what was measured, with `interrupted` set.
    """
    return asyncio.run(
        run_warm(
            files,
            options,
            on_progress=on_progress,
            stats_probe=stats_probe,
            transport=transport,
            partial_on_cancel=True,
        )
    )
