"""The cachectl command-line tool (`cachectl`, `python -m cachectl`).

    app.py      the Typer application, global connection options, the one error handler
    common.py   what commands share: settings, opening a connection, --json output, examples
    options.py  the options' vocabulary, and the options several commands share
    stats.py keys.py inspect.py flush.py latency.py namespaces.py warm.py demo.py doctor.py ui.py
                one module per command
    *_view.py   how a command draws its result (stats_view.py beside stats.py...), Rich
                imported in the functions that draw
    render.py   what the views share: consoles, escaping, units, tables that fit

Commands parse options, call one operation in cachectl.ops, and render its result.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool with argv (default: the process's arguments); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        # Answered before Typer is imported: the fastest path is the most frequent probe.
        from cachectl import __version__

        try:
            sys.stdout.write(f"cachectl {__version__}\n")
            sys.stdout.flush()
        except OSError as exc:
            return _unwritable(exc)
        return 0
    from cachectl.cli.app import run

    return run(args)


def script() -> NoReturn:
    """The console script and `python -m cachectl`: main(), then a quick exit."""
    status = main()
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        sys.exit(status)  # an application's own threads (warm --app) end as they would
    # Tearing down the interpreter (redis-py, Typer, their modules) costs about 20 ms, a
    # seventh of a flush's fixed cost. Exit handlers still run (logging's and those of an
    # application loaded by warm --app); then only the standard streams hold anything.
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError) as exc:
            status = status or _unwritable(exc)
    os._exit(status)


def _unwritable(exc: BaseException) -> int:
    """Status 1 for output that cannot be written; one line unless the reader went away."""
    if not isinstance(exc, BrokenPipeError):
        with contextlib.suppress(OSError):
            os.write(2, f"cachectl: error: cannot write the output: {exc}\n".encode())
    return 1
