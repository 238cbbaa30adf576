"""Bearer tokens and roles. The admin token may do everything; the read-only token may read,
probe latency and plan a flush. The route class checks them before a byte of a body is read
(check), so a request without the token, or a change asked with the read-only token, is
refused with nothing of its body parsed.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.routing import APIRoute

from cachectl.ops import audit

Role = Literal["admin", "read-only"]


class Tokens:
    """The tokens of one router and the role each gives."""

    def __init__(self, token: str, read_only_token: str | None = None) -> None:
        if not token:
            raise ValueError("admin_router needs a non-empty token")
        if read_only_token is not None and (not read_only_token or read_only_token == token):
            raise ValueError("read_only_token must be non-empty and differ from the admin token")
        self._roles: list[tuple[bytes, Role]] = [(token.encode(), "admin")]
        if read_only_token:
            self._roles.append((read_only_token.encode(), "read-only"))

    def role_of(self, authorization: str) -> Role:
        """The role an Authorization header's bearer token gives: 401 without one, 403 for a
        token of no role."""
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found: Role | None = None
        for expected, role in self._roles:  # every token compared: the time says nothing
            if hmac.compare_digest(given.encode(), expected):
                found = role
        if found is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong token")
        return found


def check(tokens: Tokens, request: Request, route: APIRoute) -> None:
    """The request's role, kept on it; a 401 or 403 for a missing or wrong token, or for a
    change (a route with CHANGES) asked with the read-only token."""
    request.state.cachectl_role = tokens.role_of(request.headers.get("authorization", ""))
    if any(dep.dependency is admin_only for dep in route.dependencies):
        admin_only(request)


def role(request: Request) -> Role:
    """The role check() found for the request."""
    found: Role = request.state.cachectl_role
    return found


def admin_only(request: Request) -> None:
    """The dependency of the routes that change the cache: the admin token only."""
    if role(request) != "admin":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the read-only token cannot change the cache"
        )


#: The dependencies of a route that changes the cache.
CHANGES = [Depends(admin_only)]


def actor(request: Request) -> audit.Actor:
    """Who asked, for the audit log: the role and the client address the server gives."""
    address = request.client.host if request.client else None
    return audit.Actor("api", address=address, role=role(request))


#: A route's parameter for who asked.
Caller = Annotated[audit.Actor, Depends(actor)]
