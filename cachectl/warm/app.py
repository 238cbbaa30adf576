"""An ASGI application warmed in process: import it from 'module:attr' and run its lifespan.

httpx.ASGITransport sends no lifespan events, so startup and shutdown are driven here with
the ASGI lifespan protocol (any framework, not only Starlette), as uvicorn does.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, cast

from cachectl.errors import BackendUnavailable, ConfigError

ABANDON_AFTER = 5.0  # seconds a cancelled application task is waited for, at most

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_app(spec: str, factory: bool | None = None) -> ASGIApp:
    """The ASGI app named by 'module:attr' (attr may be dotted), or made by the factory named.

    As uvicorn's --factory, but detected when `factory` is None: a callable that takes no
    argument is a factory, one that takes (scope, receive, send) an application. Every
    problem (import, attribute, a factory that fails, something that is neither) is ConfigError.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"--app must look like 'module:attribute', not {spec!r}")
    # As uvicorn does: modules in the current directory are importable.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise ConfigError(f"--app {spec}: no module named {exc.name!r}") from None
        raise ConfigError(
            f"--app {spec}: importing {module_name} failed: {_one_line(exc)}"
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"--app {spec}: importing {module_name} failed: {_one_line(exc)}"
        ) from None
    app: object = module
    for part in attribute.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise ConfigError(
                f"--app {spec}: {module_name} has no attribute {attribute!r}"
            ) from None
    if not callable(app):
        raise ConfigError(
            f"--app {spec}: {attribute} is not an ASGI app (not callable: {type(app).__name__})"
        )
    kind = _kind(app)
    if factory is None:
        factory = kind == "factory"
    if factory:
        if kind not in ("factory", "unknown"):
            raise ConfigError(
                f"--app {spec}: {attribute} is not a factory callable without arguments"
            )
        try:
            app = app()
        except Exception as exc:
            raise ConfigError(
                f"--app {spec}: the factory {attribute}() failed: {_one_line(exc)}"
            ) from None
        if not callable(app) or _kind(app) not in ("app", "unknown"):
            raise ConfigError(
                f"--app {spec}: the factory {attribute}() returned "
                f"{type(app).__name__}, not an ASGI application"
            )
    elif kind not in ("app", "unknown"):
        raise ConfigError(
            f"--app {spec}: {attribute} is neither an ASGI application (scope, receive, send) "
            "nor a factory callable without arguments"
        )
    return cast(ASGIApp, app)


def _kind(target: object) -> str:
    """'app' when it can be called with (scope, receive, send), 'factory' with nothing,
    'neither', or 'unknown' when its signature cannot be read (then it is taken at its word)."""
    try:
        signature = inspect.signature(target)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unknown"
    required = most = 0
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            most = 3
        elif parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            most += 1
            required += parameter.default is parameter.empty
        elif parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            return "neither"
    if required <= 3 <= most:
        return "app"
    return "factory" if required == 0 else "neither"


def _with_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    """The app with the lifespan state copied into each request's scope, as ASGI servers do."""

    async def app_with_state(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        scope["state"] = state.copy()
        await app(scope, receive, send)

    return app_with_state


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp, name: str) -> AsyncIterator[ASGIApp]:
    """Run the app's startup, yield the app to serve requests with, then run its shutdown.

    An app that does not speak the lifespan protocol is served as it is. A failed startup
    raises BackendUnavailable: the application cannot serve.
    """
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}

    async def send(message: Message) -> None:
        await from_app.put(message)

    task = asyncio.ensure_future(app(scope, to_app.get, send))
    try:
        await to_app.put({"type": "lifespan.startup"})
        reply = await _reply(task, from_app)
        if reply is None:  # the app does not support lifespan
            yield app
            return
        if reply["type"] == "lifespan.startup.failed":
            detail = str(reply.get("message") or "").strip().splitlines()
            raise BackendUnavailable(
                f"--app {name}: startup failed" + (f": {detail[-1]}" if detail else "")
            )
        try:
            yield _with_state(app, state) if state else app
        finally:
            await to_app.put({"type": "lifespan.shutdown"})
            await _reply(task, from_app)
    finally:
        if not task.done():
            task.cancel()
            # An app that ignores its cancellation is left behind rather than hold the run,
            # and Ctrl-C, forever.
            await asyncio.wait({task}, timeout=ABANDON_AFTER)
        if task.done() and not task.cancelled():
            # Retrieved, not raised: an error of the app's shutdown is not the warm run's.
            task.exception()


async def _reply(task: asyncio.Future[None], from_app: asyncio.Queue[Message]) -> Message | None:
    """The app's next lifespan message, or None when the app returned or raised instead."""
    getter = asyncio.ensure_future(from_app.get())
    waiting: set[asyncio.Future[Any]] = {task, getter}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        return getter.result()
    getter.cancel()
    return None
