"""cachectl's modules depend one way: no import cycle anywhere in the package, lazy imports
inside functions and TYPE_CHECKING blocks included, and the decorator needs only the protocol
in cachectl.api, never the cache's private methods."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import cachectl

PACKAGE = Path(cachectl.__file__).parent


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its __init__.py)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["cachectl", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The modules of the package that module imports anywhere in its text: `from a import b`
    is an import of the module a.b when there is one, else of a."""
    path = MODULES[module]
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.add(child if child in MODULES else source)
    return {name for name in found if name in MODULES} - {module}


def _package(name: str) -> set[str]:
    """The modules a package is made of, itself included."""
    return {m for m in MODULES if m == name or m.startswith(name + ".")}


def test_the_package_has_no_import_cycle() -> None:
    graph = {module: _imports(module) for module in MODULES}
    assert len(graph) > 50, "the walk found the package's modules"
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for dependency in sorted(graph[module]):
            visit(dependency, (*path, module))
        done.add(module)

    for module in sorted(MODULES):
        visit(module, ())


def test_the_walk_sees_lazy_and_relative_imports() -> None:
    # A cycle hidden in a function or a TYPE_CHECKING block is still a cycle to this test.
    assert "cachectl.config" in _imports("cachectl.backends.base")  # under TYPE_CHECKING
    assert "cachectl.cache" in _imports("cachectl.ops.latency")  # inside functions


def test_the_decorator_depends_on_the_protocol_only() -> None:
    decorator = _package("cachectl.decorator")
    used = set().union(*(_imports(m) for m in decorator)) - decorator
    assert not used & (_package("cachectl.cache") | {"cachectl.default"})
    assert _imports("cachectl.api") == set()
    for module in decorator:
        text = MODULES[module].read_text()
        assert not re.search(r"cache\._[a-z]", text), f"{module} reaches into a private method"
