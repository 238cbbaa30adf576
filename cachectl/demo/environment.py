"""Everything `cachectl demo` starts, and stops again: a Redis, the database, the application.

The Redis is a real `redis-server` on a free port when one is installed, else fakeredis's
in-process Redis-protocol server. Both are stopped on exit, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachectl.errors import CachectlError


@dataclass(frozen=True, slots=True)
class DemoEnvironment:
    """Where the demo's parts listen."""

    redis_url: str
    redis_kind: str  # "redis-server" or "fakeredis"
    app_url: str
    admin_token: str
    namespace: str
    db_path: Path
    workdir: Path

    @property
    def page_url(self) -> str:
        """The Cache Management page the shop mounts with cachectl's admin router."""
        return f"{self.app_url}/_cache/"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise CachectlError(f"{what} did not start listening on 127.0.0.1:{port}")


def wait_until_stopped() -> None:
    """Block until Ctrl-C or SIGTERM (from the main thread); either is a normal way out."""
    stop = threading.Event()
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in stops}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _redis_server(workdir: Path, use_server: bool) -> Iterator[tuple[str, str]]:
    port = free_port()
    binary = shutil.which("redis-server") if use_server else None
    if binary is not None:
        log = (workdir / "redis.log").open("wb")
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, time.monotonic() + 10, "redis-server")
            yield f"redis://127.0.0.1:{port}/0", "redis-server"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        return
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="demo-redis", daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{port}/0", "fakeredis"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def serve_asgi(app: Any, start_timeout: float = 60.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yield its URL."""
    from cachectl.contrib.fastapi.loopback import listening, uvicorn_server

    sock = listening()
    port = sock.getsockname()[1]
    server = uvicorn_server(app, lifespan="on")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise CachectlError("the application did not start listening")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def _application(
    redis_url: str, namespace: str, db_path: Path, token: str, slow_redis: bool
) -> Iterator[str]:
    from cachectl.demo.app import create_app

    # fakeredis answers from Python threads, and the demo shares a laptop's CPU with everything
    # it starts: more than the library's default tens of milliseconds, so that a newcomer sees
    # the cache, not the breaker (bench/bench_core.py measures the defaults).
    timeout = 1.0 if slow_redis else 0.25
    options = {"socket_timeout": timeout, "connect_timeout": timeout}
    app = create_app(
        cache_url=redis_url,
        namespace=namespace,
        db_path=db_path,
        admin_token=token,
        cache_options=options,
    )
    with serve_asgi(app) as url:
        yield url


@contextlib.contextmanager
def demo_environment(
    *, use_redis_server: bool = True, namespace: str = "shop", workdir: Path | None = None
) -> Iterator[DemoEnvironment]:
    """Start Redis, build the database and run the reference application; stop all on exit."""
    from cachectl.demo.db import ensure_database

    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="cachectl-demo-"))
            )
        redis_url, kind = stack.enter_context(_redis_server(workdir, use_redis_server))
        db_path = ensure_database(workdir / "shop.sqlite3")
        token = secrets.token_urlsafe(16)
        app_url = stack.enter_context(
            _application(redis_url, namespace, db_path, token, kind == "fakeredis")
        )
        yield DemoEnvironment(redis_url, kind, app_url, token, namespace, db_path, workdir)
