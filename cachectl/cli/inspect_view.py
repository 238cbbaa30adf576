"""How `cachectl inspect` draws a key: what is known of it, then its value (bounded), decoded,
as a hex dump, or streamed as text."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cachectl.cli.render import (
    count,
    duration,
    key_text,
    number,
    out,
    plain,
    safe,
    size,
    text,
    ttl,
)
from cachectl.ops.preview import UNITS, Omitted, hexdump_lines, jsonable

if TYPE_CHECKING:
    from cachectl.ops.inspect import Inspection


def show_inspection(found: Inspection) -> None:
    """Print what is known of a key, then its value (bounded: see inspect --max-bytes)."""
    from rich.pretty import Pretty
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("key", key_text(found.key))
    grid.add_row("redis key", key_text(found.full_key))
    grid.add_row("type", text(found.type))
    grid.add_row("ttl", ttl(found.ttl_ms) if found.ttl_ms is not None else "no expiry")
    memory = size(found.memory)
    if found.memory is None and found.memory_note:
        memory += f" ({found.memory_note})"
    grid.add_row("memory", text(memory))
    tags = ", ".join(found.tags) if found.tags else "-"
    if found.tags_searched is not None:  # the search stopped: say so rather than imply none
        tags += f" (tag sets searched among the first ~{found.tags_searched:,} keys only)"
    grid.add_row("tags", text(tags))
    if found.length is not None:
        grid.add_row("items", f"{number(found.length)} (first {_shown(found.value)} shown)")
    if found.type == "string":
        grid.add_row("codec", text(found.codec))  # as `keys` names it
    encoding = found.encoding
    if encoding is not None:
        grid.add_row("format", "cachectl" if encoding.format == "cachectl" else "not cachectl's")
        grid.add_row("serializer", encoding.serializer)
        grid.add_row("compression", encoding.compression)
        sizes = f"{size(encoding.stored_size)} stored"
        if encoding.payload_size is not None:
            sizes += f", {size(encoding.payload_size)} decoded"
        if encoding.ratio is not None:
            sizes += f" (ratio {encoding.ratio:.2f})"
        grid.add_row("size", sizes)
        if encoding.fresh_until_ms is not None:
            left = encoding.fresh_until_ms / 1000 - time.time()
            grid.add_row("fresh for", duration(left) if left > 0 else "stale (being refreshed)")
    console = out()
    console.print(grid)
    console.print()
    serializer = encoding.serializer if encoding is not None else None
    if found.raw is not None:
        stream(hexdump_lines(found.raw, len(found.raw), total=found.size))
    elif found.error is not None:
        console.print(text(f"corrupt value: {found.error}", style="bold red"))
        stream(hexdump_lines(found.head, total=found.size))
    elif serializer in ("binary", "pickle") and isinstance(found.value, bytes):
        if serializer == "pickle":
            console.print(Text("a pickle: shown, never unpickled (that would run its code)"))
        total = len(found.value) + found.left_out.get("bytes", 0)
        stream(hexdump_lines(found.value, len(found.value), total=total))
    elif serializer == "text":
        stream([str(found.value)])
    elif serializer == "json":
        stream([json.dumps(jsonable(found.value), indent=2, ensure_ascii=False)])
    else:
        # Never cut by Rich: clip() bounded the value and wrote its own markers.
        console.print(Pretty(found.value, max_length=None, max_string=None, indent_guides=True))
    omitted = found.left_out
    if omitted and found.raw is None and serializer not in ("binary", "pickle"):
        parts = [count(omitted[unit], f"more {unit[:-1]}") for unit in UNITS if omitted.get(unit)]
        console.print(Text(f"(value shortened: {', '.join(parts)} left out)"))


def stream(lines: Iterable[str]) -> None:
    """Lines of any length and number written to stdout as they come, made safe, in time
    linear in their size: never laid out by Rich (a hex dump of megabytes would take it
    minutes), so a terminal wraps them itself."""
    file = out().file if not plain(sys.stdout) else sys.stdout
    batch: list[str] = []
    size = 0
    for chunk in lines:
        batch.append(safe(chunk, newlines=True))
        size += len(chunk)
        if size >= 1 << 16:
            file.write("\n".join(batch) + "\n")
            batch, size = [], 0
    if batch:
        file.write("\n".join(batch) + "\n")
    file.flush()


def _shown(value: Any) -> int:
    """Items of a clipped collection shown, its '... N more items' marker aside."""
    if not isinstance(value, list | dict):
        return 0
    return sum(not isinstance(item, Omitted) for item in value)
