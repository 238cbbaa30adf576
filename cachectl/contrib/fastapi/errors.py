"""Library errors as HTTP errors: one table, as cli/app.py has for exit statuses."""

from __future__ import annotations

from fastapi import HTTPException, status

from cachectl.errors import BackendUnavailable, CheckFailed, ConfigError


def bad_request(exc: ConfigError | str) -> HTTPException:
    """A 422 (the status FastAPI gives invalid parameters) in the words of a request field."""
    # The command line's wording names options ('--prefix'); here they are request fields.
    text = str(exc).replace(" (use --all for every key)", "").replace("--", "")
    return HTTPException(422, text)


def http_error(exc: BaseException) -> HTTPException:
    """The HTTP form of a library error: Redis unreachable 503, bad input 422, a missing key
    404, anything else Redis refused 502."""
    if isinstance(exc, BackendUnavailable):
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))
    if isinstance(exc, ConfigError | ValueError):
        return bad_request(str(exc))
    if isinstance(exc, CheckFailed):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    return HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc))
