"""Typed errors of the web layer; each is one sentence a person can act on."""

from __future__ import annotations

from callcenter.errors import CallcenterError


class WebError(CallcenterError):
    """Base of every web-layer error."""


class UserError(WebError):
    """A user account cannot be created or changed as asked (bad name, unknown role, duplicate)."""


class SignInFailed(WebError):
    """Wrong name or password, or an inactive account (the message never says which)."""


class CsrfRejected(WebError):
    """A state-changing request came without the session's CSRF token."""


class NotAllowed(WebError):
    """The signed-in user's role does not allow this page, API or recording."""


class BadRequest(WebError):
    """A form or API body is missing a field or has a value out of range; the message names the field."""


class CallNotLive(WebError):
    """The call is not (or no longer) live in this process, so nothing can be sent to it."""
