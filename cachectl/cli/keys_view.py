"""How `cachectl keys` draws a listing: a table of keys, then which of how many are shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachectl.cli.render import (
    count,
    figures,
    key_text,
    name,
    number,
    out,
    size,
    text,
    ttl,
    unbreakable,
)

if TYPE_CHECKING:
    from cachectl.ops.listing import Listing


def show_listing(listing: Listing) -> None:
    """Print a key listing, saying which keys of how many are shown."""
    from rich.table import Table

    table = Table(title=text(name(listing.selection)), title_justify="left")
    table.add_column("key", overflow="fold")
    table.add_column("type", no_wrap=True)
    figures(table, "ttl", "memory")
    table.add_column("codec", no_wrap=True)
    for row in listing.rows:
        table.add_row(
            key_text(row.key), row.type, ttl(row.ttl_ms), size(row.memory), text(row.codec)
        )
    shown, matched = len(listing.rows), listing.matched
    order = {"name": "by name", "ttl": "soonest expiry first", "memory": "biggest first"}
    if listing.top is not None:
        basis = "MEMORY USAGE" if listing.ranked_by != "strlen" else "by value length"
        note = f"the {count(shown, 'biggest key')} ({basis})"
    elif listing.truncated and matched is not None:
        note = (
            f"the first {number(shown)} of {count(matched, 'matching key')}, "
            f"{order[listing.sort]} (--limit shows more)"
        )
    else:
        note = count(shown, "key") + ("" if listing.sort == "name" else f", {order[listing.sort]}")
    if listing.top is not None and listing.truncated and matched is not None:
        note += f" of {count(matched, 'matching key')}"
    # Below the table, not its caption: a caption wraps at the table's width.
    out().print(unbreakable(table))
    out().print(text(note))
    for line in listing.notes:
        out().print(text(line))
