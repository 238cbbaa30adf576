"""`python -m cachectl`: the command-line tool."""

from cachectl.cli import main

raise SystemExit(main())
