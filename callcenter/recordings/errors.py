"""Typed errors of the recordings package; each message is one sentence naming the recording or the key."""

from __future__ import annotations

from callcenter.errors import CallcenterError


class RecordingError(CallcenterError):
    """Base of every recordings error."""


class UnsafePathError(RecordingError):
    """A call id, extension or relative path would leave the recordings root (path traversal, R-116)."""


class RecordingNotFound(RecordingError):
    """No recording has this id or call id."""


class RecordingRefused(RecordingError):
    """A new recording was refused (disk below the free-space floor); nothing stored was touched."""


class AccessDenied(RecordingError):
    """The actor's role does not allow this action on this recording (R-111, R-112, R-82); the attempt is logged."""


class RetentionHold(RecordingError):
    """The retention floor or a legal hold still keeps this recording (R-107, R-88, R-110)."""


class LedgerError(RecordingError):
    """The access ledger cannot be appended to or read."""
