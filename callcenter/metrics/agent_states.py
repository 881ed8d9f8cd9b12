"""Time in each state per agent and day (issue 15): folded from the seats' ``agent.state`` timeline events.

Every seat change is an ``agent.state`` event (:mod:`callcenter.calls.seat_pool`); an agent is in a state from
its event until the next one. Seconds are cut at the window's ends and at each local midnight (a wrap-up from
23:58 to 00:03 counts 2 minutes on one day and 3 on the next). Not ready is kept per reason code
(``not_ready:meal``), so the report shows 用餐 apart from 小休. The state an agent was in when the window
opened comes from its last event before (looked for up to ``LOOKBACK`` back); the state still running is
counted up to the window's end or ``now``, whichever is first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select

from callcenter.calls import events as ev
from callcenter.calls.agents import REASON_CODES, SYSTEM_REASONS
from callcenter.calls.timeline import CallEventRecord, Timeline, TimelineEvent
from callcenter.metrics.windows import Window
from callcenter.store import engine_for

LOOKBACK = timedelta(days=7)
STATE_LABELS = {"ready": "就绪", "not_ready": "未就绪", "after_call": "话后处理", "ringing": "振铃",
                "on_call": "通话中", "offline": "离线"}
ORDER = ("ready", "ringing", "on_call", "after_call", "not_ready", "offline")


def state_key(state: str, reason: str | None) -> str:
    """``not_ready:meal`` for a not-ready reason, the state alone otherwise."""
    return f"{state}:{reason}" if state == "not_ready" and reason else state


def key_label(key: str, reasons: Mapping[str, str] | None = None) -> str:
    state, _, reason = key.partition(":")
    label = STATE_LABELS.get(state, state)
    if reason:
        names = {**REASON_CODES, **SYSTEM_REASONS, **(reasons or {})}
        label += f"·{names.get(reason, reason)}"
    return label


def state_events(timeline: Timeline, window: Window) -> list[TimelineEvent]:
    """The ``agent.state`` events from ``LOOKBACK`` before the window to its end, in time order."""
    start, end = (window.start - LOOKBACK).astimezone(UTC), window.end.astimezone(UTC)
    if timeline.url is None:
        found = [e for e in timeline.between(start, end) if e.type == ev.AGENT_STATE]
    else:
        stmt = (select(CallEventRecord)
                .where(CallEventRecord.type == ev.AGENT_STATE, CallEventRecord.at >= start, CallEventRecord.at < end)
                .order_by(CallEventRecord.at, CallEventRecord.id))
        with engine_for(timeline.url).connect() as conn:
            found = [TimelineEvent(r.call_id, r.seq, r.type, r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
                                   r.offset, dict(r.data or {}), r.id) for r in conn.execute(stmt)]
    return sorted(found, key=lambda e: (e.at, e.id or 0))


def _midnights(start: datetime, end: datetime, tz: tzinfo) -> Iterable[tuple[datetime, datetime]]:
    """[start, end) cut at each local midnight."""
    at = start
    while at < end:
        local = at.astimezone(tz)
        next_day = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        cut = min(end, next_day.astimezone(UTC))
        yield at, cut
        at = cut


def time_in_states(events: Iterable[TimelineEvent], window: Window, tz: tzinfo,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """Rows per agent and local day: ``{"agent", "day", "seconds": {state key: s}, "total"}``, sorted."""
    stop = window.end if now is None else min(window.end, now)
    start = window.start.astimezone(UTC)
    stop = stop.astimezone(UTC)
    cells: dict[tuple[str, str], dict[str, float]] = {}
    current: dict[str, tuple[str, datetime]] = {}

    def count(agent: str, key: str, since: datetime, until: datetime) -> None:
        lo, hi = max(since, start), min(until, stop)
        for a, b in _midnights(lo, hi, tz):
            day = a.astimezone(tz).date().isoformat()
            cell = cells.setdefault((agent, day), {})
            cell[key] = cell.get(key, 0.0) + (b - a).total_seconds()

    for e in events:
        agent = e.data.get("agent")
        if not isinstance(agent, str):
            continue
        at = e.at.astimezone(UTC)
        if at >= stop:
            break
        before = current.get(agent)
        if before is not None:
            count(agent, before[0], before[1], at)
        current[agent] = (state_key(str(e.data.get("state", "")), e.data.get("reason")), at)
    for agent, (key, since) in current.items():
        count(agent, key, since, stop)
    rows = []
    for (agent, day), seconds in sorted(cells.items()):
        kept = {k: round(v, 3) for k, v in sorted(seconds.items(), key=lambda kv: _rank(kv[0])) if v > 0}
        if kept:
            rows.append({"agent": agent, "day": day, "seconds": kept, "total": round(sum(kept.values()), 3)})
    return rows


def _rank(key: str) -> tuple[int, str]:
    state = key.partition(":")[0]
    return (ORDER.index(state) if state in ORDER else len(ORDER), key)


def agent_states_section(timeline: Timeline, window: Window, tz: tzinfo, now: datetime | None = None,
                         reasons: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The report's section: rows, and the label of every state key that occurs."""
    rows = time_in_states(state_events(timeline, window), window, tz, now)
    keys = sorted({k for row in rows for k in row["seconds"]}, key=_rank)
    return {"rows": rows, "states": keys, "labels": {k: key_label(k, reasons) for k in keys}}


def agent_states_csv(section: Mapping[str, Any]) -> str:
    """One line per agent, day and state: agent,day,state,reason,label,seconds (a spreadsheet's input)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["agent", "day", "state", "reason", "label", "seconds"])
    for row in section["rows"]:
        for key, seconds in row["seconds"].items():
            state, _, reason = key.partition(":")
            writer.writerow([row["agent"], row["day"], state, reason, section["labels"].get(key, key), seconds])
    return out.getvalue()
