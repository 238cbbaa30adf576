"""The public API: cachectl.__all__ is sorted, complete, and every name in it importable."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import types

import pytest

import cachectl
import cachectl.errors

pytestmark = pytest.mark.usefixtures("watchdog")

#: Names the issue promises at the top level of the package.
PROMISED = {
    "MISS",
    "AsyncCache",
    "BreakerState",
    "Cache",
    "CacheStats",
    "PrefixStats",
    "cached",
    "configure",
}


def _isort_key(name: str) -> tuple[int, list[int | str]]:
    # The order ruff's RUF022 enforces: CONSTANTS, then Classes, then everything else,
    # each in natural order.
    if name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    natural = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
    return group, natural


def test_all_is_sorted() -> None:
    assert cachectl.__all__ == sorted(cachectl.__all__, key=_isort_key)


def test_all_has_no_duplicates() -> None:
    assert len(set(cachectl.__all__)) == len(cachectl.__all__)


@pytest.mark.parametrize("name", cachectl.__all__)
def test_every_exported_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from cachectl import {name}", namespace)
    assert namespace[name] is getattr(cachectl, name)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from cachectl import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(cachectl.__all__)


def test_promised_names_are_exported() -> None:
    assert set(cachectl.__all__) >= PROMISED | {"__version__"}


def test_every_public_exception_is_exported() -> None:
    errors = {
        name
        for name, obj in vars(cachectl.errors).items()
        if inspect.isclass(obj) and issubclass(obj, Exception) and not name.startswith("_")
    }
    assert errors <= set(cachectl.__all__)


def test_no_public_name_is_left_out_of_all() -> None:
    # Import everything the package offers, then look for public, cachectl-defined objects
    # bound at the top level that __all__ forgets.
    for name in cachectl.__all__:
        getattr(cachectl, name)
    missing = sorted(
        name
        for name, obj in vars(cachectl).items()
        if not name.startswith("_")
        and not isinstance(obj, types.ModuleType)
        and getattr(obj, "__module__", "").startswith("cachectl")
        and name not in cachectl.__all__
    )
    assert missing == []


def test_exported_objects_are_the_library_objects() -> None:
    from cachectl.cache import MISS, AsyncCache, Cache
    from cachectl.decorator import cached
    from cachectl.default import configure

    assert (cachectl.Cache, cachectl.AsyncCache, cachectl.MISS) == (Cache, AsyncCache, MISS)
    assert (cachectl.cached, cachectl.configure) == (cached, configure)


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        cachectl.no_such_name  # noqa: B018


def test_dir_lists_the_public_api() -> None:
    assert set(cachectl.__all__) <= set(dir(cachectl))


def test_version_is_a_string() -> None:
    assert isinstance(cachectl.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", cachectl.__version__)


def test_importing_the_package_connects_to_nothing() -> None:
    # No side effects at import time: importing every public name opens no socket.
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('socket opened at import time')\n"
        "socket.socket.connect = refuse\n"
        "import cachectl\n"
        "for name in cachectl.__all__:\n"
        "    getattr(cachectl, name)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
