"""The Cache Management page: one HTML shell and its static assets, served by the admin router.

The shell needs no token (it asks for one and sends it as a bearer header to the JSON API).
Every response carries a strict Content-Security-Policy: no inline script or style, no other
host, no framing, so a key or value that slipped into the page as markup still could not run;
X-Frame-Options says "no framing" again to browsers that ignore frame-ancestors.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from cachectl.contrib.fastapi.bounded import route_class

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
#: The only files served: name -> media type. Nothing else in the package is reachable.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


@cache
def _read(name: str) -> bytes:
    return files("cachectl.contrib").joinpath("static", name).read_bytes()


def _respond(name: str, media_type: str) -> Response:
    return Response(_read(name), media_type=media_type, headers=HEADERS)


def page_router() -> APIRouter:
    """GET / (the page) and GET /static/<asset>, without authentication."""
    router = APIRouter(
        tags=["cache page"], include_in_schema=False, route_class=route_class(None, HEADERS)
    )

    @router.get("/")
    async def page() -> Response:
        return _respond("index.html", "text/html; charset=utf-8")

    @router.get("/static/{name}")
    async def asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise HTTPException(404, "no such asset")
        return _respond(name, media_type)

    return router


def with_page(api: APIRouter) -> APIRouter:
    """The page's routes (open) next to api (behind its own token checks), as one router."""
    outer = APIRouter()
    outer.include_router(page_router())
    outer.include_router(api)
    return outer


__all__ = ["CSP", "HEADERS", "page_router", "with_page"]
