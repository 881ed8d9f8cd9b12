"""The scheduled reports of R-130: daily by 09:00 for the previous day (00:00-24:00), monthly by the 10th for
the natural month, quarterly by the 10th of January, April, July and October for the previous quarter.

``callcenter serve`` runs :func:`run_report_scheduler` as a task. Each report is produced once, a little
after its period ends (``metrics.report_delay_minutes``, so calls that crossed midnight have ended and been
flushed), into ``metrics.reports_directory/<kind>/<year>/`` named as R-130 says — template name with the
date: ``20261122话务日报``, ``20261101-1130话务月报``, ``20261001-1231话务季报`` — as HTML and JSON, with the
agents' time in each state per day as CSV beside them. A report
whose files exist is never produced again, across restarts and across processes sharing the folder (an
exclusive lock file guards the writing). The clock and the sleep are injected, so tests drive time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.metrics.report import FROM_TICKETS_SERVICE, TicketSources, build_report, write_report
from callcenter.metrics.windows import Window

log = get_logger(__name__)

KINDS = ("daily", "monthly", "quarterly")
TEMPLATE_NAMES = {"daily": "话务日报", "monthly": "话务月报", "quarterly": "话务季报"}
# daily by 09:00 the next day; monthly and quarterly before the 10th of the next month.
DAILY_DEADLINE_HOUR = 9
MONTHLY_DEADLINE_DAY = 10
# A lock older than this was left by a crashed writer and may be taken over.
STALE_LOCK_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    kind: str
    first_day: date
    last_day: date  # inclusive

    def window(self, tz: tzinfo) -> Window:
        start = datetime(self.first_day.year, self.first_day.month, self.first_day.day, tzinfo=tz)
        after = self.last_day + timedelta(days=1)
        return Window(start, datetime(after.year, after.month, after.day, tzinfo=tz))

    def deadline(self, tz: tzinfo) -> datetime:
        after = self.last_day + timedelta(days=1)
        if self.kind == "daily":
            return datetime(after.year, after.month, after.day, DAILY_DEADLINE_HOUR, tzinfo=tz)
        return datetime(after.year, after.month, MONTHLY_DEADLINE_DAY, tzinfo=tz)

    @property
    def name(self) -> str:
        """R-130 naming: the date(s) then the template name (「20150601业务受理日报」, 「20150501-0531…月报」)."""
        if self.kind == "daily":
            return f"{self.first_day:%Y%m%d}{TEMPLATE_NAMES[self.kind]}"
        return f"{self.first_day:%Y%m%d}-{self.last_day:%m%d}{TEMPLATE_NAMES[self.kind]}"

    def path(self, directory: Path, suffix: str) -> Path:
        """Archived by category and date (R-130 「按照类别和日期分类」)."""
        return directory / self.kind / f"{self.first_day:%Y}" / f"{self.name}.{suffix}"


def _month_start(day: date) -> date:
    return day.replace(day=1)


def latest_periods(today: date) -> list[ReportPeriod]:
    """The most recent complete day, month and quarter before local ``today``."""
    yesterday = today - timedelta(days=1)
    month_end = _month_start(today) - timedelta(days=1)
    quarter_first_month = (today.month - 1) // 3 * 3 + 1
    quarter_end = today.replace(month=quarter_first_month, day=1) - timedelta(days=1)
    quarter_start = quarter_end.replace(month=(quarter_end.month - 1) // 3 * 3 + 1, day=1)
    return [
        ReportPeriod("daily", yesterday, yesterday),
        ReportPeriod("monthly", _month_start(month_end), month_end),
        ReportPeriod("quarterly", quarter_start, quarter_end),
    ]


def _take_lock(lock: Path) -> bool:
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        try:
            if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
                lock.unlink(missing_ok=True)
                return _take_lock(lock)
        except FileNotFoundError:
            return _take_lock(lock)
        return False


def produce_due_reports(
    settings: Settings,
    timeline: Timeline,
    now: datetime,
    *,
    ticket_sources: TicketSources | None = FROM_TICKETS_SERVICE,
) -> list[Path]:
    """Write every report whose period has ended (plus the delay) and which does not exist yet."""
    tz = settings.service.tz
    local_now = now.astimezone(tz)
    directory = settings.metrics.reports_directory
    delay = timedelta(minutes=settings.metrics.report_delay_minutes)
    written: list[Path] = []
    for period in latest_periods(local_now.date()):
        window = period.window(tz)
        done = period.path(directory, "json")  # written last: its presence means the report is complete
        if local_now < window.end + delay or done.exists():
            continue
        lock = period.path(directory, "lock")
        if not _take_lock(lock):
            continue  # another process is writing it
        try:
            if done.exists():
                continue
            report = build_report(
                settings, timeline, window, title=period.name, kind=period.kind, ticket_sources=ticket_sources,
                generated_at=now,
            )
            written.append(write_report(report, period.path(directory, "html"), "html"))
            written.append(write_report(report, period.path(directory, "csv"), "csv"))  # time in state per agent
            written.append(write_report(report, done, "json"))
        finally:
            lock.unlink(missing_ok=True)
        late = local_now > period.deadline(tz)
        log.info("metrics.report_written", report=period.name, kind=period.kind, late=late, path=str(done))
        if late:
            log.warning("metrics.report_late", report=period.name, deadline=period.deadline(tz).isoformat())
    return written


def next_check(now: datetime, settings: Settings, every: float) -> float:
    """Seconds to sleep: until the next period end plus delay, but at most ``every``."""
    tz = settings.service.tz
    local = now.astimezone(tz)
    tomorrow = local.date() + timedelta(days=1)
    due = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=tz)
    due += timedelta(minutes=settings.metrics.report_delay_minutes)
    today_due = due - timedelta(days=1)
    if local < today_due:
        due = today_due
    return max(1.0, min(every, (due - local).total_seconds()))


async def run_report_scheduler(
    settings: Settings,
    timeline: Timeline,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ticket_sources: TicketSources | None = FROM_TICKETS_SERVICE,
    check_every: float = 300.0,
    on_run: Callable[[datetime, datetime, str | None], object] | None = None,
) -> None:
    """Produce the scheduled reports forever; a failed report is logged and tried again at the next check.
    ``on_run(at, next_due, error)`` hears of every round (the health board's record, R-119)."""
    log.info("metrics.scheduler_started", directory=str(settings.metrics.reports_directory))
    while True:
        moment = now()
        error = None
        try:
            await asyncio.to_thread(produce_due_reports, settings, timeline, moment, ticket_sources=ticket_sources)
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            log.exception("metrics.report_failed")
        pause = next_check(moment, settings, check_every)
        if on_run is not None:
            on_run(moment, moment + timedelta(seconds=pause), error)
        await sleep(pause)
