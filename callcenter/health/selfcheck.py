"""The daily self-check (R-119 「每天…检查,并作好登记」): at ``health.daily_check_at`` centre time the board is
checked and the result registered in ``health_checks``, one row per centre day.

A service started after the day's check time with no row for today checks at once (a restart catches up; it
never adds a second row: the day is unique in the table, so of two processes the second insert is dropped). A
red result is an alert: an ERROR log line and today's red row, which the supervisors' wallboard shows
(``callcenter/web/wallboard_pages.py``); when the database itself is what failed, the board keeps the result in
memory and the wallboard shows that. The clock and the sleep are injected, so tests run days in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from callcenter.config import Settings
from callcenter.health.board import HealthBoard
from callcenter.health.model import HealthReport, Status
from callcenter.health.models import HealthCheckRecord
from callcenter.health.registry import JobRecord
from callcenter.logs import get_logger
from callcenter.store import engine_for

log = get_logger(__name__)

# Sleep at most this long between looks at the clock (a clock set forward, or a day change, is seen soon).
MAX_SLEEP_SECONDS = 600.0
HISTORY_DAYS = 30


def check_time(settings: Settings) -> time:
    hours, minutes = settings.health.daily_check_at.split(":")
    return time(int(hours), int(minutes))


def due_at(day: date, settings: Settings) -> datetime:
    """The self-check instant of centre day ``day``."""
    return datetime.combine(day, check_time(settings), tzinfo=settings.service.tz)


def summary_of(report: HealthReport) -> str:
    red = report.red
    if not red:
        amber = [c for c in report.components if c.status is Status.AMBER]
        return "all green" if not amber else "; ".join(f"{c.name}: {c.reason}" for c in amber)[:500]
    return "; ".join(f"{c.name}: {c.reason}" for c in red)[:500]


def has_check(url: str, day: date) -> bool:
    with engine_for(url).connect() as conn:
        return conn.scalar(select(HealthCheckRecord.id).where(HealthCheckRecord.day == day)) is not None


def record_check(url: str, day: date, report: HealthReport) -> bool:
    """Register ``report`` as day ``day``'s check; False when that day already has its row."""
    row = {"day": day, "checked_at": report.checked_at.astimezone(UTC), "status": report.status.value,
           "summary": summary_of(report), "components": [c.as_dict() for c in report.components]}
    try:
        with engine_for(url).begin() as conn:
            conn.execute(insert(HealthCheckRecord), [row])
    except IntegrityError:
        return False
    return True


def recent_checks(url: str, today: date, days: int = HISTORY_DAYS) -> list[dict[str, Any]]:
    """The register of the last ``days`` centre days, newest first."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(select(HealthCheckRecord).where(HealthCheckRecord.day > today - timedelta(days=days))
                            .order_by(HealthCheckRecord.day.desc()))
        return [_as_dict(r) for r in rows]


def _as_dict(row: Any) -> dict[str, Any]:
    at = row.checked_at if row.checked_at.tzinfo else row.checked_at.replace(tzinfo=UTC)
    red = [c for c in row.components or [] if c.get("status") == Status.RED.value]
    return {"day": row.day.isoformat(), "checked_at": at.isoformat(), "status": row.status, "summary": row.summary,
            "red": [{"name": c.get("name"), "reason": c.get("reason")} for c in red]}


def todays_alert(url: str, today: date) -> dict[str, Any] | None:
    """Today's self-check when it was red (what the wallboard shows), else None."""
    with engine_for(url).connect() as conn:
        row = conn.execute(select(HealthCheckRecord).where(HealthCheckRecord.day == today,
                                                           HealthCheckRecord.status == Status.RED.value)).first()
    return _as_dict(row) if row is not None else None


def alert_of(report: HealthReport, day: date) -> dict[str, Any] | None:
    if report.status is not Status.RED:
        return None
    return {"day": day.isoformat(), "checked_at": report.checked_at.isoformat(), "status": report.status.value,
            "summary": summary_of(report), "red": [{"name": c.name, "reason": c.reason} for c in report.red]}


class SelfCheck:
    """The daily self-check of one process; :attr:`latest` is its last result (with the day it was for)."""

    def __init__(self, board: HealthBoard, settings: Settings, *, job: JobRecord | None = None) -> None:
        self.board = board
        self.settings = settings
        self.job = job
        self.latest: tuple[date, HealthReport] | None = None

    def alert(self, today: date) -> dict[str, Any] | None:
        """Today's red self-check: from the register, or from memory when the register cannot be read."""
        try:
            return todays_alert(self.settings.database.url, today)
        except Exception:
            if self.latest is not None and self.latest[0] == today:
                return alert_of(self.latest[1], today)
            return None

    async def run_once(self, day: date) -> HealthReport:
        report = await self.board.check()
        self.latest = (day, report)
        try:
            written = await asyncio.to_thread(record_check, self.settings.database.url, day, report)
        except Exception as exc:
            written = False
            log.error("health.self_check_not_registered", day=day.isoformat(), error=str(exc))
        if report.status is Status.RED:
            log.error("ALERT health self-check red", day=day.isoformat(), summary=summary_of(report))
        else:
            log.info("health.self_check", day=day.isoformat(), status=report.status.value, registered=written)
        return report

    async def run(self, now: Callable[[], datetime], sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
                  ) -> None:
        """Check once a day at the set time, forever (a task of ``callcenter serve``)."""
        tz = self.settings.service.tz
        url = self.settings.database.url
        while True:
            moment = now()
            today = moment.astimezone(tz).date()
            due = due_at(today, self.settings)
            if moment >= due:
                try:
                    done = await asyncio.to_thread(has_check, url, today)
                except Exception as exc:  # unreachable register: check anyway (the result says so), once a day
                    log.error("health.register_unreadable", error=str(exc))
                    done = self.latest is not None and self.latest[0] == today
                if not done:
                    await self.run_once(today)
                    if self.job is not None:
                        self.job.ran(moment, due_at(today + timedelta(days=1), self.settings))
                due = due_at(today + timedelta(days=1), self.settings)
            if self.job is not None:
                self.job.next_due = due
            await sleep(max(0.0, min(MAX_SLEEP_SECONDS, (due - moment).total_seconds())))
