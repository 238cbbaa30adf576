"""Every example of the docs runs: the ```python blocks of README.md and docs/*.md.

A small collector of our own rather than pytest-examples or sybil: the blocks of a page run in
order in one namespace, as a reader would type them (a later block uses the cache an earlier
one made), a block of `>>>` lines is checked as a doctest (its printed results are part of
what the page promises), and the pages' Redis URL is swapped for the test's own redis-server,
so no example ever reaches a Redis on the default port. That is 60 lines with no plugin and no
extra dependency whose versions CI would have to test.

A block that cannot run is marked on the line before it with `<!-- example: skip REASON -->`.
The ```console transcripts are not run here: each one follows a `<!-- cli-example -->` marker
and `scripts/cli_examples.py --check` (in .ci/run) runs it through the real console script;
the last test below keeps every transcript under such a marker, or skipped with a reason.
"""

from __future__ import annotations

import doctest
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: A fenced block, also one indented under a list item.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```+)(?P<info>[^\n]*)\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
SKIP = re.compile(r"<!-- example: skip (?P<reason>\S.*?) -->\s*$")
#: The Redis the pages show, and that the examples must never reach.
PAGE_URLS = re.compile(r"redis://(?:localhost|127\.0\.0\.1):6379/0")


@dataclass
class Block:
    page: Path
    line: int
    language: str
    code: str
    skip: str | None


def blocks(page: Path) -> Iterator[Block]:
    text = page.read_text()
    for fence in FENCE.finditer(text):
        before = text[: fence.start()].rstrip().rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        yield Block(
            page=page,
            line=text.count("\n", 0, fence.start()) + 1,
            language=fence.group("info").strip().split(" ")[0],
            code=textwrap.dedent(fence.group("body")),
            skip=skip.group("reason") if skip else None,
        )


def python_pages() -> list[Path]:
    return [p for p in PAGES if any(b.language == "python" for b in blocks(p))]


def run_block(block: Block, namespace: dict[str, object], url: str) -> None:
    where = f"{block.page.relative_to(ROOT)}:{block.line}"
    if block.code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(block.code, namespace, where, where, block.line)
        for example in test.examples:  # the calls, not the outputs they promise
            example.source = PAGE_URLS.sub(url, example.source)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        report: list[str] = []
        runner.run(test, out=report.append, clear_globs=False)
        namespace.update(test.globs)  # the doctest ran on a copy; the next block goes on from it
        assert runner.failures == 0, "".join(report)
    else:
        exec(compile(PAGE_URLS.sub(url, block.code), where, "exec"), namespace)


@pytest.mark.parametrize("page", python_pages(), ids=lambda p: p.name)
def test_the_python_examples_of_the_page_run(
    page: Path,
    redis_url: str,
    default_reset: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CACHECTL_ADMIN_TOKEN", "docs-admin-token")
    monkeypatch.delenv("CACHECTL_READ_ONLY_TOKEN", raising=False)
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = 0
    for block in blocks(page):
        if block.language == "python" and block.skip is None:
            run_block(block, namespace, redis_url)
            ran += 1
    assert ran, f"{page.name}: every example is skipped"


def test_skips_are_few_and_say_why() -> None:
    skipped = [b for p in PAGES for b in blocks(p) if b.language == "python" and b.skip]
    assert len(skipped) <= 3, [f"{b.page.name}:{b.line}: {b.skip}" for b in skipped]


def test_every_transcript_is_checked_or_skipped_with_a_reason() -> None:
    """A ```console or shell block either is rewritten from real runs or says why not."""
    unchecked = []
    for page in PAGES:
        text = page.read_text()
        for block in blocks(page):
            if block.language not in {"console", "bash", "sh", "shell"} or block.skip:
                continue
            marker = text.split("\n")[block.line - 2]
            if not marker.lstrip().startswith("<!-- cli-example"):
                unchecked.append(f"{page.relative_to(ROOT)}:{block.line}")
    assert not unchecked, f"transcripts nothing checks: {unchecked}"


def test_the_collector_sees_the_pages() -> None:
    names = {p.name for p in python_pages()}
    assert {"README.md", "library.md", "fastapi.md", "flask.md", "django.md"} <= names
    assert PAGE_URLS.search("redis://localhost:6379/0")
