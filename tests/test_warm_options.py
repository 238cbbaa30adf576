"""WarmOptions checks its values when made; cache verdicts from response headers."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

import cachectl.warm
from cachectl.errors import ConfigError
from cachectl.warm import WarmOptions, cache_verdict


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "--concurrency must be between 1 and 10000, not 0"),
        ({"rate": 0}, "--rate must be a positive number"),
        ({"rate": float("inf")}, "--rate must be a positive number"),
        ({"timeout": -1}, "--timeout must be a positive number of seconds, not -1"),
        ({"retries": -1}, "--retries must be between 0 and 20"),
        ({"passes": 0}, "--passes must be at least 1"),
        ({"max_p95_ms": 0}, "--max-p95 must be a positive number of ms"),
        ({"min_hit_ratio": 1.5}, "--min-hit-ratio must be between 0 and 1"),
        ({"passes": 1, "min_hit_ratio": 0.5}, "use --passes 2+"),
        ({"base_url": "localhost:8000"}, "--base-url must be an http:// or https:// URL"),
        ({"base_url": "http://h.test/?a=1"}, "must not have a query string"),
        ({"headers": ("Authorization Bearer x",)}, "--header #1: expected 'Name: value'"),
        ({"headers": ("X-Ok: 1", "Bad Name: v")}, "--header #2: not a valid header name: ' '"),
        ({"app": "module_without_attr"}, "--app must look like 'module:attribute'"),
    ],
)
def test_bad_options_are_one_line_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WarmOptions(**options)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_password_in_the_base_url_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        WarmOptions(base_url="ftp://user:hunter2@h.test")
    assert "hunter2" not in str(caught.value)


def test_defaults_lists_and_base_url() -> None:
    options = WarmOptions(
        headers=["X-A: 1"], variants=["Accept-Language: en,de"], header_origins=["http://h.test"]
    )  # type: ignore[arg-type]
    assert options.headers == ("X-A: 1",) and options.variants == ("Accept-Language: en,de",)
    assert (options.concurrency, options.passes, options.retries, options.timeout) == (
        16,
        2,
        2,
        10.0,
    )
    assert options.effective_base_url is None
    assert WarmOptions(app="m:a").effective_base_url == "http://testserver"
    assert WarmOptions(base_url="http://h.test/").effective_base_url == "http://h.test"
    assert "X-A" not in repr(options)


@pytest.mark.parametrize(
    ("headers", "verdict"),
    [
        ({"X-Cache": "HIT"}, "HIT"),
        ({"x-cache": "miss"}, "MISS"),
        ({"X-Cache": "Hit from cloudfront"}, "HIT"),
        ({"X-Cache": "MISS, HIT"}, "HIT"),
        ({"X-Cache": "TCP_MISS"}, "MISS"),
        ({"X-Cache": "WHITELISTED"}, "unknown"),
        ({"CF-Cache-Status": "HIT"}, "HIT"),
        ({"CF-Cache-Status": "DYNAMIC"}, "MISS"),
        ({"X-Cache-Status": "STALE"}, "HIT"),
        ({"Age": "12"}, "HIT"),
        ({"Age": "0"}, "unknown"),
        ({"Age": "soon"}, "unknown"),
        ({"X-Cache": "MISS", "Age": "3"}, "MISS"),
        ({}, "unknown"),
    ],
)
def test_cache_verdict_from_headers(headers: dict[str, str], verdict: str) -> None:
    assert cache_verdict(httpx.Headers(headers)) == verdict


def test_exported_names_are_sorted_and_complete() -> None:
    assert cachectl.warm.__all__ == sorted(cachectl.warm.__all__)
    public = {name for name in vars(cachectl.warm) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(cachectl.warm, name)).__name__ == "module"}
    assert set(cachectl.warm.__all__) == public - modules


def test_the_library_imports_neither_typer_nor_rich() -> None:
    # Checked in the source: httpx itself imports rich when its CLI extra is installed.
    package = Path(cachectl.warm.__file__).parent
    imported: set[str] = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert "httpx" in imported
    assert not imported & {"typer", "rich", "click"}
