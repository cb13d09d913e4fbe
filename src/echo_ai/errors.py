"""Domain errors. Every layer (CLI, API) turns them into a clear message, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    headers: Mapping[str, str] = {}
    """Extra response headers over HTTP (``Retry-After``, ``WWW-Authenticate``...)."""

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if headers is not None:
            self.headers = dict(headers)


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
