"""Check the built wheel and sdist: `python scripts/check_dist.py DIST_DIR`.

`python scripts/check_dist.py --version` prints the version the source declares.

What twine's metadata check does not see: the distribution's name and version (the one in
cachectl/__init__.py), the console script, and the files the package needs at run time
(py.typed for type checkers, the page's static files, the demo's data).
"""

from __future__ import annotations

import ast
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "cachectl-redis"
#: Files of the import package that no .py file stands for.
DATA = ["cachectl/py.typed", "cachectl/contrib/static/", "cachectl/demo/"]
#: What the sdist must carry besides the package: to rebuild it, and the completions for packagers.
SDIST = ["pyproject.toml", "README.md", "PKG-INFO", "completions/cachectl.bash"]


def source_version() -> str:
    """cachectl.__version__, read from the source without importing it."""
    tree = ast.parse((ROOT / "cachectl" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise SystemExit("check_dist: no __version__ in cachectl/__init__.py")


def check_wheel(path: Path, version: str) -> list[str]:
    problems = []
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        info = f"cachectl_redis-{version}.dist-info"
        metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    if metadata["Name"] != NAME:
        problems.append(f"wheel: Name is {metadata['Name']!r}, not {NAME!r}")
    if metadata["Version"] != version:
        problems.append(f"wheel: Version {metadata['Version']} but __version__ is {version}")
    if "cachectl = cachectl.cli:script" not in entry_points:
        problems.append("wheel: no cachectl console script")
    for wanted in DATA:
        if not any(n == wanted or (wanted.endswith("/") and n.startswith(wanted)) for n in names):
            problems.append(f"wheel: {wanted} is missing")
    static = [n for n in names if n.startswith("cachectl/contrib/static/")]
    source_static = sorted((ROOT / "cachectl/contrib/static").iterdir())
    if len(static) != len(source_static):
        problems.append(f"wheel: {len(static)} static files, the source has {len(source_static)}")
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "cachectl").rglob("*.py")}
    for module in sorted(modules - set(names)):
        problems.append(f"wheel: {module} is missing")
    if any(n.startswith(("tests/", "bench/", "examples/")) for n in names):
        problems.append("wheel: holds tests, bench or examples")
    return problems


def check_sdist(path: Path, version: str) -> list[str]:
    prefix = f"cachectl_redis-{version}/"
    with tarfile.open(path) as sdist:
        names = sdist.getnames()
    problems = [f"sdist: {name} is missing" for name in SDIST if prefix + name not in names]
    if prefix + "cachectl/py.typed" not in names:
        problems.append("sdist: cachectl/py.typed is missing")
    return problems


def main(argv: list[str]) -> int:
    version = source_version()
    if argv == ["--version"]:
        print(version)
        return 0
    dist = Path(argv[0]) if argv else ROOT / "dist"
    wheels = sorted(dist.glob("cachectl_redis-*.whl"))
    sdists = sorted(dist.glob("cachectl_redis-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"check_dist: want one wheel and one sdist in {dist}, found {wheels + sdists}")
        return 1
    problems = check_wheel(wheels[0], version) + check_sdist(sdists[0], version)
    for problem in problems:
        print(f"check_dist: {problem}")
    if problems:
        return 1
    print(f"check_dist: {wheels[0].name} and {sdists[0].name} are {NAME} {version}, complete")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
