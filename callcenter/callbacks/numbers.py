"""Which numbers the centre can dial back: digits only (an optional leading +), 3 to 20 of them.

Anonymous and withheld callers (``anonymous``, ``unknown``, ``private``, empty) and numbers with letters or
too few digits cannot be called back; the sources count them as skipped (with the reason) instead.
"""

from __future__ import annotations

import re

from callcenter.callbacks.errors import NotDialableError

_DIALABLE = re.compile(r"^\+?[0-9]{3,20}$")
_SEPARATORS = re.compile(r"[\s\-()]")
WITHHELD = frozenset({"", "anonymous", "unknown", "private", "restricted", "unavailable", "asterisk"})


def normalise(number: str | None) -> str:
    """The number with spaces, dashes and brackets removed (``010-8888 1234`` → ``01088881234``)."""
    return _SEPARATORS.sub("", (number or "").strip())


def withheld(number: str | None) -> bool:
    return normalise(number).lower() in WITHHELD


def check_dialable(number: str | None) -> str:
    """The normalised number, or :class:`NotDialableError` (reason ``withheld`` or ``bad_number``)."""
    value = normalise(number)
    if value.lower() in WITHHELD:
        raise NotDialableError("the caller's number was withheld: it cannot be called back", "withheld")
    if not _DIALABLE.match(value):
        raise NotDialableError(f"number {value[:32]!r}: expected 3 to 20 digits, optionally after +", "bad_number")
    return value
