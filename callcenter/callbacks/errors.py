"""The callbacks package's errors: each one sentence for the CLI (exit 2) and the panel (400)."""

from __future__ import annotations

from callcenter.errors import CallcenterError


class CallbackError(CallcenterError):
    """A bad input to the callbacks package (unknown campaign, bad hours, bad number …)."""


class NotDialableError(CallbackError):
    """A task that must not be dialled now: order reopened or deleted, do-not-call, no hours left, bad number.

    ``reason`` is the short code stored on the task when it is skipped (``skip_reason``).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class LeaseError(CallbackError):
    """An attempt reported by a holder that no longer holds the task (its lease expired and another claimed it)."""
