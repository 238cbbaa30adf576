"""The request engine: a pool of workers on one httpx.AsyncClient, paced, retried, timed.

A pass sends every target once: `concurrency` workers pull target numbers from one shared
iterator, so a run of any length holds only that many tasks. Connection errors, timeouts and
5xx answers are retried with exponential backoff and jitter; the last attempt is what counts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

import httpx

from cachectl.warm.origins import HeaderPolicy, origin_key, origin_name
from cachectl.warm.record import EndpointRecord, Tally
from cachectl.warm.targets import Target
from cachectl.warm.verdict import cache_verdict

ProgressCallback = Callable[[int, int], None]
Headers = Sequence[tuple[str, str]]

#: Header values shorter than this are not scrubbed from messages: they would erase letters
#: of every message, and a secret is longer.
MIN_SCRUBBED = 3
REDACTED = "[redacted]"

_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
_RETRIED_ERRORS = (httpx.TransportError, TimeoutError)


class Origin:
    """A scheme://host:port; if it could not be connected to before it ever answered, the
    targets on it that are still to come are not sent (an unreachable server fails fast)."""

    __slots__ = ("alive", "down", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.alive = False  # it has answered at least once
        self.down: str | None = None  # why it could not be reached, when it never answered


class Scrubber:
    """Removes header values from text: no error message may show one, whatever raised it."""

    __slots__ = ("_forms",)

    def __init__(self, values: Iterable[str]) -> None:
        forms: set[str] = set()
        for value in values:
            if len(value) >= MIN_SCRUBBED:
                # As given, and as repr() of the str or bytes shows it (h11 quotes b'...').
                forms.update(
                    (value, repr(value)[1:-1], repr(value.encode("latin-1", "replace"))[2:-1])
                )
        # Longest first, so that a value containing another is removed whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        return text


def describe_error(exc: BaseException, timeout: float) -> str:
    """One line for a failed request: the error class and its innermost explanation."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"ConnectTimeout: no connection within {timeout:g} s"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"{type(exc).__name__}: no response within {timeout:g} s"
    detail = str(exc)
    inner = exc.__cause__ or exc.__context__
    while inner is not None:
        if str(inner):
            detail = str(inner)
        inner = inner.__cause__ or inner.__context__
    line = detail.strip().splitlines()[0] if detail.strip() else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


class Engine:
    """Sends the targets pass after pass and records every outcome in a Tally."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        targets: Sequence[Target],
        *,
        concurrency: int,
        timeout: float,
        retries: int,
        backoff: float,
        rate: float | None,
        total: int,
        headers: Headers = (),
        policy: HeaderPolicy | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.tally = Tally()
        self.records = [EndpointRecord() for _ in targets]
        self._client = client
        self._concurrency = concurrency
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._interval = 1.0 / rate if rate else 0.0
        self._next_slot = 0.0
        self._random = random.Random()
        self._on_progress = on_progress
        self._total = total
        self._done = 0
        self._progress_step = max(1, total // 200)
        self._next_progress = 0
        origins: dict[tuple[str, str, int], Origin] = {}
        self.origins: list[Origin] = []
        #: Origins the --header values were withheld from, and how many targets each.
        self.withheld: Counter[str] = Counter()
        self.received_bytes = 0
        self.scrub = Scrubber(
            [value for _, value in headers]
            + [value for target in targets for _, value in target.headers]
        )
        # Built once so that a request costs no URL parsing or header merging on our side.
        self._requests: list[tuple[str, httpx.URL, list[tuple[str, str]] | None, bytes | None]] = []
        for target in targets:
            url = httpx.URL(target.url)
            key = origin_key(url)
            if key not in origins:
                origins[key] = Origin(origin_name(key))
            self.origins.append(origins[key])
            own = [*target.headers, *target.variant]
            sent = own
            if headers:
                if policy is not None and policy.allows(url):
                    # A header the target names itself wins, as it would over client defaults.
                    named = {name.lower() for name, _ in own}
                    sent = [(n, v) for n, v in headers if n.lower() not in named] + own
                else:
                    self.withheld[origins[key].name] += 1
            self._requests.append((target.method, url, sent or None, target.body))

    async def run_pass(self, measured: bool) -> float:
        """Send every target once; the seconds the pass took."""
        started = time.perf_counter()
        numbers = iter(range(len(self._requests)))
        workers = [
            asyncio.ensure_future(self._work(numbers, measured))
            for _ in range(min(self._concurrency, len(self._requests)))
        ]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        return time.perf_counter() - started

    async def _work(self, numbers: Iterator[int], measured: bool) -> None:
        for number in numbers:
            await self._send(number, measured)
            self._done += 1
            if self._on_progress is not None and (
                self._done >= self._next_progress or self._done == self._total
            ):
                self._next_progress = self._done + self._progress_step
                self._on_progress(self._done, self._total)

    async def _pace(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _pause(self, attempt: int) -> None:
        # Half fixed, half random: retries of many targets do not arrive in lockstep.
        await asyncio.sleep(self._backoff * 2**attempt * (0.5 + self._random.random() / 2))

    async def _send(self, number: int, measured: bool) -> None:
        method, url, headers, body = self._requests[number]
        record = self.records[number]
        origin = self.origins[number]
        if origin.down is not None and not origin.alive:
            message = f"not sent: {origin.name} could not be reached ({origin.down})"
            self.tally.failure(record, message, measured, connect=True)
            return
        attempt = 0
        while True:
            if self._interval:
                await self._pace()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._timeout):
                    response = await self._fetch(method, url, headers, body)
            except (httpx.HTTPError, TimeoutError) as exc:
                if isinstance(exc, _RETRIED_ERRORS) and attempt < self._retries:
                    record.retries += 1
                    await self._pause(attempt)
                    attempt += 1
                    continue
                error = self.scrub(describe_error(exc, self._timeout))
                connect = isinstance(exc, _CONNECT_ERRORS)
                if connect and not origin.alive:
                    origin.down = error
                self.tally.failure(record, error, measured, connect)
                return
            except Exception as exc:
                # Not an HTTP error (an encoding refused by the client, say): this target
                # failed, the run goes on, and the message is scrubbed like any other.
                self.tally.failure(
                    record, self.scrub(describe_error(exc, self._timeout)), measured, False
                )
                return
            seconds = time.perf_counter() - started
            origin.alive = True
            status = response.status_code
            if status >= 500 and attempt < self._retries:
                record.retries += 1
                await self._pause(attempt)
                attempt += 1
                continue
            self.tally.response(record, seconds, status, cache_verdict(response.headers), measured)
            return

    async def _fetch(
        self, method: str, url: httpx.URL, headers: list[tuple[str, str]] | None, body: bytes | None
    ) -> httpx.Response:
        """The response with its body read and dropped chunk by chunk: memory stays flat."""
        request = self._client.build_request(method, url, headers=headers, content=body)
        response = await self._client.send(request, stream=True)
        try:
            if response.is_stream_consumed:
                # A transport that hands over a body already in memory (a mock, say).
                self.received_bytes += len(response.content)
            else:
                # Raw bytes: counted as they came over the wire, never decompressed.
                async for chunk in response.aiter_raw():
                    self.received_bytes += len(chunk)
        finally:
            await response.aclose()
        return response
