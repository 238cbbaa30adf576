"""`cachectl keys`: list keys with SCAN (never KEYS), with type, TTL, memory and codec."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cachectl.cli import options
from cachectl.cli.common import connection, examples, show
from cachectl.errors import ConfigError

#: Keys shown when neither --limit nor --top is given.
DEFAULT_LIMIT = 100


class SortOrder(StrEnum):
    """How a key listing is ordered."""

    name = "name"
    ttl = "ttl"
    memory = "memory"


#: Shown at the end of `cachectl keys --help`.
EXAMPLES = examples(
    "cachectl --namespace shop keys --prefix users --sort ttl --limit 20",
    "cachectl --namespace shop keys --top 10",
)


def keys(
    ctx: typer.Context,
    prefix: options.Prefix = None,
    pattern: options.Pattern = None,
    tag: options.Tag = None,
    limit: Annotated[
        int | None,
        options.count(f"Show the first N keys in --sort order (default {DEFAULT_LIMIT})."),
    ] = None,
    sort: Annotated[
        SortOrder | None,
        typer.Option(help="name; ttl: soonest expiry first; memory: biggest first. Default name."),
    ] = None,
    top: Annotated[
        int | None, options.count("The N biggest keys: --sort memory --limit N.")
    ] = None,
    no_namespace: Annotated[
        bool,
        options.flag(
            "--no-namespace",
            "Full Redis keys, outside any namespace: --prefix and --pattern match whole key "
            "names, and keys are shown in full (read-only; no --tag).",
        ),
    ] = False,
    allow_empty: options.AllowEmpty = False,
    json_output: options.Json = False,
) -> None:
    """List keys of the namespace with type, TTL, memory (MEMORY USAGE) and codec.

    Without --prefix, --pattern or --tag every cache entry of the namespace is listed. The
    whole selection is scanned and the first --limit keys in --sort order are shown, with
    the number that matched; memory stays flat whatever the number of keys. Ties in ttl
    and memory order go to the key scanned first. With --no-namespace the whole database is
    listed, names in full.
    """
    from cachectl.keys import RawKeySpace
    from cachectl.ops.listing import list_keys, top_keys
    from cachectl.ops.selection import select

    if top is not None and (limit is not None or sort not in (None, SortOrder.memory)):
        raise ConfigError("--top N is --sort memory --limit N: give --top alone")
    with connection(ctx) as conn:
        if no_namespace:
            conn.keys = RawKeySpace()
        selection = select(conn.keys, prefix=prefix, pattern=pattern, tag=tag, required=False)
        if top is not None:
            listing = top_keys(conn, selection, top)
        else:
            order = (sort or SortOrder.name).value
            listing = list_keys(conn, selection, limit or DEFAULT_LIMIT, order)
        from cachectl.cli.namespaces import empty_namespace

        empty = empty_namespace(conn, allow_empty, seen=bool(listing.rows))
    from cachectl.cli.keys_view import show_listing

    show(listing, json_output, show_listing, empty)
