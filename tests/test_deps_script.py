"""scripts/deps.py: the lock stays in step with pyproject.toml, and a failed run names its package.

The blame tests build two tiny packages as wheels, a good 1.0 and a 2.0 of each (one of the
2.0s broken), install the 2.0s offline into a virtualenv of their own, and run the script as CI
does: it must name the broken one and only it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "deps.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deps_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deps = load_script()


def make_wheel(directory: Path, name: str, version: str, source: str) -> Path:
    """A minimal pure-Python wheel holding the module name with source."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


#: The releases the venv holds: the newest, as a run at the newest versions would install.
PAIR = ["depa==2.0", "depb==2.0"]


def where(project: Path) -> list[str | Path]:
    return ["--lock", project / "dev.lock", "--cwd", project]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose tests use depa and depb; its venv holds their 2.0s, its lock the 1.0s."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "depa", "1.0", "def answer():\n    return 42\n")
    make_wheel(wheels, "depa", "2.0", "def answer():\n    return 41  # the broken release\n")
    make_wheel(wheels, "depb", "1.0", "def answer():\n    return 1\n")
    make_wheel(wheels, "depb", "2.0", "def answer():\n    return 1\n")
    # Every uv the script runs finds packages here and nowhere else: no network.
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_OFFLINE", "1")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "test_it.py").write_text(
        "import depa, depb\n\n"
        "def test_answer():\n    assert depa.answer() == 42\n\n"
        "def test_depb():\n    assert depb.answer() == 1\n\n"
        "def test_broken_anyway():\n    assert False\n"
    )
    (proj / "dev.lock").write_text("depa==1.0\n    # via test\ndepb==1.0\n")
    venv = proj / "venv"
    subprocess.run([deps.uv(), "venv", "--quiet", "--python", sys.executable, venv], check=True)
    # pytest from this interpreter's environment, after the venv's own packages on sys.path:
    # every site directory it reads (a venv made with --system-site-packages may find pytest
    # only in the system's).
    sites = [Path(sysconfig.get_paths()["purelib"]), *map(Path, site.getsitepackages())]
    venv_site = next(venv.glob("lib/python*/site-packages"))
    (venv_site / "outer.pth").write_text("".join(f"{path}\n" for path in dict.fromkeys(sites)))
    subprocess.run(
        [deps.uv(), "pip", "install", "--quiet", "--python", venv / "bin" / "python", *PAIR],
        check=True,
    )
    return proj


def blame(project: Path, *tests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, SCRIPT, "blame", "--venv", project / "venv", *where(project), *tests],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_blame_names_the_package_whose_new_release_broke_the_tests(project: Path) -> None:
    result = blame(project, "test_it.py::test_answer")
    print(result.stdout)  # the report, as CI prints it
    assert result.returncode == 0, result
    assert "depa 2.0 -> 1.0: PASS" in result.stdout
    assert "depb 2.0 -> 1.0: still failing" in result.stdout
    assert "CAUSE: depa 2.0 (the lock has 1.0): with depa==1.0 the failed tests pass" in (
        result.stdout
    )
    assert "CAUSE: depb" not in result.stdout
    # What was pinned back for the trial is put back: the venv is as it was.
    assert deps.installed(project / "venv" / "bin" / "python") == {"depa": "2.0", "depb": "2.0"}


def test_blame_names_nothing_for_a_test_that_fails_at_the_locked_versions(project: Path) -> None:
    result = blame(project, "test_it.py::test_broken_anyway")
    assert result.returncode == 1, result
    assert "CAUSE" not in result.stdout
    assert "fail at the locked versions too: not a dependency version" in result.stdout


def test_lower_bounds_must_be_the_versions_tested() -> None:
    requirements = ["redis[hiredis]>=8.0.1", "typer>=0.28,<0.29", "rich>=13.7", "plain"]
    assert deps.lower_bounds(requirements) == {"redis": "8.0.1", "typer": "0.28", "rich": "13.7"}
    resolved = {"redis": "8.0.1", "typer": "0.28.0", "rich": "13.8.0"}
    assert deps.untested_bounds(requirements, resolved) == [
        "rich>=13.7 resolves to 13.8.0 at the lowest: raise the bound"
    ]


def test_every_direct_dependency_has_a_lower_bound() -> None:
    requirements = deps.direct_requirements()
    names = {deps.normalize(r.split("[")[0].split(">")[0].split("<")[0]) for r in requirements}
    assert names - set(deps.lower_bounds(requirements)) == set()


def test_rerun_options_keep_plugins_and_drop_the_selection() -> None:
    args = ["-n", "2", "--ignore=tests/x.py", "-p", "no:randomly", "-k", "foo", "tests"]
    assert deps.pytest_args_without_selection(args) == ["-p", "no:randomly"]
    assert deps.pytest_args_without_selection(["-pno:xdist", "-x"]) == ["-pno:xdist"]


def test_blame_names_nothing_for_a_test_that_passes_on_a_rerun(project: Path) -> None:
    # A flaky test: it fails once, then passes, whatever the versions.
    marker = project / "failed-once"
    (project / "test_flaky.py").write_text(
        "from pathlib import Path\n\n"
        "def test_flaky():\n"
        f"    marker = Path({str(marker)!r})\n"
        "    if not marker.exists():\n"
        "        marker.touch()\n"
        "        assert False\n"
    )
    python = project / "venv" / "bin" / "python"
    first = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_flaky.py"],
        cwd=project,
        capture_output=True,
    )
    assert first.returncode == 1
    result = blame(project, "test_flaky.py::test_flaky")
    assert result.returncode == 1, result
    assert "pass when re-run unchanged: flaky" in result.stdout
    assert "CAUSE" not in result.stdout
