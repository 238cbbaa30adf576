"""The core modules depend one way: no import cycle, lazy imports inside functions included,
and the decorator needs only the protocol in cachectl.api, never the cache's private methods."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import cachectl

PACKAGE = Path(cachectl.__file__).parent
CORE = ["api", "cache", "decorator", "default", "config", "codec", "keys", "breaker", "stats"]


def _imports(module: str) -> set[str]:
    """cachectl modules that module imports anywhere in its text (functions and TYPE_CHECKING
    blocks included), by their first component below cachectl."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.startswith("cachectl."):
                found.add(name.split(".")[1])
    return found - {module}


def test_the_core_has_no_import_cycle() -> None:
    graph = {m: _imports(m) & set(CORE) for m in CORE}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for dependency in graph[module]:
            visit(dependency, (*path, module))
        done.add(module)

    for module in CORE:
        visit(module, ())


def test_the_decorator_depends_on_the_protocol_only() -> None:
    assert "cache" not in _imports("decorator")
    assert "default" not in _imports("decorator")
    assert _imports("api") == set()
    text = (PACKAGE / "decorator.py").read_text()
    assert not re.search(r"cache\._[a-z]", text), "the decorator reaches into a private method"
