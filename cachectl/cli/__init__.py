"""The cachectl command-line tool (`cachectl`, `python -m cachectl`).

    app.py      the Typer application, global connection options, the one error handler
    common.py   what commands share: connection options, --json, opening a connection
    stats.py keys.py inspect.py flush.py latency.py   one module per command
    render.py   every Rich import: tables, live views, progress bars, highlighting

Commands parse options, call one operation in cachectl.ops, and render its result.
"""

from __future__ import annotations

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

        sys.stdout.write(f"cachectl {__version__}\n")
        return 0
    from cachectl.cli.app import run

    return run(args)


def script() -> NoReturn:
    """The console script and `python -m cachectl`: main(), then a quick exit."""
    status = main()
    # Tearing down the interpreter (redis-py, Typer, their modules) costs about 20 ms, a
    # seventh of a flush's fixed cost; by now connections are closed and only the standard
    # streams and log handlers hold anything unwritten.
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(status)
