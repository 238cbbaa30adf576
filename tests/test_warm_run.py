"""Warm runs over real HTTP (uvicorn on a free port) and in process (--app), end to end."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cachectl.errors import BackendUnavailable, ConfigError
from cachectl.warm import WarmOptions, WarmReport, run_warm, warm, write_junit
from cachectl.warm.run import settled_reading
from tests import warm_support
from tests.warm_support import SLOW_SECONDS, LiveServer, closed_port, serve


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with serve() as live:
        yield live


@pytest.fixture
def live(server: LiveServer) -> LiveServer:
    """The module's server with an empty cache and request log."""
    server.seen.clear()
    return server


def endpoints(tmp_path: Path, text: str, name: str = "urls.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def by_path(report: WarmReport) -> dict[str, object]:
    return {httpx.URL(e.url).raw_path.decode(): e for e in report.endpoints}


def test_pass_one_warms_and_later_passes_measure(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/cached/a\n/api/items?page={1..3}\n/boom\n/uncached\n")
    report = warm([path], WarmOptions(base_url=live.base_url, passes=3, backoff=0.001))

    results = {httpx.URL(e.url).raw_path.decode(): e for e in report.endpoints}
    for key in ("/cached/a", "/api/items?page=1", "/api/items?page=3"):
        result = results[key]
        assert (result.status, result.cold_cache, result.cache, result.hits) == (
            200,
            "MISS",
            "HIT",
            2,
        )
        assert result.cold_ms is not None and result.warm_ms is not None
        assert result.speedup == pytest.approx(result.cold_ms / result.warm_ms, rel=0.01)
        assert not result.failed and result.error is None
    assert results["/api/items?page=2"].source == f"{path}:2"
    assert results["/uncached"].cache == "unknown"

    boom = results["/boom"]
    assert (boom.status, boom.error, boom.failed, boom.failures) == (500, "HTTP 500", True, 3)
    assert boom.retries == 6  # two retries in each of three passes
    assert live.seen.paths["/boom"] == 9

    summary = report.summary
    assert (summary.targets, summary.passes, summary.requests) == (6, 3, 18)
    assert summary.measured_requests == 12
    assert dict(summary.status_counts) == {"200": 15, "500": 3}
    assert summary.hits == 8
    assert summary.hit_ratio == pytest.approx(8 / 12)
    assert summary.failed_endpoints == 1
    assert summary.p50_ms is not None and summary.p95_ms is not None and summary.p99_ms is not None
    assert summary.p50_ms <= summary.p95_ms <= summary.p99_ms <= (summary.max_ms or 0)
    assert summary.requests_per_s is not None and summary.requests_per_s > 0
    assert report.passed is False
    assert report.failures == ["1 endpoint failed (a status other than 2xx, or no response)"]


def test_thresholds_decide_the_verdict(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/cached/{1..4}\n/uncached\n")
    report = warm([path], WarmOptions(base_url=live.base_url, max_p95_ms=60_000, min_hit_ratio=0.9))
    (p95, ratio) = report.thresholds
    assert (p95.name, p95.passed, p95.limit) == ("max_p95_ms", True, 60_000)
    assert (ratio.name, ratio.passed, ratio.actual) == ("min_hit_ratio", False, 0.8)
    assert report.failures == ["hit ratio 80.0% is below the minimum of 90.0%"]
    assert not report.passed

    live.seen.clear()
    strict = warm([path], WarmOptions(base_url=live.base_url, max_p95_ms=0.001, min_hit_ratio=0.8))
    assert [t.passed for t in strict.thresholds] == [False, True]
    assert (
        strict.failures[0].startswith("p95 ")
        and "exceeds the limit of 0.001 ms" in strict.failures[0]
    )


def test_a_slow_endpoint_times_out_and_fails(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/slow\n/cached/a\n")
    started = time.monotonic()
    report = warm([path], WarmOptions(base_url=live.base_url, timeout=0.05, retries=1, backoff=0))
    assert time.monotonic() - started < SLOW_SECONDS * 4
    slow, cached = report.endpoints
    assert slow.failed and slow.status is None and slow.retries == 2
    assert slow.error is not None and "no response within 0.05 s" in slow.error
    assert not cached.failed
    assert report.summary.status_counts == {"200": 2, "error": 2}


def test_a_slow_endpoint_shows_in_latency(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/slow\n" + "/cached/{1..19}\n")
    report = warm([path], WarmOptions(base_url=live.base_url, timeout=5))
    slow = report.endpoints[0]
    assert slow.cold_ms is not None and slow.cold_ms >= SLOW_SECONDS * 1000
    assert slow.cache == "HIT"  # from its Age header
    assert (report.summary.max_ms or 0) >= SLOW_SECONDS * 1000
    assert (report.summary.p50_ms or 0) < SLOW_SECONDS * 1000


def test_5xx_is_retried(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/flaky\n")
    report = warm([path], WarmOptions(base_url=live.base_url, backoff=0.001))
    (flaky,) = report.endpoints
    assert (flaky.status, flaky.retries, flaky.failed) == (200, 1, False)

    live.seen.clear()
    report = warm([path], WarmOptions(base_url=live.base_url, retries=0))
    (flaky,) = report.endpoints
    assert (flaky.failed, flaky.error, flaky.retries) == (True, "HTTP 503", 0)


def test_one_client_reuses_connections(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/cached/{1..60}\n")
    report = warm([path], WarmOptions(base_url=live.base_url, concurrency=4))
    assert report.summary.requests == 120
    assert 1 <= len(live.seen.client_ports) <= 4


def test_header_values_reach_the_server_but_never_the_report(
    live: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARM_API_TOKEN", "s3cr3t-from-env")
    headers = ("Authorization: Bearer ${WARM_API_TOKEN}", "X-Api-Key: literal-key-42")
    target = {"url": "/cached/json", "header": {"X-Tenant": "tenant-secret-7"}}
    paths = [
        endpoints(tmp_path, "/cached/a\n/boom\n"),
        endpoints(tmp_path, json.dumps(target), "t.jsonl"),
    ]
    options = WarmOptions(base_url=live.base_url, headers=headers, min_hit_ratio=0.99)
    report = warm(paths, options)

    sent = live.seen.headers[0]
    assert sent["authorization"] == "Bearer s3cr3t-from-env"
    assert sent["x-api-key"] == "literal-key-42"
    assert sent["user-agent"] == "cachectl-warm"
    assert any(h.get("x-tenant") == "tenant-secret-7" for h in live.seen.headers)

    junit = tmp_path / "junit.xml"
    write_junit(report, junit)
    outputs = [json.dumps(report.to_dict()), junit.read_text(), repr(report), repr(options)]
    for output in outputs:
        for secret in ("s3cr3t-from-env", "literal-key-42", "tenant-secret-7", "${WARM_API_TOKEN}"):
            assert secret not in output
    assert report.to_dict()["header_names"] == ["Authorization", "X-Api-Key"]


def test_an_unset_variable_stops_the_run_before_any_request(
    live: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARM_MISSING_TOKEN", raising=False)
    options = WarmOptions(base_url=live.base_url, headers=("Authorization: ${WARM_MISSING_TOKEN}",))
    with pytest.raises(ConfigError) as caught:
        warm([endpoints(tmp_path, "/cached/a\n")], options)
    assert str(caught.value) == (
        "--header #1: header 'Authorization' needs environment variable WARM_MISSING_TOKEN, "
        "which is not set"
    )
    assert not live.seen.paths


def test_a_malformed_line_stops_the_run_before_any_request(
    live: LiveServer, tmp_path: Path
) -> None:
    first = endpoints(tmp_path, "/cached/{1..50}\n", "first.txt")
    second = endpoints(tmp_path, "/cached/x\n/cached/{1..oops}\n", "second.txt")
    with pytest.raises(ConfigError, match=r"second\.txt:2: malformed range"):
        warm([first, second], WarmOptions(base_url=live.base_url))
    assert not live.seen.paths


def test_variants_are_separate_targets_on_the_wire(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/cached/v\n")
    options = WarmOptions(base_url=live.base_url, variants=("Accept-Language: en,de",), passes=1)
    report = warm([path], options)
    assert [dict(e.variant) for e in report.endpoints] == [
        {"Accept-Language": "en"},
        {"Accept-Language": "de"},
    ]
    assert sorted(h["accept-language"] for h in live.seen.headers) == ["de", "en"]
    assert [e["variant"] for e in report.to_dict()["endpoints"]] == [
        {"Accept-Language": "en"},
        {"Accept-Language": "de"},
    ]


def test_json_targets_send_method_and_decoded_body(live: LiveServer, tmp_path: Path) -> None:
    body = base64.b64encode(b'{"sku": 17}').decode()
    path = endpoints(
        tmp_path, json.dumps({"method": "POST", "url": "/submit", "body": body}), "t.json"
    )
    report = warm([path], WarmOptions(base_url=live.base_url))
    assert report.endpoints[0].method == "POST" and report.endpoints[0].status == 200
    assert live.seen.bodies == [b'{"sku": 17}', b'{"sku": 17}']


def test_an_unreachable_base_url_raises_quickly(tmp_path: Path) -> None:
    port = closed_port()
    path = endpoints(tmp_path, "/api/items?page={1..300}\n")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        warm([path], WarmOptions(base_url=f"http://127.0.0.1:{port}", concurrency=4))
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert message.startswith(f"cannot reach http://127.0.0.1:{port}: ConnectError")
    assert "\n" not in message


def test_one_unreachable_host_among_reachable_ones_is_a_failed_endpoint(
    live: LiveServer, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    path = endpoints(tmp_path, f"/cached/a\n{dead}/x\n{dead}/y\n")
    report = warm([path], WarmOptions(base_url=live.base_url, concurrency=1, backoff=0.001))
    ok, first_dead, second_dead = report.endpoints
    assert not ok.failed
    # The first request to the dead host is tried and retried; the rest are not sent.
    assert first_dead.failed and first_dead.retries == 2
    assert "ConnectError" in (first_dead.error or "")
    assert second_dead.failed and second_dead.retries == 0
    assert (second_dead.error or "").startswith(f"not sent: {dead} could not be reached")
    assert report.summary.failed_endpoints == 2


def test_json_output_is_plain_serializable_data(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/cached/a\n/boom\n")
    report = warm([path], WarmOptions(base_url=live.base_url, max_p95_ms=60_000, backoff=0))
    data = json.loads(json.dumps(report.to_dict()))
    assert data == report.to_dict()
    assert data["passed"] is False
    assert data["failures"] == ["1 endpoint failed (a status other than 2xx, or no response)"]
    assert data["base_url"] == live.base_url
    assert data["summary"]["status_counts"] == {"200": 2, "500": 2}
    assert data["thresholds"][0]["name"] == "max_p95_ms" and data["thresholds"][0]["passed"]
    cached, boom = data["endpoints"]
    assert cached["url"] == f"{live.base_url}/cached/a"
    assert (cached["cache"], cached["cold_cache"], cached["status"]) == ("HIT", "MISS", 200)
    assert (boom["failed"], boom["error"], boom["source"]) == (True, "HTTP 500", f"{path}:2")
    assert set(cached) == {
        "method", "url", "source", "variant", "status", "cold_ms", "warm_ms", "speedup",
        "cache", "cold_cache", "hits", "failures", "retries", "error", "failed",
    }  # fmt: skip


def test_junit_has_a_testcase_per_endpoint_and_threshold(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/cached/a\n/boom\n/cached/b\n")
    options = WarmOptions(base_url=live.base_url, max_p95_ms=60_000, min_hit_ratio=0.99, backoff=0)
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    write_junit(warm([path], options), junit)

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("5", "2")
    cases = suite.findall("testcase")
    names = [case.get("name") for case in cases]
    assert names == [
        f"GET {live.base_url}/cached/a",
        f"GET {live.base_url}/boom",
        f"GET {live.base_url}/cached/b",
        "max_p95_ms",
        "min_hit_ratio",
    ]
    failed = {case.get("name"): case.find("failure") for case in cases}
    assert failed[f"GET {live.base_url}/cached/a"] is None
    boom = failed[f"GET {live.base_url}/boom"]
    assert boom is not None and boom.get("message") == "HTTP 500"
    assert failed["max_p95_ms"] is None
    ratio = failed["min_hit_ratio"]
    assert ratio is not None and "below the minimum of 99.0%" in (ratio.get("message") or "")


def test_write_junit_to_an_impossible_path_is_a_config_error(
    live: LiveServer, tmp_path: Path
) -> None:
    report = warm([endpoints(tmp_path, "/cached/a\n")], WarmOptions(base_url=live.base_url))
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match=r"a-file/junit\.xml: cannot write the JUnit report"):
        write_junit(report, tmp_path / "a-file" / "junit.xml")
    # Missing directories are made, as pytest's --junitxml makes them.
    write_junit(report, tmp_path / "reports" / "ci" / "junit.xml")
    assert (tmp_path / "reports" / "ci" / "junit.xml").read_text().startswith("<?xml")


def test_progress_and_stats_probe(live: LiveServer, tmp_path: Path) -> None:
    path = endpoints(tmp_path, "/cached/{1..10}\n")
    progress: list[tuple[int, int]] = []
    probes: list[int] = []

    def probe() -> dict[str, int]:
        probes.append(1)
        return {"served": sum(live.seen.paths.values()), "constant": 5}

    report = warm(
        [path],
        WarmOptions(base_url=live.base_url, passes=3, settle_interval=0.01),
        on_progress=lambda done, total: progress.append((done, total)),
        stats_probe=probe,
    )
    # Read once before pass 1, then polled until the figures hold still (this probe has no
    # hits or misses to count), before and after the measured passes (issue 16: it was two
    # readings an interval apart, each time).
    assert len(probes) >= 5
    assert report.summary.stats_delta == {"constant": 0, "served": 20}
    assert report.summary.settle_s is not None
    assert progress[0] == (0, 30)  # once the inputs are checked, before any request
    assert progress[-1] == (30, 30)
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})
    assert {total for _, total in progress} == {30}


class Publisher:
    """A stats probe over figures that arrive in the steps given, one per reading."""

    def __init__(self, *steps: dict[str, int]) -> None:
        self.steps = list(steps)
        self.reads = 0

    def __call__(self) -> dict[str, int]:
        self.reads += 1
        return self.steps[min(self.reads, len(self.steps)) - 1]


async def test_settling_ends_when_the_announced_lookups_are_counted() -> None:
    # 4 responses said HIT or MISS: the stats are read until they count 4 more lookups, and
    # no longer, however long they would take to hold still (the hour is never waited).
    base = {"hits": 10, "misses": 2}
    probe = Publisher(base, base, {"hits": 12, "misses": 3}, {"hits": 14, "misses": 2}, base)
    reading = await settled_reading(probe, base, 4, interval=3600, limit=3600, poll=0.001)
    assert reading == {"hits": 14, "misses": 2}
    assert probe.reads == 4


async def test_settling_without_announced_lookups_waits_for_the_figures_to_hold_still() -> None:
    # The responses said nothing of a cache: the figures are read until they stop moving.
    probe = Publisher({"hits": 1}, {"hits": 2}, {"hits": 3}, {"hits": 3})
    reading = await settled_reading(probe, {"hits": 0}, 0, interval=0.01, limit=3600, poll=0.02)
    assert reading == {"hits": 3}
    assert probe.reads == 4


async def test_settling_gives_up_at_its_limit() -> None:
    counter = iter(range(10**9))
    reads: list[int] = []

    def moving() -> dict[str, int]:  # figures that never settle, never reach the count
        reads.append(1)
        return {"other": next(counter)}

    reading = await settled_reading(moving, {}, 5, interval=3600, limit=0.2, poll=0.01)
    assert reading == {"other": len(reads) - 1}
    assert 2 <= len(reads) <= 40  # polled, not spun


async def test_concurrency_and_rate_bound_the_requests(tmp_path: Path) -> None:
    in_flight = 0
    peak = 0
    starts: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        starts.append(time.monotonic())
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, headers={"X-Cache": "HIT"})

    path = endpoints(tmp_path, "/x/{1..40}\n")
    tasks_before = len(asyncio.all_tasks())
    report = await run_warm(
        [path],
        WarmOptions(base_url="http://t.test", concurrency=5),
        transport=httpx.MockTransport(handler),
    )
    assert report.summary.requests == 80 and report.passed
    assert peak == 5
    assert len(asyncio.all_tasks()) == tasks_before

    starts.clear()
    await run_warm(
        [endpoints(tmp_path, "/y/{1..11}\n")],
        WarmOptions(base_url="http://t.test", concurrency=8, rate=100, passes=1),
        transport=httpx.MockTransport(handler),
    )
    assert max(starts) - min(starts) >= 0.09  # 11 requests spaced 10 ms apart


async def test_one_pass_warms_without_measuring(tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers={"Age": "0"}))
    report = await run_warm(
        [endpoints(tmp_path, "/a\n/b\n")],
        WarmOptions(base_url="http://t.test", passes=1),
        transport=transport,
    )
    summary = report.summary
    assert (summary.requests, summary.measured_requests, summary.p95_ms, summary.hit_ratio) == (
        2,
        0,
        None,
        None,
    )
    assert summary.cold_p50_ms is not None
    assert [e.cache for e in report.endpoints] == ["unknown", "unknown"]
    assert report.passed


# --- in process (--app) -------------------------------------------------------------------------


async def test_an_asgi_app_is_warmed_in_process_with_its_lifespan(tmp_path: Path) -> None:
    warm_support.asgi_seen.clear()
    warm_support.asgi_seen.lifespan.clear()
    path = endpoints(tmp_path, "/state\n/cached/{1..3}\n/boom\n")
    report = await run_warm([path], WarmOptions(app="tests.warm_support:asgi_app", backoff=0))
    assert report.base_url == "http://testserver"
    state, *cached, boom = report.endpoints
    # /state reads what the lifespan yielded: a 500 would mean startup never ran.
    assert (state.url, state.status, state.cache) == ("http://testserver/state", 200, "HIT")
    assert [(c.cold_cache, c.cache) for c in cached] == [("MISS", "HIT")] * 3
    assert (boom.status, boom.failed) == (500, True)
    assert warm_support.asgi_seen.lifespan == ["startup", "shutdown"]


async def test_an_app_without_lifespan_support_is_served_as_is(tmp_path: Path) -> None:
    report = await run_warm(
        [endpoints(tmp_path, "/anything\n")],
        WarmOptions(app="tests.warm_support:no_lifespan_app", base_url="http://app.local"),
    )
    (result,) = report.endpoints
    assert (result.url, result.status, result.cache) == ("http://app.local/anything", 200, "HIT")


async def test_a_failing_startup_is_backend_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="startup failed: RuntimeError: database is down"):
        await run_warm(
            [endpoints(tmp_path, "/x\n")], WarmOptions(app="tests.warm_support:failing_app")
        )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("warm_no_such_module:app", "--app warm_no_such_module:app: no module named"),
        (
            "tests.warm_support:nope",
            "--app tests.warm_support:nope: tests.warm_support has no attribute 'nope'",
        ),
        (
            "tests.warm_support:not_an_app",
            "--app tests.warm_support:not_an_app: not_an_app is not an ASGI app",
        ),
    ],
)
async def test_app_import_problems_are_config_errors(
    tmp_path: Path, spec: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await run_warm([endpoints(tmp_path, "/x\n")], WarmOptions(app=spec))
    assert str(caught.value).startswith(message)
