"""Typed errors of the ARI adapter; each names the request, the call or the setting involved."""

from __future__ import annotations

from callcenter.errors import CallcenterError


class AriError(CallcenterError):
    """Base of every ARI adapter error."""


class AriRequestError(AriError):
    """Asterisk answered a REST request with an error status (404 channel gone, 409 not in Stasis …)."""

    def __init__(self, method: str, uri: str, status: int, message: str) -> None:
        super().__init__(f"ARI {method} {uri} failed: {status} {message}")
        self.method, self.uri, self.status, self.message = method, uri, status, message


class AriConnectionLost(AriError):
    """The events websocket closed before a request sent over it was answered; it may or may not have run."""


class AriUnavailable(AriError):
    """Asterisk could not be reached (no websocket, HTTP refused or 503) within the request deadline."""
