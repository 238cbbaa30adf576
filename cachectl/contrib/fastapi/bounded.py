"""Hostile request bodies and errors made small: the admin router's route class.

The router is mounted into someone else's application, so it cannot install app-level
exception handlers; FastAPI's own would answer a plain-text 500 for a body holding 1e400 or
NaN (its validation error cannot be JSON-encoded) and echo a whole body in a 422. Here every
route of the router reads its body through a bounded, strict request, and its errors leave as
small JSON documents {"detail": ...}:

- a body over MAX_BODY bytes: 413, read no further;
- nesting past MAX_DEPTH, bytes that are not JSON: 400;
- NaN, Infinity, a number beyond a float's range, a body or parameter of the wrong shape:
  422 naming at most MAX_ERRORS fields, never their input.

Every response of such a route, errors included, carries the route class's headers (API_HEADERS:
nosniff, and no-store, since answers hold cached values); errors are answered by the route
itself, so an application's own exception handlers cannot drop them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

#: Bytes a request body may hold (a flush naming 1,000 keys of about 1 KiB each fits).
MAX_BODY = 1 << 20
#: JSON nesting a body may have (the requests themselves nest two levels).
MAX_DEPTH = 16
#: Characters kept of an error message, and of each part of a field's location.
MAX_TEXT = 300
#: Validation errors reported in one response.
MAX_ERRORS = 10
#: Headers of every JSON answer: never sniffed as something else, never stored by a browser or
#: a proxy (an answer may hold a cached value).
API_HEADERS: Mapping[str, str] = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
#: A check run before the body is read (the router's token checks), given the request and the
#: route: raises HTTPException.
Guard = Callable[[Request, APIRoute], object]


class _Refused(ValueError):
    """A JSON value this router refuses."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: json.loads would make it inf
        raise _Refused("numbers must be finite")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"numbers must be finite ({name} is not JSON)")


def _depth_ok(value: Any) -> bool:
    """Whether value nests no deeper than MAX_DEPTH (walked without recursion)."""
    if not isinstance(value, dict | list):
        return True
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """text cut to limit characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strict_json(raw: bytes) -> Any:
    """The JSON document in raw; HTTPException 400 for anything but finite, shallow JSON."""
    try:
        value = json.loads(raw, parse_constant=_constant, parse_float=_finite)
    except RecursionError:
        raise HTTPException(400, f"the JSON body nests deeper than {MAX_DEPTH} levels") from None
    except _Refused as exc:
        # Valid syntax or not (NaN), a value out of bounds like any other: 422.
        raise HTTPException(422, f"the body is refused: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise HTTPException(400, clip(f"the body is not valid JSON: {message}")) from None
    if not _depth_ok(value):
        raise HTTPException(400, f"the JSON body nests deeper than {MAX_DEPTH} levels")
    return value


class BoundedRequest(Request):
    """A request whose body is read up to MAX_BODY bytes and parsed as strict JSON."""

    async def body(self) -> bytes:
        """The body, or HTTPException 413 as soon as it passes MAX_BODY bytes."""
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY:
                raise _too_large()
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    raise _too_large()
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body as strict JSON (see strict_json)."""
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


def _too_large() -> HTTPException:
    return HTTPException(413, f"the request body is over {MAX_BODY:,} bytes")


def _small_detail(detail: Any) -> Any:
    """An error's detail with every text clipped (a detail may quote a request field)."""
    if isinstance(detail, str):
        return clip(detail)
    if isinstance(detail, dict):
        return {clip(str(k)): _small_detail(v) for k, v in list(detail.items())[:MAX_ERRORS]}
    if isinstance(detail, list | tuple):
        return [_small_detail(v) for v in detail[:MAX_ERRORS]]
    if isinstance(detail, float) and not math.isfinite(detail):
        return str(detail)
    if detail is None or isinstance(detail, bool | int | float):
        return detail
    return clip(str(detail))


def validation_detail(errors: Any) -> list[dict[str, Any]]:
    """What was wrong, per field, without the input: at most MAX_ERRORS entries."""
    out: list[dict[str, Any]] = []
    for error in [e for e in errors if isinstance(e, dict)][:MAX_ERRORS]:
        loc = error.get("loc") or ()
        out.append(
            {
                "loc": [p if isinstance(p, int) else clip(str(p), 100) for p in loc][:MAX_DEPTH],
                "msg": clip(str(error.get("msg", "invalid"))),
                "type": clip(str(error.get("type", "invalid")), 100),
            }
        )
    return out


def error_response(
    status: int, detail: Any, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A small JSON error {"detail": ...}, every text in it clipped, never stored."""
    response = JSONResponse({"detail": _small_detail(detail)}, status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


class BoundedRoute(APIRoute):
    """An APIRoute reading its body through BoundedRequest and answering small JSON errors,
    every response with the class's headers.

    guard, when set on a subclass, runs before the body is read: a request without a valid
    token gets its 401/403 before a byte of its body is parsed.
    """

    guard: Guard | None = None
    #: Set on every response of the route, its errors included.
    response_headers: ClassVar[Mapping[str, str]] = API_HEADERS

    def get_route_handler(self) -> Handler:
        """FastAPI's handler, fed a bounded request, with its errors made small."""
        handler = super().get_route_handler()
        guard = type(self).guard
        headers = type(self).response_headers

        async def bounded(request: Request) -> Response:
            bounded_request = BoundedRequest(request.scope, request.receive)
            response: Response
            try:
                if guard is not None:
                    guard(bounded_request, self)
                response = await handler(bounded_request)
            except RequestValidationError as exc:
                response = error_response(422, validation_detail(exc.errors()))
            except StarletteHTTPException as exc:
                response = error_response(exc.status_code, exc.detail, exc.headers)
            for name, value in headers.items():
                response.headers.setdefault(name, value)
            return response

        return bounded

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The route, or its own 405 (with the headers) for a method it does not take."""
        if self.methods and scope.get("method") not in self.methods:
            allow = {"Allow": ", ".join(sorted(self.methods))}
            response = error_response(405, "method not allowed", {**self.response_headers, **allow})
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def route_class(
    guard: Guard | None, headers: Mapping[str, str] = API_HEADERS
) -> type[BoundedRoute]:
    """A BoundedRoute whose guard runs before any body is read, answering with headers."""
    return type(
        "GuardedRoute",
        (BoundedRoute,),
        {"guard": None if guard is None else staticmethod(guard), "response_headers": headers},
    )


__all__ = [
    "API_HEADERS",
    "MAX_BODY",
    "MAX_DEPTH",
    "BoundedRequest",
    "BoundedRoute",
    "error_response",
    "route_class",
    "strict_json",
]
