"""What a forked child must not inherit: held locks, computations in flight, the parent's sockets.

Every object holding such state registers here when it is made; one os.register_at_fork hook
calls each live object's after_fork in the child, before any code of the child runs. Only the
forking thread exists in the child, so a lock another thread held at the fork would stay held
forever, and a computation another thread was running will never finish.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable
from typing import Any, Protocol


class ForkAware(Protocol):
    """An object with state to renew in a forked child."""

    def after_fork(self) -> None:
        """Called in the child: renew locks, forget the parent's work in progress."""


_live: weakref.WeakSet[Any] = weakref.WeakSet()
_hooks: list[Callable[[], None]] = []
#: Objects of the parent the child must never finalize (their destructors would act on the
#: parent's event loop or sockets, shared with the child); kept, never used.
_inherited: list[object] = []


def register(instance: ForkAware) -> None:
    """Call instance.after_fork() in every forked child, for as long as it lives."""
    _live.add(instance)


def on_fork(hook: Callable[[], None]) -> None:
    """Call a module-level hook in every forked child."""
    _hooks.append(hook)


def keep(*objects: object) -> None:
    """In a child: keep the parent's objects alive, unused, so no destructor ever runs."""
    if not _inherited:
        import ctypes

        # One reference no one releases, so that even the interpreter's shutdown in the child
        # never finalizes them: closing an inherited asyncio socket would unregister it from
        # the epoll instance the child shares with the parent, and the parent's loop would
        # stop hearing from it.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_inherited))
    _inherited.extend(objects)


def _after_fork_in_child() -> None:
    for hook in list(_hooks):
        with contextlib.suppress(Exception):  # one failure must not keep the others from a reset
            hook()
    for instance in list(_live):
        with contextlib.suppress(Exception):
            instance.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
