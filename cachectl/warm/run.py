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
from cachectl.warm.app import ABANDON_AFTER, lifespan, load_app
from cachectl.warm.engine import Engine, ProgressCallback
from cachectl.warm.headers import expand_headers
from cachectl.warm.judge import build_report
from cachectl.warm.options import SETTLE_INTERVAL, SETTLE_LIMIT, SETTLE_POLL, WarmOptions
from cachectl.warm.record import EndpointRecord, Tally
from cachectl.warm.report import WarmReport
from cachectl.warm.targets import Target, load_targets

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


def _lookups(reading: Mapping[str, int]) -> int:
    return reading.get("hits", 0) + reading.get("misses", 0)


async def settled_reading(
    probe: StatsProbe,
    base: Mapping[str, int] | None = None,
    expected: int = 0,
    interval: float = SETTLE_INTERVAL,
    limit: float = SETTLE_LIMIT,
    poll: float = SETTLE_POLL,
) -> Mapping[str, int]:
    """probe(), polled every `poll` seconds, once the published stats have caught up: once
    hits + misses have grown by `expected` since `base` (the lookups the responses' cache
    headers announced), or once a reading has stayed the same for `interval` (what an
    application whose responses say nothing of its cache leaves to go by), and at the latest
    after `limit` seconds.

    Published stats lag by up to a publish interval. probe() does blocking I/O, so it runs in
    a worker thread: the event loop stays free, and an application served in process on it
    goes on publishing while this waits.
    """
    deadline = time.monotonic() + limit
    reading = await asyncio.to_thread(probe)
    steady_since = time.monotonic()
    while True:
        if base is not None and expected > 0 and _lookups(reading) - _lookups(base) >= expected:
            return reading
        now = time.monotonic()
        if now - steady_since >= interval or now >= deadline:
            return reading
        await asyncio.sleep(min(poll, deadline - now))
        previous, reading = reading, await asyncio.to_thread(probe)
        if reading != previous:
            steady_since = time.monotonic()


class _Run:
    """What a run has done so far: enough to report on it whenever it stops."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.started: float | None = None  # when pass 1 started
        self.ended: float | None = None  # when the last request or stats reading ended
        self.pass_s: list[float] = []  # each pass's requesting time, pass 1 first
        self.settle_s: float | None = None  # waiting for published stats, when probed
        self.delta: dict[str, int] | None = None
        self.interrupted = False
        self.prepared: _Prepared | None = None


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
    could connect. `on_progress(done, total)` is called with 0 once the inputs are checked,
    then as requests finish (throttled). `stats_probe()` reads the published cache stats (a
    blocking call, run in a worker thread); its settled readings before and after the measured
    passes are reported as a delta. With `partial_on_cancel`, a cancellation (Ctrl-C under
    asyncio.run) returns the report of the requests done so far, marked interrupted, instead
    of raising.
    """
    options = options or WarmOptions()
    run = _Run()
    return await _warm(files, options, run, on_progress, stats_probe, transport, partial_on_cancel)


async def _warm(
    files: EndpointFiles,
    options: WarmOptions,
    run: _Run,
    on_progress: ProgressCallback | None,
    stats_probe: StatsProbe | None,
    transport: httpx.AsyncBaseTransport | None,
    partial_on_cancel: bool,
) -> WarmReport:
    # Reading the files (a sitemap may be large) would block the caller's loop; the app is
    # imported and made on it, as uvicorn does.
    targets = await asyncio.to_thread(load_targets, files, options)
    prepared = run.prepared = _Prepared(targets, options, transport)
    try:
        return await _run(prepared, options, run, on_progress, stats_probe, transport)
    except asyncio.CancelledError:
        if not partial_on_cancel:
            raise
        run.interrupted = True
        return _report(prepared, options, run)


class _Prepared:
    """The checked inputs of a run."""

    def __init__(
        self,
        targets: Sequence[Target],
        options: WarmOptions,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.targets = targets
        self.headers = expand_headers(options.headers, os.environ)
        self.policy = options.header_policy
        self.app = load_app(options.app, options.factory) if options.app is not None else None
        if self.app is not None and transport is not None:
            raise ConfigError("--app serves the requests itself: give no transport with it")


async def _run(
    prepared: _Prepared,
    options: WarmOptions,
    run: _Run,
    on_progress: ProgressCallback | None,
    stats_probe: StatsProbe | None,
    transport: httpx.AsyncBaseTransport | None,
) -> WarmReport:
    targets = prepared.targets
    total = len(targets) * options.passes
    if on_progress is not None:
        on_progress(0, total)
    probe = stats_probe if options.passes > 1 else None
    async with contextlib.AsyncExitStack() as stack:
        if prepared.app is not None:
            served = await stack.enter_async_context(lifespan(prepared.app, str(options.app)))
            transport = httpx.ASGITransport(app=served, raise_app_exceptions=False)
        client = await stack.enter_async_context(_client(options, transport))
        engine = run.engine = Engine(
            client,
            targets,
            concurrency=options.concurrency,
            timeout=options.timeout,
            retries=options.retries,
            backoff=options.backoff,
            rate=options.rate,
            total=total,
            headers=prepared.headers,
            policy=prepared.policy,
            on_progress=on_progress,
        )
        run.started = time.perf_counter()
        try:
            start = await _settle(probe, options, run) if probe is not None else None
            await _pass(engine, run, measured=False)
            tally = engine.tally
            if tally.responses == 0 and tally.connect_failures == len(targets):
                raise _unreachable(engine, options)
            before = None
            if start is not None and probe is not None:
                before = await _settle(probe, options, run, start, tally.judged_cold)
            for _ in range(options.passes - 1):
                await _pass(engine, run, measured=True)
            if before is not None and probe is not None:
                after = await _settle(probe, options, run, before, tally.judged_measured)
                run.delta = _delta(before, after)
        finally:
            # Before the app's shutdown and the client's close, which are not the run's time.
            run.ended = time.perf_counter()
    return _report(prepared, options, run)


async def _pass(engine: Engine, run: _Run, measured: bool) -> None:
    started = time.perf_counter()
    try:
        await engine.run_pass(measured=measured)
    finally:  # an interrupted pass counts as far as it went
        run.pass_s.append(time.perf_counter() - started)


async def _settle(
    probe: StatsProbe,
    options: WarmOptions,
    run: _Run,
    base: Mapping[str, int] | None = None,
    expected: int = 0,
) -> Mapping[str, int]:
    """A settled reading (see settled_reading); without a base, the one reading the run
    starts from."""
    started = time.perf_counter()
    try:
        if base is None:
            return await asyncio.to_thread(probe)
        return await settled_reading(
            probe, base, expected, options.settle_interval, options.settle_limit
        )
    finally:
        run.settle_s = (run.settle_s or 0.0) + time.perf_counter() - started


def _report(prepared: _Prepared, options: WarmOptions, run: _Run) -> WarmReport:
    engine = run.engine
    targets = prepared.targets
    records = engine.records if engine is not None else [EndpointRecord() for _ in targets]
    headers = prepared.headers
    return build_report(
        targets,
        records,
        engine.tally if engine is not None else Tally(),
        base_url=options.effective_base_url,
        header_names=[name for name, _ in headers],
        passes=options.passes,
        duration_s=(run.ended or time.perf_counter()) - run.started if run.started else 0.0,
        measured_s=sum(run.pass_s[1:]),
        requests_s=sum(run.pass_s),
        settle_s=run.settle_s,
        stats_delta=run.delta,
        max_p95_ms=options.max_p95_ms,
        min_hit_ratio=options.min_hit_ratio,
        concurrency=options.concurrency,
        received_bytes=engine.received_bytes if engine is not None else 0,
        header_origins=prepared.policy.names if headers else (),
        headers_withheld=dict(engine.withheld) if engine is not None else {},
        interrupted=run.interrupted,
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

    Ctrl-C stops the run and returns what was measured, with `interrupted` set; a second
    Ctrl-C (say, while an application served with --app shuts down) too.
    """
    options = options or WarmOptions()
    run = _Run()
    # asyncio.Runner, as asyncio.run, turns the first Ctrl-C into a cancellation of the run
    # and a second into KeyboardInterrupt; unlike asyncio.run, the tasks left over are not
    # awaited forever (an application under --app may ignore its cancellation).
    runner = asyncio.Runner()
    try:
        return runner.run(_warm(files, options, run, on_progress, stats_probe, transport, True))
    except KeyboardInterrupt:
        if run.prepared is None:
            raise
        run.interrupted = True
        return _report(run.prepared, options, run)
    finally:
        _close(runner)


def _close(runner: asyncio.Runner) -> None:
    """runner.close(), unless tasks outlive their cancellation: then they are left behind."""
    loop = runner.get_loop()
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C again: wait no longer
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.wait(left, timeout=ABANDON_AFTER))
    if all(task.done() for task in left):
        runner.close()
        return
    # runner.close() would await them forever. No "Task was destroyed but it is pending!"
    # either: they are left on purpose.
    loop.set_exception_handler(lambda loop, context: None)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    asyncio.set_event_loop(None)
    loop.close()
