"""`cachectl flush`: delete a prefix, a glob, a tag, named keys or the whole namespace."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from cachectl.cli import common, options
from cachectl.cli.common import Declined, connection, examples, print_json
from cachectl.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from cachectl.ops.connect import Connection
    from cachectl.ops.flush import FlushResult
    from cachectl.ops.selection import Selection


#: Shown at the end of `cachectl flush --help`.
EXAMPLES = examples(
    "cachectl --namespace shop flush --prefix users --dry-run",
    "# In a script: no prompt, and refused (status 1) past 10,000 keys",
    "cachectl --namespace shop flush --tag product:7 --yes --max-keys 10000",
)


def flush(
    ctx: typer.Context,
    prefix: options.Prefix = None,
    pattern: options.Pattern = None,
    tag: options.Tag = None,
    key: Annotated[
        list[str] | None, options.option("KEY", "This key (repeat for several).")
    ] = None,
    everything: Annotated[
        bool,
        options.flag(
            "--all", "Every entry and tag of the namespace (its stats hash is kept); never FLUSHDB."
        ),
    ] = False,
    dry_run: Annotated[
        bool, options.flag("--dry-run", "Count and show some keys; delete nothing.")
    ] = False,
    yes: Annotated[
        bool, options.flag("--yes", "Do not ask; needed when stdin is not a terminal.", "-y")
    ] = False,
    max_keys: Annotated[
        int | None,
        options.count("Refuse (status 1) when more than N keys match; with --dry-run, say so.", 0),
    ] = None,
    rate: Annotated[
        float | None,
        options.option("KEYS_PER_SECOND", "Delete at most this many keys a second.", min=1.0),
    ] = None,
    allow_empty: options.AllowEmpty = False,
    json_output: options.Json = False,
) -> None:
    """Delete keys in batches (SCAN + UNLINK), counting and confirming first; audited.

    Prefixes are matched as literal text, whole segments only ('user' removes 'user' and
    'user:*', not 'username'). On a terminal the count is confirmed (declining deletes nothing,
    status 4), and a selection of the whole namespace (--all, --pattern '*') by typing the
    namespace's name; otherwise --yes is required. On a cluster every primary is scanned and
    batches are grouped by hash slot. Each flush that deletes keys is recorded in the
    namespace's audit log (the page's Audit view) with the OS user and host; a dry run, or a
    flush that found nothing to delete, records nothing.
    """
    from cachectl.keys import KeySpace
    from cachectl.ops import selection as sel
    from cachectl.ops.flush import FlushResult

    # What to act on is checked first: "choose what to act on" is the error to fix before
    # --yes matters. The namespace is all a selection needs of the connection.
    settings = ctx.find_object(common.Settings) or common.Settings()
    selection = sel.select(
        KeySpace(settings.config().namespace),
        prefix=prefix,
        pattern=pattern,
        tag=tag,
        keys=key or (),
        everything=everything,
    )
    if not (dry_run or yes or common.stdin_is_terminal()):
        raise ConfigError("refusing to flush without --yes: standard input is not a terminal")
    from cachectl.cli.namespaces import empty_namespace

    with connection(ctx) as conn:
        url = conn.config.display_url
        # Counting costs a scan: done when a decision or the progress bar's total needs it.
        total = sel.count(conn, selection) if dry_run or max_keys is not None or not yes else None
        refused = max_keys is not None and total is not None and total > max_keys
        if dry_run:
            sample = [conn.keys.app(k) for k in sel.sample(conn, selection)]
            _show_plan(selection, url, total or 0, sample, max_keys, json_output)
        if refused:
            # A dry run says so too, with the same status: it is how a script tests the limit.
            raise CheckFailed(
                f"{_keys(total)} match ({_label(selection)}), more than --max-keys {max_keys:,}; "
                "nothing was deleted"
            )
        if dry_run:
            empty = empty_namespace(conn, allow_empty, seen=bool(total))
            if empty is not None:
                raise empty
            return
        if total == 0:
            result = FlushResult(0, 0.0)
        else:
            question = f"Delete {_keys(total)} ({_label(selection)}) on {url}?"
            if not yes and not _confirm(question, selection, conn.keys.namespace):
                raise Declined("not confirmed; nothing was deleted")
            result = _delete(conn, selection, rate, show_progress=not json_output, total=total)
        # Checked after: a namespace that holds nothing has nothing to delete either.
        empty = empty_namespace(conn, allow_empty, seen=result.removed > 0)
    if json_output:
        print_json(
            {
                "selection": selection.label,
                "url": url,
                "removed": result.removed,
                "seconds": round(result.seconds, 4),
            }
        )
    else:
        from cachectl.cli.flush_view import show_flushed

        show_flushed(result, selection)
    if empty is not None:
        raise empty


def _show_plan(
    selection: Selection,
    url: str,
    total: int,
    sample: list[bytes],
    max_keys: int | None,
    json_output: bool,
) -> None:
    if not json_output:
        from cachectl.cli.flush_view import show_plan

        show_plan(selection, url, total, sample, max_keys)
        return
    from cachectl.keys import display_name

    print_json(
        {
            "dry_run": True,
            "selection": selection.label,
            "url": url,
            "count": total,
            "max_keys": max_keys,
            "refused": max_keys is not None and total > max_keys,
            # Display text: bytes that are not UTF-8 appear as \\xNN (keys --json has key_hex).
            "sample": [display_name(k) for k in sample],
        }
    )


def _keys(n: int | None) -> str:
    from cachectl.cli.render import count

    return count(n or 0, "key")


def _label(selection: Selection) -> str:
    from cachectl.cli.render import name

    return name(selection.label)


def _confirm(question: str, selection: Selection, namespace: str) -> bool:
    from cachectl.cli.flush_view import confirm, confirm_typed

    if selection.whole:
        # A whole namespace is not confirmed by habit: its name is typed, as on the page.
        return confirm_typed(
            f"{question} This is the whole namespace: type its name ({namespace}) to confirm",
            namespace,
        )
    return confirm(question)


def _delete(
    conn: Connection,
    selection: Selection,
    rate: float | None,
    show_progress: bool,
    total: int | None,
) -> FlushResult:
    if not show_progress:
        return _run(conn, selection, rate, lambda n: None)
    from cachectl.cli.flush_view import progress

    with progress(total, show=True) as tick:
        return _run(conn, selection, rate, tick)


def _run(
    conn: Connection, selection: Selection, rate: float | None, tick: Callable[[int], None]
) -> FlushResult:
    from cachectl.ops.audit import cli_actor
    from cachectl.ops.flush import flush

    removed = 0

    def advance(n: int) -> None:
        nonlocal removed
        removed += n
        tick(n)

    try:
        # ops.flush.flush records it in the namespace's audit log, as the page's flush is.
        return flush(conn, selection, cli_actor(), on_batch=advance, rate=rate)
    except KeyboardInterrupt:
        typer.echo(f"cachectl: interrupted after deleting {removed:,} keys", err=True)
        raise
