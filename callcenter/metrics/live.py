"""Live figures for the supervisor wallboard, from the same summaries and figures as the reports.

Two ways in, same answer:

- :func:`live_figures` ``(source, now, settings)`` — ``source`` is a :class:`~callcenter.calls.timeline.Timeline`
  (today's calls are read from it), a :class:`LiveBoard`, or any iterable of
  :class:`~callcenter.metrics.summary.CallSummary`;
- :class:`LiveBoard` — keeps today's summaries current from the centre's feed (``board.feed(event)`` for each
  event of :mod:`callcenter.calls.fanout`: every process's calls on PostgreSQL, so a wallboard shows the
  centre's figures whichever process serves it); it counts each ended call once, so a wallboard refresh
  tallies only the calls still in progress and reads no database. Call ``board.prune(before)`` at the day change.

The result is a plain, JSON-ready dict::

    {"now", "day", "calls_waiting", "longest_wait_seconds", "calls_ringing", "calls_in_progress",
     "calls_offered", "answer_rate", "service_level", "service_level_met", "within_three_rings",
     "abandon_rate", "silent_call_rate", "ring_to_answer_by_hour": [{"hour", "answered",
     "average_seconds_to_answer", "within_three_rings"}, …], "figures": {every figure of today}}

Rates are percentages, ``None`` when nothing was counted yet.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from callcenter.calls.rings import cadence
from callcenter.calls.timeline import Timeline, TimelineEvent
from callcenter.config import Settings
from callcenter.errors import CallcenterError
from callcenter.metrics.load import load_summaries
from callcenter.metrics.summary import FOLDED_TYPES, CallSummary, SummaryBuilder
from callcenter.metrics.windows import Breakdown, Cells, Window, assemble, breakdown, day_window

# A call still "waiting" after this long has lost its hang-up event; it is not shown as waiting forever.
STALE_CALL = timedelta(hours=4)


class LiveBoardError(CallcenterError):
    """live_figures was given something that is neither a timeline, a board nor call summaries."""


class LiveBoard:
    """Today's call summaries, kept current by feeding it the timeline's published events.

    A call that has hung up no longer changes, so the board counts it once, when its ``call.hangup``
    arrives, into tallies it keeps (:class:`~callcenter.metrics.windows.Cells`); a wallboard refresh then
    only tallies the calls still in progress. An event that still changes an ended call (a work order
    opened after the hang-up) takes the call's old count back and adds the new one.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.builder = SummaryBuilder(cadence(settings.telephony.ring_cadence))
        self.open: dict[str, CallSummary] = {}
        self.ended = self.empty_cells()
        self._oldest_ended: datetime | None = None

    def empty_cells(self) -> Cells:
        m = self.settings.metrics
        return Cells(self.settings.service.tz, m.service_level_seconds, m.service_level_target_percent)

    def feed(self, event: TimelineEvent) -> None:
        before = self.builder.calls.get(event.call_id)
        snapshot = None
        if before is not None and before.ended_at is not None and event.type in FOLDED_TYPES:
            snapshot = copy.copy(before)
            snapshot.agents_rung, snapshot.skipped_agents = list(before.agents_rung), list(before.skipped_agents)
        summary = self.builder.feed(event)
        if summary is None:
            return
        if snapshot is not None:
            self.ended.remove(snapshot)
            self.ended.add(summary)
        elif summary.ended_at is not None:
            self.open.pop(summary.call_id, None)
            self.ended.add(summary)
            if self._oldest_ended is None or summary.offered_at < self._oldest_ended:  # type: ignore[operator]
                self._oldest_ended = summary.offered_at
        else:
            self.open[summary.call_id] = summary

    def prune(self, before: datetime) -> int:
        """Forget ended calls offered before ``before`` (yesterday's calls at the day change)."""
        if self._oldest_ended is None or self._oldest_ended >= before:
            return 0  # the usual case on every refresh: nothing to do, and nothing scanned
        calls = self.builder.calls
        old = [k for k, s in calls.items() if s.ended_at is not None and s.offered_at and s.offered_at < before]
        for key in old:
            del calls[key]
        self.ended = self.empty_cells()
        ended = [s for s in calls.values() if s.ended_at is not None]
        for s in ended:
            self.ended.add(s)
        self._oldest_ended = min((s.offered_at for s in ended if s.offered_at), default=None)
        return len(old)

    def summaries(self) -> list[CallSummary]:
        return self.builder.summaries()


def _summaries(
    source: Timeline | LiveBoard | Iterable[CallSummary], now: datetime, settings: Settings
) -> list[CallSummary]:
    if isinstance(source, LiveBoard):
        return source.summaries()
    if isinstance(source, Timeline):
        today = day_window(now.astimezone(settings.service.tz).date(), settings.service.tz)
        # From before midnight too: a caller who joined the queue at 23:58 may still be waiting.
        window = Window(today.start - STALE_CALL, max(now, today.start) + timedelta(seconds=1))
        return load_summaries(source, window, cadence(settings.telephony.ring_cadence))
    if isinstance(source, Iterable) and not isinstance(source, str | bytes):
        return list(source)
    raise LiveBoardError(f"live_figures needs a Timeline, a LiveBoard or call summaries, not {type(source).__name__}")


def _today(
    source: Timeline | LiveBoard | Iterable[CallSummary], summaries: list[CallSummary], today: Window,
    settings: Settings,
) -> Breakdown:
    if not isinstance(source, LiveBoard):
        m = settings.metrics
        return breakdown(summaries, today, settings.service.tz, m.service_level_seconds,
                         m.service_level_target_percent)
    current = source.empty_cells()
    for s in source.open.values():
        if s.offered_at is not None and s.offered_at in today:
            current.add(s)
    return assemble((source.ended, current), current, hours=today)


def live_figures(
    source: Timeline | LiveBoard | Iterable[CallSummary], now: datetime, settings: Settings
) -> dict[str, Any]:
    """The wallboard's figures at ``now``: what is happening now, and today's section-7 figures so far."""
    if now.tzinfo is None:
        raise LiveBoardError("live_figures: now needs a time zone")
    summaries = [] if isinstance(source, LiveBoard) else _summaries(source, now, settings)
    tz = settings.service.tz
    today = day_window(now.astimezone(tz).date(), tz)
    in_progress = source.open.values() if isinstance(source, LiveBoard) else summaries
    waiting: list[float] = []
    ringing = talking = 0
    for s in in_progress:
        if s.ended_at is not None or s.offered_at is None or now - s.offered_at > STALE_CALL:
            continue
        if s.answered_at is not None:
            talking += 1
        elif s.queued:
            waiting.append((now - (s.queued_at or s.offered_at)).total_seconds())
            ringing += s.agent_ringing
    b = _today(source, summaries, today, settings)
    total = b.total.figures()
    by_hour = [
        {
            "hour": hour.strftime("%H:00"),
            "answered": (f := tally.figures())["answered_by_agents"],
            "average_seconds_to_answer": f["average_seconds_to_answer"],
            "within_three_rings": f["within_three_rings"],
        }
        for hour, tally in sorted(b.hours.items())
    ]
    return {
        "now": now.astimezone(tz).isoformat(timespec="seconds"),
        "day": today.start.date().isoformat(),
        "calls_waiting": len(waiting),
        "longest_wait_seconds": round(max(waiting), 1) if waiting else None,
        "calls_ringing": ringing,
        "calls_in_progress": talking,
        "calls_offered": total["calls_offered"],
        "answer_rate": total["answer_rate"],
        "service_level": total["service_level"],
        "service_level_met": total["service_level_met"],
        "within_three_rings": total["within_three_rings"],
        "abandon_rate": total["abandon_rate"],
        "silent_call_rate": total["silent_call_rate"],
        "ring_to_answer_by_hour": by_hour,
        "figures": total,
    }
