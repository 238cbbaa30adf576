"""The distribution: its name on PyPI in every install instruction, one version everywhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import cachectl

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: The name on PyPI; "cachectl" there is somebody else's project.
DISTRIBUTION = "cachectl-redis"

#: The old instructions: installing "cachectl" from PyPI, with or without an extra.
OLD_FORMS = [
    # pip install cachectl, pip install -U "cachectl>=1", pipx install cachectl, uv add ...
    re.compile(
        r"\b(?:pip3?|pipx|uv(?:\s+pip|\s+tool)?)\s+(?:install|add)\s+(?:-\S+\s+)*"
        r"""['"]?cachectl(?![\w-])"""
    ),
    # 'cachectl[fastapi]' or "cachectl[django]" (an extra of the wrong project)
    re.compile(r"""['"]cachectl\["""),
]

#: Where users read install instructions: the README, the docs, the examples, the help texts.
SOURCES = [
    "README.md",
    "docs/**/*",
    "examples/**/*",
    "cachectl/**/*.py",
    "cachectl/**/*.txt",
    "cachectl/**/*.html",
    "cachectl/**/*.js",
    "completions/*",
    "bench/*.py",
]


def instruction_files() -> list[Path]:
    found = {p for pattern in SOURCES for p in ROOT.glob(pattern) if p.is_file()}
    return sorted(p for p in found if p.suffix not in {".png", ".jpg", ".pyc"})


def old_forms(text: str) -> list[str]:
    return [m.group(0) for pattern in OLD_FORMS for m in pattern.finditer(text)]


def test_the_old_forms_are_recognised() -> None:
    for bad in [
        "pip install cachectl",
        "pip install 'cachectl[django]'",
        'pip install "cachectl[fastapi]"',
        "pip install -U cachectl",
        "pipx install cachectl",
        "uv pip install cachectl",
        "uv add 'cachectl>=0.1'",
    ]:
        assert old_forms(bad), bad
    for good in [
        f"pip install {DISTRIBUTION}",
        f"pip install '{DISTRIBUTION}[django]'",
        "pip install -e '.[dev]'",
        "pipx install cachectl-redis",
        "import cachectl",
        "cachectl[fastapi]",  # unquoted outside an install command: a name, not an instruction
    ]:
        assert not old_forms(good), good


def test_no_install_instruction_names_the_wrong_package() -> None:
    files = instruction_files()
    assert ROOT / "README.md" in files and any("examples" in p.parts for p in files)
    found = [
        f"{path.relative_to(ROOT)}: {form}"
        for path in files
        for form in old_forms(path.read_text(errors="replace"))
    ]
    assert not found, f"install instructions for PyPI's other 'cachectl': {found}"


def test_readme_installs_the_distribution_with_its_extras() -> None:
    readme = (ROOT / "README.md").read_text()
    for extra in ("fastapi", "django", "flask"):
        assert f"pip install '{DISTRIBUTION}[{extra}]'" in readme


def test_the_distribution_name_and_the_command() -> None:
    assert PYPROJECT["project"]["name"] == DISTRIBUTION
    assert PYPROJECT["project"]["scripts"] == {"cachectl": "cachectl.cli:script"}
    # The extras that name the project itself use its own name, not PyPI's other cachectl.
    for requirements in PYPROJECT["project"]["optional-dependencies"].values():
        for requirement in requirements:
            assert not re.match(r"cachectl(?![\w-])", requirement), requirement


def test_the_version_is_written_once() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cachectl.__version__"}


def test_installed_metadata_matches_the_package() -> None:
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{DISTRIBUTION} is not installed: pip install -e '.[dev]'")
    assert dist.version == cachectl.__version__, "stale metadata: pip install -e '.[dev]' again"
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"cachectl": "cachectl.cli:script"}


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--timeout", "1", "--version"]],
    ids=["fast-path", "through-typer"],
)
def test_version_output(args: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cachectl", *args], capture_output=True, text=True, check=True
    )
    assert out.stdout == f"cachectl {cachectl.__version__}\n"
    assert out.stderr == ""


@pytest.mark.parametrize("command", ["demo", "ui"])
def test_help_names_the_extra_to_install(command: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cachectl", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    text = " ".join(out.stdout.split())
    assert f"pip install '{DISTRIBUTION}[fastapi]'" in text
    assert not old_forms(text)


def test_quick_start_is_two_commands_from_the_lock() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert quick.splitlines() == [
        "pip install -c requirements/dev.lock -e '.[fastapi]' && cachectl demo",
        "pip install -c requirements/dev.lock -e '.[dev]' && python3 -m pytest",
    ]
    # CI runs the same test command, from the same lock.
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m pip install -c requirements/dev.lock -e '.[dev]'" in ci
    assert "\npython3 -m pytest\n" in ci
    assert "python3 scripts/deps.py lock --check" in ci
