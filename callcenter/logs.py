"""structlog, configured once: JSON lines, ``call_id`` bound per call, caller numbers masked.

Masking is one processor in the chain (docs/design.md "Habits"): a value under a caller-number key, and anything shaped
like a Chinese phone number inside any string (a mobile ``1[3-9]`` + 9 digits, a landline with its ``0`` area
code, either with ``+86``/``86``), keeps its first 3 and last 4 digits and loses the rest
(``13812345678`` → ``138****5678``), so no log line carries a full caller number. Other digit runs (dates
such as ``20261122``, call ids, durations) stay readable.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

NUMBER_KEYS = frozenset(
    {"caller", "caller_number", "callerid", "caller_id", "number", "phone", "agi_callerid", "callee", "msisdn"}
)
_ANY_DIGITS = re.compile(r"(?<!\d)(\+?\d{3})(\d*)(\d{4})(?!\d)")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)((?:\+?86)?(?:1[3-9]\d|0\d{2}))(\d{4,8})(\d{4})(?!\d)")


def _masked(m: re.Match[str]) -> str:
    return f"{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}"


def mask_number(value: str) -> str:
    """Mask every phone number in free text; dates, ids and counts stay readable."""
    return _PHONE_IN_TEXT.sub(_masked, value)


def _mask_number_value(value: str) -> str:
    """A value that IS a number (under a caller-number key): mask it whatever its shape."""
    digits = sum(c.isdigit() for c in value)
    if digits < 7:
        return "*" * len(value) if value.isdigit() else value
    return _ANY_DIGITS.sub(_masked, value)


def mask_caller_numbers(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key in NUMBER_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
            event[key] = _mask_number_value(str(value))
        elif isinstance(value, str):
            event[key] = mask_number(value)
    return event


_configured = False


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the moment of writing, not at configuration time, so a
    stream swapped later (pytest's capture, a daemon's redirect) never leaves the logger on a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", *, json: bool = True, stream: TextIO | None = None) -> None:
    """Set up structlog and the stdlib root logger once; later calls only change the level."""
    global _configured
    lvl = getattr(logging, level.upper())
    stream = stream or _CurrentStderr()  # type: ignore[assignment]
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_caller_numbers,
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    if not _configured:
        logging.basicConfig(stream=stream, level=lvl, format="%(message)s")
    logging.getLogger().setLevel(lvl)
    # Alembic and uvicorn narrate every step at INFO; their warnings still come through.
    for noisy in ("alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))
    _configured = True


def bind_call(call_id: str, **extra: Any) -> None:
    """Bind ``call_id`` (and any extras) to every log line of the current task; each call runs in its own task."""
    structlog.contextvars.bind_contextvars(call_id=call_id, **extra)


get_logger = structlog.get_logger
