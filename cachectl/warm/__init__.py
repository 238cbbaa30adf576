"""Warm a cache through its HTTP front: request endpoint lists, then measure hits and latency.

The library side of `cachectl warm`: plain functions and data, no Typer and no Rich.
"""

from cachectl.warm.histogram import LatencyHistogram
from cachectl.warm.junit import check_junit_path, junit_tree, write_junit
from cachectl.warm.options import WarmOptions
from cachectl.warm.report import EndpointResult, Summary, Threshold, WarmReport
from cachectl.warm.run import StatsProbe, run_warm, warm
from cachectl.warm.targets import Target, load_targets
from cachectl.warm.verdict import cache_verdict

__all__ = [
    "EndpointResult",
    "LatencyHistogram",
    "StatsProbe",
    "Summary",
    "Target",
    "Threshold",
    "WarmOptions",
    "WarmReport",
    "cache_verdict",
    "check_junit_path",
    "junit_tree",
    "load_targets",
    "run_warm",
    "warm",
    "write_junit",
]
