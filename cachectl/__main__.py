"""`python -m cachectl`: the command-line tool."""

from cachectl.cli import script

script()
