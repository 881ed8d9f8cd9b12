"""A synthetic day of calls written in the timeline's own vocabulary, for the benchmark, demos and screenshots.

The mix follows a hotline's day: traffic peaks mid-morning and mid-afternoon, a few callers give up while it
rings or in the queue, some agent legs overflow to the neighbour seat after three rings (R-02), a few calls
are silent (R-15, with their three 5-second windows) or end with the dialect unresolved (R-19..R-21). Each
call also carries the prompt and command events a real call has, so the fold skips what it does not read.
Seeded: the same arguments give the same day.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from types import SimpleNamespace

from callcenter.calls import events as ev
from callcenter.calls.rings import RingCadence, cadence
from callcenter.calls.timeline import TimelineEvent
from callcenter.config import Settings
from callcenter.metrics.report import report_from_summaries, write_html_report
from callcenter.metrics.summary import summarise
from callcenter.metrics.windows import day_window
from callcenter.metrics.work_orders import callback_rows, sla_rows

GROUPS = ("default", "billing", "complaints")
AGENTS_PER_GROUP = 10
# Relative traffic per local hour 0..23.
HOURLY_PROFILE = (1, 1, 1, 1, 1, 1, 2, 4, 8, 12, 12, 11, 8, 9, 11, 11, 10, 8, 6, 5, 4, 3, 2, 1)


class _Call:
    """Writes one call's events with consecutive sequence numbers."""

    def __init__(self, call_id: str, start: datetime) -> None:
        self.call_id, self.start, self.seq = call_id, start, 0
        self.events: list[TimelineEvent] = []

    def add(self, offset: float, type: str, data: dict[str, object] | None = None) -> None:
        self.seq += 1
        at = self.start + timedelta(seconds=offset)
        self.events.append(TimelineEvent(self.call_id, self.seq, type, at, offset, data or {}))


def _agent(group: str, n: int) -> str:
    return f"{group[:1].upper()}{n % AGENTS_PER_GROUP + 1:02d}"


def _ringing(call: _Call, t: float, agent: str, group: str, seconds: float, cadence: RingCadence) -> None:
    ring = 1
    while cadence.ring_starts(ring) <= seconds and ring <= 4:
        call.add(t + cadence.ring_starts(ring), ev.AGENT_RINGING, {"agent": agent, "group": group, "ring": ring})
        ring += 1


def _call(rng: random.Random, call_id: str, start: datetime, cadence: RingCadence) -> _Call:
    group = rng.choices(GROUPS, weights=(6, 3, 1))[0]
    call = _Call(call_id, start)
    call.add(0.0, ev.CALL_OFFERED, {"entry": "hotline", "script": "inbound", "group": group, "transport": "ari"})
    call.add(0.0, ev.IVR_RINGING, {"ring": 1})
    fate = rng.random()
    if fate < 0.02:  # gave up before the IVR answered
        call.add(0.8, ev.HANGUP, {"by": "caller", "cause": "normal", "disposition": "abandoned"})
        return call
    t = cadence.answer_delay(1)
    call.add(t, ev.IVR_ANSWERED, {"rings": 1, "seconds": t})
    call.add(t, ev.RECORDING_STARTED, {"path": f"{call_id}.wav", "format": "wav"})
    call.add(t, ev.SCRIPT_STATE, {"script": "inbound", "state": "start"})
    call.add(t, ev.PROMPT_STARTED, {"key": "greeting.standard"})
    t += 6.0
    call.add(t, ev.PROMPT_FINISHED, {"key": "greeting.standard", "interrupted": False})
    if fate < 0.05:  # hung up in the menu
        call.add(t + 3, ev.HANGUP, {"by": "caller", "cause": "normal", "disposition": "abandoned"})
        return call
    if fate < 0.07:  # silent call handled by R-15: three windows, then the system hangs up
        for step in (1, 2, 3):
            t += 5.0
            call.add(t, ev.SILENCE_WINDOW, {"seconds": 5.0, "state": "silent", "step": step})
            call.add(t, ev.PROMPT_STARTED, {"key": "silent.retry"})
            t += 3.0
            call.add(t, ev.PROMPT_FINISHED, {"key": "silent.retry"})
        call.add(t, ev.HANGUP, {"by": "system", "cause": "normal", "disposition": "silent"})
        return call
    call.add(t, ev.DTMF, {"digit": "1"})
    call.add(t, ev.QUEUE_ENTERED, {"group": group})
    queue_start = t
    t += rng.expovariate(1 / 3.0)
    if fate < 0.10:  # gave up waiting in the queue
        call.add(t, ev.QUEUE_LEFT, {"group": group, "reason": "abandoned"})
        call.add(t, ev.HANGUP, {"by": "caller", "cause": "normal", "disposition": "abandoned"})
        return call
    seat = rng.randrange(AGENTS_PER_GROUP)
    overflow = rng.random() < 0.25
    while overflow:  # the seat did not pick up within three rings; the neighbour seat rings next
        agent = _agent(group, seat)
        _ringing(call, t, agent, group, cadence.limit(3), cadence)
        t += cadence.limit(3)
        call.add(t, ev.AGENT_SKIPPED, {"agent": agent, "group": group, "rings": 3, "seconds": cadence.limit(3),
                                       "reason": "no_answer"})
        seat += 1
        overflow = rng.random() < 0.1
    ring_seconds = rng.uniform(0.5, cadence.limit(3))
    if rng.random() < 0.03:  # picked up just as the overflow fired: answered in the 4th ring (R-01 breach)
        ring_seconds = rng.uniform(cadence.limit(3) + 0.1, cadence.limit(3) + 3.0)
    agent = _agent(group, seat)
    _ringing(call, t, agent, group, ring_seconds, cadence)
    if fate < 0.115:  # gave up while the agent's phone rang
        call.add(t + ring_seconds, ev.HANGUP, {"by": "caller", "cause": "normal", "disposition": "abandoned"})
        return call
    t += ring_seconds
    call.add(t, ev.AGENT_ANSWERED, {"agent": agent, "group": group, "rings": cadence.rings_at(ring_seconds),
                                    "seconds": round(ring_seconds, 3), "wait": round(t - queue_start, 3)})
    call.add(t, ev.QUEUE_LEFT, {"group": group, "reason": "agent"})
    call.add(t, ev.BRIDGED, {"agent": agent, "bridge": f"b-{call_id}"})
    call.add(t, ev.COMMAND, {"command": "bridge", "result": "ok", "ms": 3})
    t += rng.uniform(30, 240)
    if rng.random() < 0.12:
        call.add(t, ev.HOLD_STARTED, {})
        hold = rng.uniform(10, 90)
        t += hold
        call.add(t, ev.HOLD_ENDED, {"seconds": round(hold, 3)})
        t += rng.uniform(10, 60)
    disposition, by = "normal", "caller"
    if fate > 0.995:
        disposition, by = "dialect_unresolved", "agent"
    elif fate > 0.97:
        by = "agent"  # released first: R-48 breach
    if rng.random() < 0.1:
        call.add(t, ev.WORK_ORDER_CREATED, {"number": f"GD{call_id}", "category": "complaint", "major": False})
    call.add(t, ev.PROMPT_STARTED, {"key": "closing.standard"})
    call.add(t + 4, ev.PROMPT_FINISHED, {"key": "closing.standard"})
    call.add(t + 6, ev.HANGUP, {"by": by, "cause": "normal", "disposition": disposition})
    call.add(t + 6, ev.RECORDING_FINISHED, {"path": f"{call_id}.wav", "bytes": 1000})
    return call


def synthetic_day(day: date, calls: int, tz: tzinfo, cadence: RingCadence, seed: int = 1) -> Iterator[_Call]:
    """``calls`` synthetic calls offered during local ``day``, in order of their start."""
    rng = random.Random(seed)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    hours = rng.choices(range(24), weights=HOURLY_PROFILE, k=calls)
    starts = sorted(midnight + timedelta(hours=h, seconds=rng.uniform(0, 3600)) for h in hours)
    for i, start in enumerate(starts):
        yield _call(rng, f"{day:%Y%m%d}-{i:06d}", start, cadence)


def synthetic_events(day: date, calls: int, tz: tzinfo, cadence: RingCadence, seed: int = 1) -> list[TimelineEvent]:
    """The day's events grouped by call (each call's events in order), as the timeline reads them back."""
    return [e for call in synthetic_day(day, calls, tz, cadence, seed) for e in call.events]


def synthetic_work_orders(calls: int, seed: int = 1) -> dict[str, object]:
    """Work-order figures shaped like ``callcenter.tickets.service``'s, for a synthetic day's report."""
    rng = random.Random(seed)
    outcomes = []
    for deadline, share, met_rate in (("first_contact", 0.05, 0.9), ("reply", 0.04, 0.97), ("close", 0.03, 0.85),
                                      ("callback", 0.02, 1.0)):
        for i in range(max(1, int(calls * share / 2))):
            outcomes.append(SimpleNamespace(deadline=deadline, met=rng.random() < met_rate if i % 20 else None))
    closed = max(1, calls // 40)
    stats = [
        SimpleNamespace(level=1, target_rate=1.0, orders_closed=closed, due=closed, done=closed - 2),
        SimpleNamespace(level=2, target_rate=0.10, orders_closed=closed, due=closed // 8, done=closed // 8),
        SimpleNamespace(level=3, target_rate=0.05, orders_closed=closed, due=closed // 25, done=closed // 25 - 1),
    ]
    return {"available": True, "reason": "", "sla": sla_rows(outcomes), "callbacks": callback_rows(stats)}


def synthetic_report_html(settings: Settings, day: date, calls: int, path: Path, seed: int = 1) -> Path:
    """Render the report of a synthetic day to ``path`` (the docs screenshot; ``callcenter`` needs no database)."""
    tz, ring = settings.service.tz, cadence(settings.telephony.ring_cadence)
    summaries = summarise(synthetic_events(day, calls, tz, ring, seed), ring)
    report = report_from_summaries(
        summaries, day_window(day, tz), settings, title=f"{day:%Y%m%d}话务日报 (synthetic day)", kind="daily",
        tickets=synthetic_work_orders(calls, seed),
    )
    return write_html_report(report, path)
