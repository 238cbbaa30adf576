"""`cachectl --install-completion`, run from bash, zsh or fish, writes a script that completes.

Each shell runs the installed console script in a HOME of its own, as a user would type the
command in that shell; then the same shell, reading only what the command wrote, completes
`cachectl st` to `stats`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: What each shell is asked to complete: the written script, then a completion of `cachectl st`.
COMPLETE = {
    "bash": (
        ".bash_completions/cachectl.sh",
        "source ~/.bashrc; COMP_WORDS=(cachectl st); COMP_CWORD=1; "
        '_cachectl_completion cachectl; printf "%s\\n" "${COMPREPLY[@]}"',
    ),
    "zsh": (
        ".zfunc/_cachectl",
        # ~/.zshrc runs compinit, which finds _cachectl on $fpath; _arguments is the part of
        # zsh's completion system that needs a live command line, so it prints its argument.
        'source ~/.zshrc; _arguments() { print -r -- "$@"; }; words=(cachectl st); CURRENT=2; '
        "${_comps[cachectl]}; _cachectl_completion",
    ),
    "fish": (".config/fish/completions/cachectl.fish", "complete -C'cachectl st'"),
}


def shell_or_skip(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        reason = f"{shell} is not installed (apt-get install {shell})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs it", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.mark.parametrize("shell", sorted(COMPLETE))
def test_install_completion_writes_a_working_script(shell: str, tmp_path: Path) -> None:
    executable = shell_or_skip(shell)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "cachectl").exists(), "the console script: pip install -e '.[dev]'"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "ZDOTDIR", "BASH_ENV", "_CACHECTL", "_TYPER"))
    }
    env.update(HOME=str(tmp_path), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    # `; true`: a shell would exec a lone command, and the command tells the shell by its
    # parent process.
    installed = subprocess.run(
        [executable, "-c", "cachectl --install-completion; true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    script, completion = COMPLETE[shell]
    assert f"{shell} completion installed in {tmp_path / script}" in installed.stdout
    assert "cachectl" in (tmp_path / script).read_text()

    completed = subprocess.run(
        [executable, "-c", f"{completion}; true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    assert "stats" in completed.stdout, completed
    assert "flush" not in completed.stdout
