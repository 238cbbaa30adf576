"""A warm report as JUnit XML: a testcase per endpoint and one per threshold."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from cachectl.errors import ConfigError
from cachectl.warm.report import WarmReport

SUITE_NAME = "cachectl warm"
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _seconds(ms: float | None) -> str:
    return f"{(ms or 0.0) / 1000:.6f}"


def junit_tree(report: WarmReport) -> ET.ElementTree[ET.Element]:
    """The report as a <testsuites> document."""
    summary = report.summary
    failures = summary.failed_endpoints + sum(1 for t in report.thresholds if not t.passed)
    tests = len(report.endpoints) + len(report.thresholds)
    counts = {
        "tests": str(tests),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
        "time": f"{summary.duration_s:.3f}",
    }
    root = ET.Element("testsuites", {"name": SUITE_NAME, **counts})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE_NAME, **counts})
    properties = ET.SubElement(suite, "properties")
    shown = {
        "base_url": report.base_url or "",
        "passes": summary.passes,
        "p50_ms": summary.p50_ms,
        "p95_ms": summary.p95_ms,
        "p99_ms": summary.p99_ms,
        "hit_ratio": summary.hit_ratio,
        "requests_per_s": summary.requests_per_s,
    }
    for name, value in shown.items():
        ET.SubElement(properties, "property", {"name": name, "value": _text(value)})
    for endpoint in report.endpoints:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": "cachectl.warm.endpoints",
                "name": _text(endpoint.label),
                "file": _text(endpoint.source.rpartition(":")[0]),
                "time": _seconds(
                    endpoint.warm_ms if endpoint.warm_ms is not None else endpoint.cold_ms
                ),
            },
        )
        if endpoint.failed:
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": _text(endpoint.error or "failed"),
                    "type": "http-status"
                    if (endpoint.error or "").startswith("HTTP ")
                    else "connection",
                },
            )
            failure.text = _text(
                f"{endpoint.source}: {endpoint.failures} failed request(s), "
                f"last: {endpoint.error}, retries: {endpoint.retries}"
            )
        ET.SubElement(case, "system-out").text = _text(
            f"status={endpoint.status} cold_ms={endpoint.cold_ms} warm_ms={endpoint.warm_ms} "
            f"cache={endpoint.cache} source={endpoint.source}"
        )
    for threshold in report.thresholds:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "cachectl.warm.thresholds", "name": threshold.name, "time": "0"},
        )
        if not threshold.passed:
            ET.SubElement(
                case, "failure", {"message": _text(threshold.message), "type": "threshold"}
            )
        ET.SubElement(case, "system-out").text = _text(threshold.message)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: WarmReport, path: str | os.PathLike[str]) -> None:
    """Write the report as JUnit XML (UTF-8) for CI test reporters; ConfigError if it cannot.

    Missing parent directories are made, as pytest's --junitxml does: a CI job's
    `--junit reports/warm.xml` must not lose a whole run for want of `mkdir reports`.
    """
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        junit_tree(report).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise ConfigError(
            f"{os.fspath(path)}: cannot write the JUnit report ({exc.strerror})"
        ) from None


def check_junit_path(path: str | os.PathLike[str]) -> None:
    """ConfigError before a run where write_junit would fail after it: the path is a
    directory, or its folder cannot be made or written to."""
    target = Path(path)
    problem = None
    if target.is_dir():
        problem = "it is a directory"
    else:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
        else:
            if not os.access(target if target.exists() else target.parent, os.W_OK):
                problem = "permission denied"
    if problem is not None:
        raise ConfigError(f"{os.fspath(path)}: cannot write the JUnit report ({problem})")
