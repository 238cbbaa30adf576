"""`cachectl ui`: the Cache Management page and its API for one cache, on 127.0.0.1 only."""

from __future__ import annotations

import json
import secrets
import signal
import socket
from typing import Annotated, Any

import typer

from cachectl.cli import options
from cachectl.cli.common import Settings, examples
from cachectl.errors import ConfigError


def _check_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"cachectl ui needs the fastapi extra ({exc.name} is missing): "
            "pip install 'cachectl-redis[fastapi]'"
        ) from None


def _listen(port: int) -> socket.socket:
    from cachectl.contrib.fastapi.loopback import listening

    try:
        return listening(port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def _serve_until_stopped(server: Any, sock: socket.socket) -> None:
    """Run uvicorn until SIGINT or SIGTERM; the signal is the normal way out, not an error.

    uvicorn shuts down gracefully on either, then raises the signal again for the previous
    handler: a handler that only notes it makes Ctrl-C end with status 0, as stats --watch.
    """
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in stops}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def build_app(cache: Any, token: str, read_only_token: str, port: int) -> Any:
    """The application `cachectl ui` serves on 127.0.0.1:port: the admin router at the root, no
    docs, behind a Host check (only this server's own address; DNS rebinding)."""
    from fastapi import FastAPI

    from cachectl.contrib.fastapi import admin_router
    from cachectl.contrib.fastapi.loopback import LoopbackOnly

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(admin_router(cache, token=token, read_only_token=read_only_token))
    return LoopbackOnly(app, port)


#: Shown at the end of `cachectl ui --help`.
EXAMPLES = examples(
    "cachectl --url redis://localhost:6379/0 --namespace shop ui --port 8081",
    "cachectl --namespace shop ui --read-only",
)


def ui(
    ctx: typer.Context,
    port: Annotated[
        int, options.option("PORT", "Port on 127.0.0.1; 0 picks a free one.", min=0, max=65535)
    ] = 0,
    read_only: Annotated[
        bool,
        options.flag(
            "--read-only",
            "Print a read-only token (it sees everything and changes nothing) instead of an "
            "admin one.",
        ),
    ] = False,
    json_output: options.Json = False,
) -> None:
    """Serve the Cache Management page for --url/--namespace on 127.0.0.1 until Ctrl-C.

    Prints the page's address and a random token made for this process (admin, or read-only
    with --read-only); paste the token into the page. The token goes in an Authorization
    header, never in a URL or a cookie, and dies with the process. Opens no browser, listens
    on 127.0.0.1 only, answers only requests addressed to 127.0.0.1:PORT or localhost:PORT,
    and records the connecting address in the audit log (no forwarded header is trusted).
    Needs the fastapi extra: pip install 'cachectl-redis[fastapi]'.
    With --json, the address, role and token as one JSON line on stdout.
    """
    _check_extra()
    from cachectl.contrib.fastapi.loopback import uvicorn_server
    from cachectl.ops.latency import cache_for

    settings = ctx.find_object(Settings) or Settings()
    config = settings.config()
    admin, viewer = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    cache = cache_for(config)
    try:
        cache.ping()  # unreachable or refused: the usual one-line error and status 3, now
        sock = _listen(port)
        try:
            port = sock.getsockname()[1]
            address = f"http://127.0.0.1:{port}/"
            role, token = ("read-only", viewer) if read_only else ("admin", admin)
            if json_output:
                typer.echo(json.dumps({"url": address, "role": role, "token": token}))
            else:
                typer.echo(f"Cache Management page for {config.display_url}: {address}")
                typer.echo(f"{role.capitalize()} token (valid until this process stops): {token}")
                typer.echo("Press Ctrl-C to stop.")
            _serve_until_stopped(uvicorn_server(build_app(cache, admin, viewer, port)), sock)
        finally:
            sock.close()
    finally:
        cache.close()
    if not json_output:
        typer.echo("Stopped.", err=True)
