"""`cachectl keys`: list keys with SCAN (never KEYS), with type, TTL, size and codec."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cachectl.cli.common import JsonOption, connection, print_json


class SortOrder(StrEnum):
    """How a key listing is ordered."""

    name = "name"
    ttl = "ttl"
    size = "size"


def keys(
    ctx: typer.Context,
    prefix: Annotated[
        str | None,
        typer.Option(
            metavar="PREFIX", help="Keys equal to or below this prefix (matched as literal text)."
        ),
    ] = None,
    pattern: Annotated[
        str | None,
        typer.Option(metavar="GLOB", help="Keys matching a Redis glob, inside the namespace."),
    ] = None,
    tag: Annotated[
        str | None, typer.Option(metavar="TAG", help="Keys written with this tag.")
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, help="Show at most N keys (the first found).")
    ] = 100,
    sort: Annotated[SortOrder, typer.Option(help="Order by name, ttl or size.")] = SortOrder.name,
    top: Annotated[
        int | None,
        typer.Option(metavar="N", min=1, help="The N biggest keys of the whole selection."),
    ] = None,
    no_namespace: Annotated[
        bool,
        typer.Option(
            "--no-namespace",
            help="Full Redis keys, outside any namespace: --prefix and --pattern match whole "
            "key names, and keys are shown in full (read-only; no --tag).",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """List keys of the namespace with type, TTL, stored size and codec.

    Without --prefix, --pattern or --tag every cache entry of the namespace is listed. The
    scan stops after --limit keys; --top scans the whole selection and keeps the biggest.
    With --no-namespace the whole database is listed, names in full.
    """
    from cachectl.keys import RawKeySpace
    from cachectl.ops.listing import list_keys, top_keys
    from cachectl.ops.selection import select

    with connection(ctx) as conn:
        if no_namespace:
            conn.keys = RawKeySpace()
        selection = select(conn.keys, prefix=prefix, pattern=pattern, tag=tag, required=False)
        if top is not None:
            listing = top_keys(conn, selection, top)
        else:
            listing = list_keys(conn, selection, limit, sort.value)
        if not listing.rows:
            from cachectl.cli.namespaces import hint_if_empty

            hint_if_empty(conn, known_empty=prefix is None and pattern is None and tag is None)
    if json_output:
        print_json(listing.to_dict())
    else:
        from cachectl.cli import render

        render.show_listing(listing)
