"""Errors the functions raise; `analytics_common.api` maps each to one HTTP status."""

from typing import Any


class ApiError(Exception):
    """An error whose message is safe to show to the caller."""

    status_code = 500

    def __init__(self, detail: str, log_context: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.log_context = log_context or {}  # names for the failure's log line, never values


class BadRequest(ApiError):
    """An invalid query parameter; `detail` names it."""

    status_code = 400


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class StoreUnavailable(ApiError):
    """A data store (or the secret store) could not be reached."""

    status_code = 503


class StoreTimeout(ApiError):
    """A data store did not answer within its time budget."""

    status_code = 504


class ConfigurationError(Exception):
    """The function is deployed without a setting it needs (a server fault, never shown)."""
