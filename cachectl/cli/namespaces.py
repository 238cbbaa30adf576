"""`cachectl namespaces`: the namespaces a server holds; and the check that a command's
namespace holds something, with its hint at the nearest names.

Printed as plain text (no Rich), the sentences wrapped at the output's width: every name shown
is a namespace found by cachectl.keys.namespace_of (letters, digits, '_', '.', '-' only), so
nothing here can carry markup or control characters; the URL, given by the user, is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cachectl.cli import options
from cachectl.cli.common import EmptyNamespace, connection, examples, print_text, show

if TYPE_CHECKING:
    from cachectl.ops.connect import Connection
    from cachectl.ops.namespaces import Discovery, NamespaceInfo


#: Shown at the end of `cachectl namespaces --help`.
EXAMPLES = examples(
    "cachectl --url redis://localhost:6379/0 namespaces",
    "cachectl namespaces --sample 100000 --json",
)


def namespaces(
    ctx: typer.Context,
    sample: Annotated[
        int,
        options.count("Keys classified per primary; past it key counts are estimated (shown '~')."),
    ] = 10_000,
    json_output: options.Json = False,
) -> None:
    """List the namespaces present on the server, with their key counts.

    Found from the published stats hashes ('<namespace>#stats') and a SCAN sample of up to
    --sample keys per primary: counts are exact when the sample covers the database, else
    estimated from the share examined and marked '~'. Keys of no namespace are counted as
    foreign; `keys --no-namespace` and `inspect --no-namespace` read them.
    """
    from cachectl.ops.namespaces import discover

    with connection(ctx) as conn:
        found = discover(conn, sample=sample)
    show(found, json_output, lambda drawn: print_text(render(drawn)))


def _count(n: int, exact: bool) -> str:
    return f"{n:,}" if exact else f"~{n:,}"


def render(found: Discovery) -> str:
    """The discovery as an aligned plain-text table."""
    from cachectl.cli.render import name, prose

    exact = found.exact
    head = prose(
        f"Namespaces on {name(found.url)}: "
        + (
            f"every key examined ({found.total:,})"
            if exact
            else f"counts estimated from {found.examined:,} of {found.total:,} keys (~)"
        )
    )
    if not found.namespaces:
        return head + prose("No cachectl namespace found.") + _foreign(found)
    rows = [("namespace", "keys", "tags", "stats", "cachectl")]
    for ns in found.namespaces:
        rows.append(
            (
                ns.name,
                _count(ns.keys, exact),
                _count(ns.tags, exact),
                "published" if ns.stats else "-",
                "yes" if ns.cachectl else "no",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            [
                row[0].ljust(widths[0]),
                row[1].rjust(widths[1]),
                row[2].rjust(widths[2]),
                row[3].ljust(widths[3]),
                row[4],
            ]
        )
        for row in rows
    ]
    note = ""
    if any(not ns.cachectl for ns in found.namespaces):
        note = prose(
            "cachectl 'no': no stats hash, tag or sampled value in cachectl's format "
            "(probably another program's keys)."
        )
    return head + "\n".join(lines) + "\n" + note + _foreign(found)


def _foreign(found: Discovery) -> str:
    if not found.foreign:
        return ""
    from cachectl.cli.render import prose

    return prose(
        f"{_count(found.foreign, found.exact)} keys belong to no namespace "
        "(keys --no-namespace lists them)."
    )


def _named(ns: NamespaceInfo, exact: bool) -> str:
    from cachectl.cli.render import name

    keys = "key" if ns.keys == 1 else "keys"
    return f"{name(ns.name, NAME_CELLS)} ({_count(ns.keys, exact)} {keys})"


#: Cells of a namespace's name in the hint: five of them fit the one error line.
NAME_CELLS = 40


def empty_namespace(
    conn: Connection, allow_empty: bool, seen: bool = False
) -> EmptyNamespace | None:
    """The error to raise (exit status 5) when the namespace holds nothing of cachectl's,
    naming the namespaces the server does hold, the nearest names first; None when it holds
    something, or with --allow-empty. The command raises it once its output is printed.

    seen: the command found a key of the namespace, which settles it (no check is made).
    """
    from cachectl.ops.namespaces import holds_anything

    if allow_empty or seen or conn.keys.raw or holds_anything(conn):
        return None
    return EmptyNamespace(_hint(conn))


def _hint(conn: Connection) -> str:
    import redis.exceptions

    from cachectl.cli.render import name
    from cachectl.ops.namespaces import discover, nearest

    current = conn.keys.namespace
    text = f"namespace {name(current, NAME_CELLS)!r} holds no entries, stats or tags"
    allow = "; --allow-empty accepts an empty namespace"
    try:
        found = discover(conn)
    except redis.exceptions.ResponseError:
        return text + allow  # a server that refuses SCAN or INFO to this user
    if found.total == 0:
        return text + "; the database holds no keys at all" + allow
    # Near names are any that hold something of cachectl's (a flushed namespace keeps its
    # stats); a name that is far off is suggested for its entries alone, and an audit log is
    # no reason to point anywhere.
    held = [ns for ns in found.others(current) if ns.cachectl and (ns.keys or ns.tags or ns.stats)]
    close, far = nearest(current, held)
    far = [ns for ns in far if ns.keys]
    if not close and not far:
        return (
            text + f", and no other cachectl namespace among {found.examined:,} keys "
            "examined (keys --no-namespace lists the keys of other programs)" + allow
        )
    # No name near enough to be a typo: the biggest, as for a --namespace forgotten.
    meant = [ns.name for ns in close[:3]] or [far[0].name]
    shown = " or ".join(f"--namespace {name(n, NAME_CELLS)}" for n in meant)
    ordered = close + far
    listed = ", ".join(_named(ns, found.exact) for ns in ordered[:5])
    more = f" and {len(ordered) - 5:,} more" if len(ordered) > 5 else ""
    return (
        f"{text}; did you mean {shown}? Namespaces found: {listed}{more} "
        f"(cachectl namespaces lists them){allow}"
    )
