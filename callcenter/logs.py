"""structlog, configured once: JSON lines, ``call_id`` bound per call, caller numbers masked.

Masking is one processor in the chain (STYLE.md §4): any value under a caller-number key, and any run of 7
or more digits inside a string, keeps its first 3 and last 4 digits and loses the rest
(``13812345678`` → ``138****5678``), so no log line carries a full caller number.
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
_DIGIT_RUN = re.compile(r"(?<!\d)(\+?\d{3})(\d{0,})(\d{4})(?!\d)")


def mask_number(value: str) -> str:
    """Mask every run of 7+ digits in ``value``; shorter runs (extensions, ring counts) stay readable."""

    def repl(m: re.Match[str]) -> str:
        head, middle, tail = m.group(1), m.group(2), m.group(3)
        digits = len(head.lstrip("+")) + len(middle) + len(tail)
        if digits < 7:
            return m.group(0)
        return f"{head}{'*' * len(middle)}{tail}"

    return _DIGIT_RUN.sub(repl, value)


def mask_caller_numbers(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if isinstance(value, str):
            if key in NUMBER_KEYS and value.isdigit() and len(value) < 7:
                event[key] = "*" * len(value)
            else:
                event[key] = mask_number(value)
        elif isinstance(value, int) and key in NUMBER_KEYS:
            event[key] = mask_number(str(value))
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
