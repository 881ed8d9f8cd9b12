"""Live figures for the supervisor wallboard, from the same summaries and figures as the reports.

Two ways in, same answer:

- :func:`live_figures` ``(source, now, settings)`` — ``source`` is a :class:`~callcenter.calls.timeline.Timeline`
  (today's calls are read from it), a :class:`LiveBoard`, or any iterable of
  :class:`~callcenter.metrics.summary.CallSummary`;
- :class:`LiveBoard` — keeps today's summaries current from the timeline's subscription (``board.feed(event)``
  for each published event), so a wallboard refresh costs one tally over today's calls and no database read.

The result is a plain, JSON-ready dict::

    {"now", "day", "calls_waiting", "longest_wait_seconds", "calls_ringing", "calls_in_progress",
     "calls_offered", "answer_rate", "service_level", "service_level_met", "within_three_rings",
     "abandon_rate", "silent_call_rate", "ring_to_answer_by_hour": [{"hour", "answered",
     "average_seconds_to_answer", "within_three_rings"}, …], "figures": {every figure of today}}

Rates are percentages, ``None`` when nothing was counted yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from callcenter.calls.timeline import Timeline, TimelineEvent
from callcenter.config import Settings
from callcenter.errors import CallcenterError
from callcenter.metrics.load import load_summaries
from callcenter.metrics.summary import CallSummary, SummaryBuilder
from callcenter.metrics.windows import Window, breakdown, day_window
from callcenter.telephony.rings import cadence

# A call still "waiting" after this long has lost its hang-up event; it is not shown as waiting forever.
STALE_CALL = timedelta(hours=4)


class LiveBoardError(CallcenterError):
    """live_figures was given something that is neither a timeline, a board nor call summaries."""


class LiveBoard:
    """Today's call summaries, kept current by feeding it the timeline's published events."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.builder = SummaryBuilder(cadence(settings.telephony.ring_cadence))

    def feed(self, event: TimelineEvent) -> None:
        self.builder.feed(event)

    def prune(self, before: datetime) -> int:
        """Forget ended calls offered before ``before`` (yesterday's calls at the day change)."""
        calls = self.builder.calls
        old = [k for k, s in calls.items() if s.ended_at is not None and s.offered_at and s.offered_at < before]
        for key in old:
            del calls[key]
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


def live_figures(
    source: Timeline | LiveBoard | Iterable[CallSummary], now: datetime, settings: Settings
) -> dict[str, Any]:
    """The wallboard's figures at ``now``: what is happening now, and today's section-7 figures so far."""
    if now.tzinfo is None:
        raise LiveBoardError("live_figures: now needs a time zone")
    summaries = _summaries(source, now, settings)
    tz = settings.service.tz
    today = day_window(now.astimezone(tz).date(), tz)
    waiting: list[float] = []
    ringing = in_progress = 0
    for s in summaries:
        if s.ended_at is not None or s.offered_at is None or now - s.offered_at > STALE_CALL:
            continue
        if s.answered_at is not None:
            in_progress += 1
        elif s.queued:
            waiting.append((now - (s.queued_at or s.offered_at)).total_seconds())
            ringing += s.agent_ringing
    b = breakdown(
        summaries, today, tz, settings.metrics.service_level_seconds, settings.metrics.service_level_target_percent
    )
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
        "calls_in_progress": in_progress,
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
