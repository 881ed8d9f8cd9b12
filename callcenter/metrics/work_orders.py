"""Work-order SLA compliance (R-125) and callback completion and sampling (R-126) for a report window.

The tickets package owns the raw outcomes: ``callcenter.tickets.service.sla_outcomes(session, start, end)``
gives one outcome per work-order deadline falling due in the window (``deadline`` name, ``met``: True, False,
or None while still open and not yet due) and ``callback_stats(session, start, end)`` one row per callback
level (``level``, ``target_rate``, ``orders_closed``, ``due``, ``done``, ``sampling_rate``). This module
only aggregates them into the report's rows. Tests pass fakes with the same signatures.

Definitions:

- SLA compliance per deadline (R-125 「在规定时限内办结的投诉数量/应办结的总投诉数量」): deadlines met ÷
  deadlines decided (met or missed) × 100; deadlines still open and not yet due are shown as pending and
  left out of the rate.
- Callback completion per level (R-125 投诉回访率): callbacks done ÷ callbacks due × 100.
- Callback sampling per level (R-126: L1 100 %, L2 ≥ 10 %, L3 ≥ 5 %): callbacks due ÷ orders closed × 100,
  met when it reaches the level's floor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from callcenter.logs import get_logger
from callcenter.store import session_scope

log = get_logger(__name__)

TicketQuery = Callable[[Any, datetime, datetime], Any]


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


def sla_rows(outcomes: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per deadline name, in first-seen order: met, missed, pending, due (= met + missed), compliance."""
    rows: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        row = rows.setdefault(outcome.deadline, {"deadline": outcome.deadline, "met": 0, "missed": 0, "pending": 0})
        row["met" if outcome.met else "pending" if outcome.met is None else "missed"] += 1
    for row in rows.values():
        row["due"] = row["met"] + row["missed"]
        row["compliance"] = _rate(row["met"], row["due"])
    return list(rows.values())


def callback_rows(stats: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per callback level with its completion and sampling rates against the R-126 floor."""
    rows = []
    for stat in stats:
        sampling = _rate(stat.due, stat.orders_closed)
        target = round(100.0 * stat.target_rate, 2)
        rows.append(
            {
                "level": stat.level,
                "orders_closed": stat.orders_closed,
                "due": stat.due,
                "done": stat.done,
                "completion": _rate(stat.done, stat.due),
                "sampling": sampling,
                "sampling_target": target,
                "sampling_met": None if sampling is None else sampling >= target,
            }
        )
    return rows


def unavailable(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason, "sla": [], "callbacks": []}


def ticket_figures(
    database_url: str,
    start: datetime,
    end: datetime,
    *,
    sla_outcomes: TicketQuery | None = None,
    callback_stats: TicketQuery | None = None,
) -> dict[str, Any]:
    """SLA compliance and callback figures of ``[start, end)``; ``available`` is False when they cannot be read."""
    if sla_outcomes is None or callback_stats is None:
        from callcenter.tickets import service

        sla_outcomes = sla_outcomes or service.sla_outcomes
        callback_stats = callback_stats or service.callback_stats
    try:
        with session_scope(database_url) as session:
            outcomes = sla_outcomes(session, start, end)
            callbacks = callback_stats(session, start, end)
    except SQLAlchemyError as exc:
        # The call figures stand on their own; the report says why its work-order part is missing.
        log.warning("metrics.work_orders_unavailable", error=type(exc).__name__)
        return unavailable(f"work orders could not be read ({type(exc).__name__})")
    return {"available": True, "reason": "", "sla": sla_rows(outcomes), "callbacks": callback_rows(callbacks)}
