"""The sync face is generated from the async source (scripts/unasync.py), and CI's check fails,
naming the file, when a generated file is edited by hand or its source changed alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATED = [
    "cachectl/cache/_sync.py",
    "cachectl/backends/redis/_sync.py",
    "cachectl/decorator/_sync.py",
]


def _unasync(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/unasync.py", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the script reads and writes."""
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("cachectl", "scripts"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_committed_sync_code_is_what_the_source_generates() -> None:
    done = _unasync(ROOT, "--check")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("generated", GENERATED)
def test_each_generated_file_says_so_and_names_its_source(generated: str) -> None:
    first = (ROOT / generated).read_text().splitlines()[0]
    source = generated.replace("_sync.py", "_async.py")
    assert first == f"# Generated from {source} by scripts/unasync.py: do not edit."
    assert "async def" not in (ROOT / generated).read_text()
    assert "await " not in (ROOT / generated).read_text()


def test_a_hand_edit_of_generated_code_fails_the_check(tree: Path) -> None:
    target = tree / "cachectl/cache/_sync.py"
    edited = target.read_text().replace("counters.hits += 1", "counters.hits += 2", 1)
    target.write_text(edited)

    done = _unasync(tree, "--check")

    assert done.returncode == 1
    assert "cachectl/cache/_sync.py" in done.stderr
    assert "counters.hits += 2" in done.stdout  # the diff shows the edit
    assert target.read_text() == edited  # --check writes nothing


def test_a_source_changed_alone_fails_the_check_until_generated(tree: Path) -> None:
    source = tree / "cachectl/backends/redis/_async.py"
    source.write_text(source.read_text().replace("return removed", "return removed + 0", 1))

    assert _unasync(tree, "--check").returncode == 1
    written = _unasync(tree)
    assert written.returncode == 0, written.stderr
    assert "cachectl/backends/redis/_sync.py" in written.stdout
    assert _unasync(tree, "--check").returncode == 0
    assert "return removed + 0" in (tree / "cachectl/backends/redis/_sync.py").read_text()


def test_a_generated_file_without_its_source_fails_the_check(tree: Path) -> None:
    (tree / "cachectl/backends/_sync.py").write_text("# left behind\n")

    done = _unasync(tree, "--check")

    assert done.returncode == 1
    assert "cachectl/backends/_sync.py" in done.stderr
