"""What a decorated function is: callable, with .key() and .invalidate() handles, bound to the
instance when it is a method."""

from __future__ import annotations

import functools
from typing import Any, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)


class CachedFunction(Protocol[P, R_co]):
    """A decorated function: call it, or ask for a call's key, or invalidate a call's entry."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The cache key (inside the namespace) of this call."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Remove this call's entry (a coroutine for async functions); returns 0 or 1."""
        ...


class CachedMethod:
    """A cached method: through an instance, .key and .invalidate are bound to it as well."""

    def __init__(self, wrapper: Any) -> None:
        functools.update_wrapper(self, wrapper, updated=())
        self._wrapper = wrapper

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapper(*args, **kwargs)

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of a call, self included in the arguments."""
        return str(self._wrapper.key(*args, **kwargs))

    def invalidate(self, *args: Any, **kwargs: Any) -> Any:
        """Remove a call's entry, self included in the arguments."""
        return self._wrapper.invalidate(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return BoundHandles(self._wrapper, instance)


class AsyncCachedMethod(CachedMethod):
    """A cached coroutine method: its __call__ is a coroutine function, as frameworks check."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self._wrapper(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return AsyncBoundHandles(self._wrapper, instance)


class BoundHandles:
    """A cached method bound to an instance (or a class, under @classmethod)."""

    def __init__(self, wrapper: Any, instance: Any) -> None:
        functools.update_wrapper(self, wrapper, updated=())
        self._wrapper = wrapper
        self.__self__ = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapper(self.__self__, *args, **kwargs)

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of this call."""
        return str(self._wrapper.key(self.__self__, *args, **kwargs))

    def invalidate(self, *args: Any, **kwargs: Any) -> Any:
        """Remove this call's entry."""
        return self._wrapper.invalidate(self.__self__, *args, **kwargs)


class AsyncBoundHandles(BoundHandles):
    """A cached coroutine method bound to an instance."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self._wrapper(self.__self__, *args, **kwargs)
