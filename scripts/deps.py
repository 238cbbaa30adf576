"""The dependency lock and the runs against the lowest and newest allowed versions.

    python scripts/deps.py lock [--upgrade]     write requirements/*.lock from pyproject.toml
    python scripts/deps.py lock --check         fail when a lock no longer matches pyproject.toml
    python scripts/deps.py test lowest|newest [--venv DIR] [--lint] [-- PYTEST_ARGS...]
    python scripts/deps.py blame --venv DIR TEST_ID...  name the package behind failed tests

`test` resolves the dev extra at the lowest allowed versions of the direct dependencies
(`uv pip compile --resolution lowest-direct`; it also checks that each lower bound written in
pyproject.toml is the version resolved, i.e. the version tested) or at the newest ones
available now, installs them into a fresh virtual environment and runs pytest there. When
tests fail, `blame` re-runs them with each package that differs from requirements/dev.lock put
back to its locked version, and names the package(s) whose locked version makes them pass:
the lock is the set CI passes with, so the difference that heals the failure is its cause.

Needs uv (in the dev extra) on PATH or next to this Python.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
DEV_LOCK = REQUIREMENTS / "dev.lock"
TOOLS_IN = REQUIREMENTS / "tools.in"
TOOLS_LOCK = REQUIREMENTS / "tools.lock"
PYTHON_VERSION = "3.11"
LOCK_COMMAND = "python scripts/deps.py lock"
#: Failed tests re-run per candidate package: enough to tell the cause, bounded in time.
BLAME_TESTS = 20
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def say(message: str) -> None:
    print(f"deps: {message}", flush=True)


def uv() -> str:
    """The uv executable: next to this Python (a venv's bin), else on PATH."""
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if found is None:
        sys.exit("deps: uv is not installed: pip install uv (it is in the dev extra)")
    return found


def run(args: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def normalize(name: str) -> str:
    """A distribution name in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line of a requirements or freeze text."""
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


# ---------------------------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------------------------


def compile_args(output: Path, *extra: str) -> list[str]:
    """uv pip compile of the dev extra (it includes every other extra the tests use)."""
    return [
        uv(),
        "pip",
        "compile",
        "--quiet",
        str(ROOT / "pyproject.toml"),
        "--extra",
        "dev",
        "--python-version",
        PYTHON_VERSION,
        "-o",
        str(output),
        *extra,
    ]


def lock_commands(dev: Path, tools: Path, upgrade: bool) -> list[list[str]]:
    """The commands that write the dev lock (universal: any OS) and the CI tools' lock."""
    common = ["--custom-compile-command", LOCK_COMMAND, *(["--upgrade"] if upgrade else [])]
    tools_cmd = [uv(), "pip", "compile", "--quiet", str(TOOLS_IN), "-o", str(tools)]
    return [
        compile_args(dev, "--universal", *common),
        [*tools_cmd, "--python-version", PYTHON_VERSION, *common],
    ]


def lock(upgrade: bool, check: bool) -> int:
    """Write the locks, or with check, fail when pyproject.toml changed since they were written."""
    if not check:
        for command in lock_commands(DEV_LOCK, TOOLS_LOCK, upgrade):
            if run(command, cwd=ROOT).returncode:
                return 1
        say(f"wrote {DEV_LOCK.relative_to(ROOT)} and {TOOLS_LOCK.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        # uv keeps the versions already in the output file: only a change of pyproject.toml
        # (or tools.in) changes what it writes.
        dev, tools = Path(tmp, "dev.lock"), Path(tmp, "tools.lock")
        shutil.copy(DEV_LOCK, dev)
        shutil.copy(TOOLS_LOCK, tools)
        for command in lock_commands(dev, tools, upgrade=False):
            if run(command, cwd=ROOT).returncode:
                return 1
        stale = [
            path.name
            for path, fresh in ((DEV_LOCK, dev), (TOOLS_LOCK, tools))
            if path.read_text() != fresh.read_text()
        ]
    if stale:
        say(f"{', '.join(stale)} no longer match their sources: run {LOCK_COMMAND}")
        return 1
    say("the locks match pyproject.toml and requirements/tools.in")
    return 0


# ---------------------------------------------------------------------------------------------
# Lowest and newest
# ---------------------------------------------------------------------------------------------


def direct_requirements() -> list[str]:
    """The requirement strings of the runtime dependencies and of the extras the tests use."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    own = normalize(project["name"])
    extras = project["optional-dependencies"]
    found = list(project["dependencies"])
    for extra in ("fastapi", "django", "flask", "bench", "dev"):
        found += [r for r in extras[extra] if normalize(re.split(r"[\[<>=!~;\s]", r)[0]) != own]
    return found


def lower_bounds(requirements: Iterable[str]) -> dict[str, str]:
    """name -> the version of its `>=` bound, for each requirement that has one."""
    bounds = {}
    for requirement in requirements:
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*([^;]*)", requirement)
        if match is None:
            continue
        for clause in match.group(3).split(","):
            clause = clause.strip()
            if clause.startswith(">="):
                bounds[normalize(match.group(1))] = clause[2:].strip()
    return bounds


def release(version: str) -> tuple[int, ...]:
    """The release numbers of a version, trailing zeros dropped (5.2 == 5.2.0)."""
    numbers = [int(part) for part in re.findall(r"\d+", version.split("+")[0])]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def untested_bounds(requirements: Iterable[str], resolved: dict[str, str]) -> list[str]:
    """Lower bounds that the lowest resolution did not reach: declared, but never tested."""
    problems = []
    for name, bound in sorted(lower_bounds(requirements).items()):
        got = resolved.get(name)
        if got is None:
            problems.append(f"{name}>={bound} is not in the lowest resolution")
        elif release(got) != release(bound):
            problems.append(f"{name}>={bound} resolves to {got} at the lowest: raise the bound")
    return problems


def resolve(mode: str, output: Path) -> int:
    """Pin the dev extra at the lowest direct or at the newest versions (this platform)."""
    extra = ["--resolution", "lowest-direct"] if mode == "lowest" else ["--upgrade"]
    status = run(compile_args(output, "--no-header", *extra), cwd=ROOT).returncode
    if status == 0 and mode == "lowest":
        problems = untested_bounds(direct_requirements(), pins(output.read_text()))
        for problem in problems:
            say(problem)
        status = 1 if problems else 0
    return status


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def make_venv(venv: Path, requirements: Path) -> int:
    """A fresh venv holding exactly requirements, and this checkout installed editable."""
    if venv.exists():
        shutil.rmtree(venv)
    steps = [
        [uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
        [uv(), "pip", "sync", "--quiet", "--python", str(venv_python(venv)), str(requirements)],
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv_python(venv)),
            "--no-deps",
            "-e",
            str(ROOT),
        ],
    ]
    for step in steps:
        if run(step).returncode:
            return 1
    return 0


def installed(python: Path) -> dict[str, str]:
    """name -> version of what the venv of python holds."""
    out = run([uv(), "pip", "freeze", "--python", str(python)], capture_output=True).stdout
    return pins(out)


def pytest_env(venv: Path) -> dict[str, str]:
    """The environment of a test run in venv: its bin first on PATH (for the console script)."""
    env = dict(os.environ, VIRTUAL_ENV=str(venv))
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONHOME", None)
    return env


def run_tests(venv: Path, args: Sequence[str], cache_dir: Path, cwd: Path) -> int:
    command = [str(venv_python(venv)), "-m", "pytest", "-o", f"cache_dir={cache_dir}", *args]
    return run(command, cwd=cwd, env=pytest_env(venv)).returncode


def last_failed(cache_dir: Path) -> list[str]:
    """The node ids that pytest's cache recorded as failed in the run."""
    path = cache_dir / "v" / "cache" / "lastfailed"
    if not path.exists():
        return []
    return sorted(json.loads(path.read_text()))


def pin(python: Path, name: str, version: str) -> bool:
    """Put exactly one package at version in python's venv (its dependencies untouched)."""
    command = [uv(), "pip", "install", "--quiet", "--python", str(python), "--no-deps"]
    return run([*command, f"{name}=={version}"]).returncode == 0


def blame(
    venv: Path, failed: Sequence[str], lock_file: Path, cwd: Path, extra: Sequence[str] = ()
) -> list[str]:
    """The packages whose locked version, alone, makes the failed tests pass; printed."""
    python = venv_python(venv)
    locked = pins(lock_file.read_text())
    now = installed(python)
    differs = {n: (v, locked[n]) for n, v in sorted(now.items()) if n in locked and locked[n] != v}
    tests = list(failed[:BLAME_TESTS])
    if not differs:
        say("every installed package is at its locked version: the failure is not a version's")
        return []
    say(
        f"{len(failed)} test(s) failed; re-running {len(tests)} with each of "
        f"{len(differs)} package(s) put back to its version in {lock_file.name}"
    )

    def passes() -> bool:
        return passes_unchanged(venv, tests, cwd, extra)

    if passes():
        say("the failed tests pass when re-run unchanged: flaky, not a version (no package named)")
        return []
    culprits = []
    for name, (have, want) in differs.items():
        if not pin(python, name, want):
            say(f"  {name}: cannot install {want}; skipped")
            continue
        healed = passes()
        pin(python, name, have)
        say(f"  {name} {have} -> {want}: {'PASS' if healed else 'still failing'}")
        if healed:
            culprits.append(name)
    if culprits:
        for name in culprits:
            have, want = differs[name]
            say(
                f"CAUSE: {name} {have} (the lock has {want}): with {name}=={want} the failed "
                "tests pass"
            )
        return culprits
    # No single package: all of them at once tells a combination from a flaky test.
    for name, (_, want) in differs.items():
        pin(python, name, want)
    together = passes()
    for name, (have, _) in differs.items():
        pin(python, name, have)
    if together:
        say(
            "CAUSE: no single package; together these do it: "
            + ", ".join(f"{n} {h} (lock {w})" for n, (h, w) in differs.items())
        )
    else:
        say("the failed tests fail at the locked versions too: not a dependency version")
    return []


def lint(venv: Path) -> int:
    """ruff, ruff format --check and mypy --strict as CI runs them, with venv's versions."""
    python = str(venv_python(venv))
    status = 0
    for command in (
        [python, "-m", "ruff", "check", "--no-cache", "."],
        [python, "-m", "ruff", "format", "--no-cache", "--check", "."],
        [python, "-m", "mypy", "--strict", "--cache-dir", str(venv / "mypy-cache"), "cachectl"],
    ):
        if run(command, cwd=ROOT, env=pytest_env(venv)).returncode:
            say(f"failed: {' '.join(command[1:4])} ...")
            status = 1
    return status


def test(mode: str, venv: Path, pytest_args: Sequence[str], with_lint: bool = False) -> int:
    """Resolve mode's versions into a fresh venv, run pytest there, blame on failure."""
    started = time.monotonic()
    venv.parent.mkdir(parents=True, exist_ok=True)
    requirements = venv.parent / f"{venv.name}.txt"
    if resolve(mode, requirements):
        return 1
    if make_venv(venv, requirements):
        return 1
    now = installed(venv_python(venv))
    locked = pins(DEV_LOCK.read_text())
    direct = {normalize(re.split(r"[\[<>=!~;\s]", r)[0]) for r in direct_requirements()}
    shown = [
        f"{n} {v}" + ("" if locked.get(n) == v else f" (lock {locked.get(n, '-')})")
        for n, v in sorted(now.items())
        if n in direct
    ]
    say(f"{mode} versions of the direct dependencies: {', '.join(shown)}")
    if with_lint and lint(venv):
        say(f"{mode}: the linters fail at these versions")
        return 1
    with tempfile.TemporaryDirectory() as cache_dir:
        status = run_tests(venv, pytest_args, Path(cache_dir), ROOT)
        failed = last_failed(Path(cache_dir))
    say(f"{mode}: pytest exit {status} in {time.monotonic() - started:.0f} s (with the install)")
    if status == 0:
        return 0
    extra = pytest_args_without_selection(pytest_args)
    if 0 < len(failed) <= BLAME_TESTS and passes_unchanged(venv, failed, ROOT, extra):
        # These runs test versions; the locked run (the README's command) is the strict one.
        say(
            f"{mode}: the {len(failed)} failed test(s) pass when re-run unchanged: flaky, "
            "not these versions (not counted)"
        )
        return 0
    if failed:
        blame(venv, failed, DEV_LOCK, ROOT, extra)
    return status


def passes_unchanged(venv: Path, tests: Sequence[str], cwd: Path, extra: Sequence[str]) -> bool:
    """Whether tests pass when run again, together, at the same versions."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["-q", "-p", "no:randomly", "--no-header", "-x", *extra, *tests]
        quiet = run(
            [str(venv_python(venv)), "-m", "pytest", "-o", f"cache_dir={tmp}", *args],
            cwd=cwd,
            env=pytest_env(venv),
            capture_output=True,
        )
        return quiet.returncode == 0


def pytest_args_without_selection(args: Sequence[str]) -> list[str]:
    """The options of args that still apply to a re-run of named tests: the plugins (-p)."""
    kept: list[str] = []
    for arg, following in zip(args, [*args[1:], ""], strict=True):
        if arg == "-p" and following:
            kept += [arg, following]
        elif arg.startswith("-p") and len(arg) > 2:
            kept.append(arg)
    return kept


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/deps.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_lock = sub.add_parser("lock", help="write (or --check) requirements/*.lock")
    p_lock.add_argument("--upgrade", action="store_true", help="move every pin to the newest")
    p_lock.add_argument("--check", action="store_true", help="fail on a lock that is stale")
    p_test = sub.add_parser("test", help="run pytest at the lowest or newest versions")
    p_test.add_argument("mode", choices=["lowest", "newest"])
    p_test.add_argument("--venv", type=Path, help="where to make the venv (default: a temp dir)")
    p_test.add_argument("--lint", action="store_true", help="also ruff and mypy, first")
    p_blame = sub.add_parser("blame", help="name the package that makes failed tests fail")
    p_blame.add_argument("--venv", type=Path, required=True)
    p_blame.add_argument("--lock", type=Path, default=DEV_LOCK)
    p_blame.add_argument("--cwd", type=Path, default=ROOT)
    p_blame.add_argument("tests", nargs="+", help="the failed tests' node ids")
    # Everything after -- is pytest's (argparse's own handling of -- in a subcommand is not).
    split = list(argv).index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.pytest_args = list(argv[split + 1 :])
    if args.command == "lock":
        return lock(args.upgrade, args.check)
    if args.command == "blame":
        return 0 if blame(args.venv, args.tests, args.lock, args.cwd) else 1
    if args.venv is not None:
        return test(args.mode, args.venv, args.pytest_args, args.lint)
    with tempfile.TemporaryDirectory(prefix=f"cachectl-{args.mode}-") as tmp:
        return test(args.mode, Path(tmp) / "venv", args.pytest_args, args.lint)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
