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


def _client(
    options: WarmOptions,
    headers: Sequence[tuple[str, str]],
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    default_headers = httpx.Headers({"User-Agent": USER_AGENT})
    default_headers.update(httpx.Headers(list(headers)))
    # As many kept-alive connections as workers, so that no request waits for a handshake.
    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    return httpx.AsyncClient(
        transport=transport,
        headers=default_headers,
        timeout=httpx.Timeout(options.timeout),
        limits=limits,
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
) -> WarmReport:
    """Warm every endpoint of the files, then measure; ConfigError before any request is sent.

    Pass 1 warms, passes 2..N are measured. Raises BackendUnavailable when no request of pass 1
    could connect. `on_progress(done, total)` is called as requests finish (throttled);
    `stats_probe()` is called before and after the measured passes and its delta reported.
    """
    options = options or WarmOptions()
    targets = load_targets(files, options)
    headers = expand_headers(options.headers, os.environ)
    app = load_app(options.app) if options.app is not None else None
    if app is not None and transport is not None:
        raise ConfigError("--app serves the requests itself: give no transport with it")
    async with contextlib.AsyncExitStack() as stack:
        if app is not None:
            served = await stack.enter_async_context(lifespan(app, str(options.app)))
            transport = httpx.ASGITransport(app=served, raise_app_exceptions=False)
        client = await stack.enter_async_context(_client(options, headers, transport))
        engine = Engine(
            client,
            targets,
            concurrency=options.concurrency,
            timeout=options.timeout,
            retries=options.retries,
            backoff=options.backoff,
            rate=options.rate,
            total=len(targets) * options.passes,
            on_progress=on_progress,
        )
        started = time.perf_counter()
        await engine.run_pass(measured=False)
        tally = engine.tally
        if tally.responses == 0 and tally.connect_failures == len(targets):
            raise _unreachable(engine, options)
        before = stats_probe() if stats_probe is not None and options.passes > 1 else None
        measured_s = 0.0
        for _ in range(options.passes - 1):
            measured_s += await engine.run_pass(measured=True)
        delta = _delta(before, stats_probe()) if before is not None and stats_probe else None
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
    )


def warm(
    files: EndpointFiles,
    options: WarmOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    stats_probe: StatsProbe | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> WarmReport:
    """run_warm() for synchronous callers such as the CLI (starts its own event loop)."""
    return asyncio.run(
        run_warm(
            files, options, on_progress=on_progress, stats_probe=stats_probe, transport=transport
        )
    )
