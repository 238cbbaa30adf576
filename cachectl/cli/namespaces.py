"""`cachectl namespaces`: the namespaces a server holds; and the hint for an empty namespace.

Printed as plain text (no Rich), the sentences wrapped at the output's width: every name shown
is a namespace found by cachectl.keys.namespace_of (letters, digits, '_', '.', '-' only), so
nothing here can carry markup or control characters; the URL, given by the user, is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cachectl.cli.common import JsonOption, connection, print_json, print_text

if TYPE_CHECKING:
    from cachectl.ops.connect import Connection
    from cachectl.ops.namespaces import Discovery, NamespaceInfo


def namespaces(
    ctx: typer.Context,
    sample: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=1,
            help="Keys classified per primary; past it key counts are estimated (shown '~').",
        ),
    ] = 10_000,
    json_output: JsonOption = False,
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
    if json_output:
        print_json(found.to_dict())
    else:
        print_text(render(found))


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
    return f"{ns.name} ({_count(ns.keys, exact)} keys)"


def hint_if_empty(conn: Connection, known_empty: bool = False) -> None:
    """On stderr, when the namespace holds nothing: the namespaces the server does hold.

    known_empty: the command has just seen every key of the namespace and found none.
    """
    import redis.exceptions

    from cachectl.ops.namespaces import discover, is_empty

    try:
        if conn.keys.raw or not (known_empty or is_empty(conn)):
            return
        found = discover(conn)
    except redis.exceptions.ResponseError:
        return  # a server that refuses SCAN or INFO to this user: the hint is only a hint
    if found.total == 0:
        return  # an empty database: nothing to point at (stats shows its key count)
    current = conn.keys.namespace
    # A namespace holding only bookkeeping (a flushed one's stats hash or audit log) is no
    # place to point at.
    others = [ns for ns in found.others(current) if ns.cachectl and ns.keys]
    text = f"cachectl: no keys in namespace {current!r}"
    if others:
        text += f"; did you mean --namespace {others[0].name}?"
        listed = ", ".join(_named(ns, found.exact) for ns in others[:5])
        more = f" and {len(others) - 5:,} more" if len(others) > 5 else ""
        text += f" Namespaces found: {listed}{more} (cachectl namespaces lists them)."
    else:
        text += (
            f", and no other cachectl namespace among {found.examined:,} keys examined "
            "(keys --no-namespace lists the keys of other programs)."
        )
    typer.echo(text, err=True)
