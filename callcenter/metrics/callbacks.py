"""The callback section of a report: the R-125 callback and satisfaction rates of complaints, R-126 completion
per level, and the day's attempts, reached customers and satisfaction answers (callcenter.callbacks.figures
defines each figure)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from callcenter.callbacks.figures import callback_figures
from callcenter.logs import get_logger
from callcenter.store import session_scope

log = get_logger(__name__)


def callbacks_unavailable(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason, "complaint_callback_rate": None,
            "complaint_satisfaction_rate": None, "complaints": {}, "levels": [], "kinds": [], "attempts": 0,
            "attempts_reached": 0, "results": {}, "satisfaction": {}, "skipped": {}, "unreached": {}}


def callback_section(database_url: str, start: datetime, end: datetime, tz: tzinfo) -> dict[str, Any]:
    """The figures of ``[start, end)``; ``available`` is False when the callbacks cannot be read."""
    try:
        with session_scope(database_url) as session:
            return callback_figures(session, start, end, tz).as_dict()
    except SQLAlchemyError as exc:
        # The call figures stand on their own; the report says why its callback part is missing.
        log.warning("metrics.callbacks_unavailable", error=type(exc).__name__)
        return callbacks_unavailable(f"callbacks could not be read ({type(exc).__name__})")
