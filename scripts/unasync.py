"""Generate cachectl's synchronous face from its asyncio source, as encode/httpcore does.

    python scripts/unasync.py            write every generated file
    python scripts/unasync.py --check    exit 1, naming the file, where one differs

Every `_async.py` under cachectl/ is a source; the `_sync.py` beside it is generated from it:
the token rules in SUBS are applied line by line (whole words, in order), then ruff sorts the
imports and formats the result as it does the rest of the code (a line that lost `await ` may
now fit on one). A rule that no source uses fails the run, so none is left over after a
rename. What differs between the faces by nature (a thread or a task, the pools, fork
handling) is hand-written elsewhere; see each source's docstring.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cachectl"

SUBS = [
    # Names: the faces' classes, their base classes and their types.
    ("AsyncFace", "SyncFace"),
    ("Async([A-Z][A-Za-z0-9_]*)", r"\2"),  # AsyncCache -> Cache, AsyncIterator -> Iterator...
    ("async_wrapper", "sync_wrapper"),
    ("An asyncio", "A synchronous"),
    # Syntax.
    ("async def", "def"),
    ("async with", "with"),
    ("async for", "for"),
    ("await ", ""),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
]
# Whole words only; the boundaries match nothing, so a rule's own groups count from 2.
COMPILED_SUBS = [(re.compile(r"(^|\b)" + regex + r"($|\b)"), repl) for regex, repl in SUBS]

HEADER = """\
# Generated from {source} by scripts/unasync.py: do not edit.
# Edit the source, then run `python scripts/unasync.py`; CI checks that the two agree.
"""


def unasync_line(line: str, used: set[int]) -> str:
    """One source line with every rule applied; the rules that changed it are added to used."""
    for index, (regex, repl) in enumerate(COMPILED_SUBS):
        new = regex.sub(repl, line)
        if new != line:
            used.add(index)
            line = new
    return line


def ruff(args: list[str], text: str, path: Path) -> str:
    """text as ruff leaves it with args (given as the file at path, so its settings apply)."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", str(path), "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"unasync: ruff {args[0]} failed on {path.relative_to(ROOT)}:\n{done.stderr}")
    return done.stdout


def generate(source: Path, target: Path, used: set[int]) -> str:
    """The text of target, generated from source."""
    lines = [unasync_line(line, used) for line in source.read_text().splitlines(keepends=True)]
    text = HEADER.format(source=source.relative_to(ROOT).as_posix()) + "".join(lines)
    text = ruff(["check", "--select", "I", "--fix", "--exit-zero", "--quiet"], text, target)
    return ruff(["format", "--quiet"], text, target)


def main() -> int:
    check = "--check" in sys.argv[1:]
    used: set[int] = set()
    stale: list[str] = []
    sources = sorted(PACKAGE.rglob("_async.py"))
    for source in sources:
        target = source.with_name("_sync.py")
        text = generate(source, target, used)
        name = target.relative_to(ROOT).as_posix()
        current = target.read_text() if target.exists() else ""
        if current == text:
            continue
        if not check:
            target.write_text(text)
            print(f"unasync: wrote {name}")
            continue
        stale.append(name)
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"{name} (committed)",
            f"{name} (generated from {source.relative_to(ROOT).as_posix()})",
        )
        sys.stdout.writelines(list(diff)[:60])
    for target in sorted(PACKAGE.rglob("_sync.py")):
        if not target.with_name("_async.py").exists():
            stale.append(target.relative_to(ROOT).as_posix())
            print(f"unasync: {target.relative_to(ROOT).as_posix()} has no _async.py source")
    unused = [SUBS[i] for i in range(len(SUBS)) if i not in used]
    if unused:
        print(f"unasync: rules no source uses (remove them): {unused}", file=sys.stderr)
        return 1
    if stale:
        print(
            "unasync: generated code differs from its source: "
            + ", ".join(stale)
            + "\nedit the _async.py source and run `python scripts/unasync.py`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
