"""`cachectl inspect`: one key's decoded value, encoding, TTL and tags."""

from __future__ import annotations

from typing import Annotated

import typer

from cachectl.cli import options
from cachectl.cli.common import connection, examples, print_json, show
from cachectl.errors import CheckFailed, DecodeError

#: Shown at the end of `cachectl inspect --help`.
EXAMPLES = examples(
    "cachectl --namespace shop inspect users:42",
    "cachectl --namespace shop inspect users:42 --raw --max-bytes 256",
)


def inspect(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key as the application names it.")],
    raw: Annotated[
        bool, options.flag("--raw", "Show the stored bytes as a hex dump, undecoded.")
    ] = False,
    items: Annotated[int, options.count("Items shown of a hash, list, set, zset or stream.")] = 20,
    no_namespace: Annotated[
        bool,
        options.flag(
            "--no-namespace",
            "KEY is a full Redis key, outside any namespace (read-only; no tags shown).",
        ),
    ] = False,
    max_bytes: Annotated[
        int,
        options.count("Bytes of the value shown (raw bytes, text, strings together); 0: all.", 0),
    ] = 4096,
    allow_empty: options.AllowEmpty = False,
    json_output: options.Json = False,
) -> None:
    """Show a key's decoded value with its serializer, compression, TTL and tags.

    cachectl's own values are decoded from their header; other values as far as they go
    (gzip, zlib, zstd and LZ4 frames, then msgpack, JSON or text). A corrupt value is shown as
    a hex dump of its start and the exit status is 1. Values are shown up to --max-bytes
    ("... N more bytes"); a missing key is exit status 1, with --json an {"error": ...} document
    (5 when the namespace holds nothing of cachectl's, unless --allow-empty).
    With --no-namespace, KEY names a Redis key as it is (one written by another program,
    outside any namespace).
    """
    from cachectl.keys import RawKeySpace
    from cachectl.ops.inspect import inspect_key, named_key

    named_key(key)  # an empty KEY is a usage error before anything connects
    with connection(ctx) as conn:
        if no_namespace:
            conn.keys = RawKeySpace()
        try:
            found = inspect_key(conn, key, raw=raw, items=items, max_bytes=max_bytes)
        except CheckFailed as exc:
            if json_output:  # --json always prints a document, an error one included
                print_json({"key": key, "error": str(exc)})
            from cachectl.cli.namespaces import empty_namespace

            # Not found in a namespace that holds nothing: the namespace is the likelier typo.
            empty = empty_namespace(conn, allow_empty)
            if empty is not None:
                raise empty from None
            raise
    from cachectl.cli.inspect_view import show_inspection

    show(found, json_output, show_inspection)
    if found.error is not None:
        raise DecodeError(f"{key}: {found.error}")
