"""What the scale test proves, each a function over what was recorded: the database's timeline, the pages'
websocket streams, the simulated Asterisk servers' channels and the serve processes' JSON logs.

Every check returns a list of problems (empty = holds), each one line naming the call, agent, page or job, so
a failing run says what went wrong rather than that something did.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline, TimelineEvent
from callcenter.sim.ari import AriSimulator

SHOWN = 12  # problems listed per check before "… and N more"


def read_timeline(url: str) -> list[TimelineEvent]:
    """Every durable event of the centre, in id order."""
    timeline, out, last = Timeline(url), [], 0
    while batch := timeline.since(last, 5000):
        out.extend(batch)
        last = batch[-1].id or last
    return out


def by_call(events: Iterable[TimelineEvent]) -> dict[str, list[TimelineEvent]]:
    calls: dict[str, list[TimelineEvent]] = defaultdict(list)
    for event in events:
        calls[event.call_id].append(event)
    return calls


def shown(problems: list[str]) -> str:
    more = f"\n… and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return "\n".join(problems[:SHOWN]) + more


# ---------------------------------------------------------------------- calls


@dataclass(frozen=True)
class Expected:
    kind: str  # talk | silent | abandon
    server: str


def outcomes(calls: dict[str, list[TimelineEvent]], expected: dict[str, Expected],
             may_lack_hangup: frozenset[str] = frozenset(), adopted: frozenset[str] = frozenset()) -> list[str]:
    """Every call placed is on the timeline and ended as its caller's scenario says. An adopted call is greeted
    by its new agent after the caller's scripted words may have passed: answered is all its scenario can say."""
    problems = []
    for call_id, want in expected.items():
        events = calls.get(call_id, [])
        types = [e.type for e in events]
        if ev.CALL_OFFERED not in types:
            problems.append(f"{call_id} ({want.kind}): never offered on the timeline")
            continue
        hangups = [e for e in events if e.type == ev.HANGUP]
        answered = [e for e in events if e.type == ev.AGENT_ANSWERED]
        if len(hangups) != 1 and not (not hangups and call_id in may_lack_hangup):
            problems.append(f"{call_id} ({want.kind}): {len(hangups)} call.hangup events")
            continue
        end = hangups[0].data if hangups else {}
        if want.kind == "abandon":
            if answered or any(e.type == ev.AGENT_RINGING for e in events):
                problems.append(f"{call_id} (abandon): an agent was rung or answered: {_brief(events)}")
            elif hangups and end.get("by") != "caller":
                problems.append(f"{call_id} (abandon): ended by {end.get('by')!r}, not the caller")
        elif not answered:
            problems.append(f"{call_id} ({want.kind}): no agent answered: {_brief(events)}")
        elif call_id in adopted:
            continue
        elif want.kind == "silent" and hangups and end.get("disposition") != "silent":
            problems.append(f"{call_id} (silent): disposition {end.get('disposition')!r}, not silent")
        elif want.kind == "talk" and hangups and end.get("by") != "caller":
            problems.append(f"{call_id} (talk): ended by {end.get('by')!r} ({end.get('disposition')}), "
                            "not the caller")
    return problems


def _brief(events: list[TimelineEvent]) -> str:
    return ", ".join(f"{e.type}" + (f"[{e.data.get('agent')}]" if "agent" in e.data else "") for e in events
                     if e.type not in (ev.COMMAND, ev.PROMPT_STARTED, ev.PROMPT_FINISHED))[:400]


# ---------------------------------------------------------------------- agents


def agent_segments(calls: dict[str, list[TimelineEvent]], cut: dict[str, int] | None = None
                   ) -> dict[str, list[tuple[int, int, str]]]:
    """Per agent, the stretches of timeline ids they were held by a call: from their first ring of it to its
    hang-up, their skip, or (``cut``: call id → id) the id at which another process adopted the call."""
    segments: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for call_id, events in calls.items():
        open_: dict[str, int] = {}
        end_all = cut.get(call_id) if cut else None
        for e in events:
            agent = e.data.get("agent") if isinstance(e.data, dict) else None
            if end_all is not None and e.id is not None and e.id >= end_all:
                for who, start in open_.items():
                    segments[who].append((start, end_all, call_id))
                open_.clear()
                end_all = None
            if e.type == ev.AGENT_RINGING and agent and agent not in open_:
                open_[agent] = e.id or 0
            elif e.type == ev.AGENT_SKIPPED and agent in open_:
                segments[agent].append((open_.pop(agent), e.id or 0, call_id))
            elif e.type == ev.HANGUP:
                for who, start in open_.items():
                    segments[who].append((start, e.id or 0, call_id))
                open_.clear()
        for who, start in open_.items():  # the call never ended on the timeline: held to its cut, or for good
            segments[who].append((start, end_all if end_all is not None else 1 << 62, call_id))
    return segments


def double_booked_on_timeline(segments: dict[str, list[tuple[int, int, str]]]) -> list[str]:
    problems = []
    for agent, spans in segments.items():
        spans = sorted(spans)
        for (_s1, e1, c1), (s2, _e2, c2) in itertools.pairwise(spans):
            if s2 < e1:
                problems.append(f"{agent}: rang for {c2} (event {s2}) while still on {c1} (until event {e1})")
    return problems


def double_booked_on_phones(sims: dict[str, AriSimulator]) -> list[str]:
    """No agent's phone had two calls at once, on either server: every agent channel, from its originate to
    its end, on the simulators' one clock."""
    spans: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for name, sim in sims.items():
        for chan in sim.channels.values():
            if chan.agent is not None:
                end = chan.ended_t if chan.ended_t is not None else float("inf")
                spans[chan.agent.endpoint].append((chan.created_t, end, f"{name}:{chan.id}"))
    problems = []
    for endpoint, legs in spans.items():
        legs.sort()
        for (s1, e1, c1), (s2, _e2, c2) in itertools.pairwise(legs):
            if s2 < e1:
                problems.append(f"{endpoint}: {c2} rang at {s2:.2f} s while {c1} was up ({s1:.2f}-{e1:.2f} s)")
    return problems


def phones_still_up(sims: dict[str, AriSimulator]) -> list[str]:
    return [f"{name}: agent channel {chan.id} ({chan.agent.endpoint}) still {chan.state}"
            for name, sim in sims.items() for chan in sim.channels.values()
            if chan.agent is not None and chan.ended_t is None]


# ---------------------------------------------------------------------- pages


def stream_problems(name: str, received: list[dict[str, Any]], by_id: dict[int, TimelineEvent]) -> list[str]:
    """Once each, in id order, and each the database's own row."""
    problems = []
    ids = [int(m["id"]) for m in received]
    for a, b in itertools.pairwise(ids):
        if b <= a:
            problems.append(f"{name}: event {b} came after {a} ({'repeat' if b == a else 'out of order'})")
    for m in received:
        row = by_id.get(int(m["id"]))
        if row is None or (row.call_id, row.type) != (m["call_id"], m["type"]):
            problems.append(f"{name}: event {m['id']} {m['call_id']} {m['type']} is not the database's")
    return problems


def supervisor_missing(name: str, received: list[dict[str, Any]], events: list[TimelineEvent]) -> list[str]:
    """A supervisor's page gets every event of the centre."""
    got = {int(m["id"]) for m in received}
    missing = [e for e in events if e.id not in got]
    return [f"{name}: never got event {e.id} ({e.call_id} {e.type})" for e in missing]


def agent_missing(name: str, agent: str, received: list[dict[str, Any]],
                  segments: list[tuple[int, int, str]], calls: dict[str, list[TimelineEvent]]) -> list[str]:
    """An agent's page gets every event of each call they answered, from their first ring to the end of their
    part in it."""
    got = {int(m["id"]) for m in received}
    problems = []
    for start, end, call_id in segments:
        events = calls[call_id]
        if not any(e.type == ev.AGENT_ANSWERED and e.data.get("agent") == agent and start <= (e.id or 0) <= end
                   for e in events):
            continue
        for e in events:
            if e.id is not None and start <= e.id <= end and e.id not in got:
                problems.append(f"{name}: never got event {e.id} ({call_id} {e.type}) of a call they answered")
    return problems


# ---------------------------------------------------------------------- jobs and reports


def job_holders(logs: dict[str, list[dict[str, Any]]], before: str) -> dict[str, list[tuple[datetime, str]]]:
    """Per job, (log time, process) of every ``jobs.holding`` line logged before ``before`` (UTC ISO: once the
    processes are told to stop, a standby taking over from a stopping holder is no double run), in time order."""
    limit = datetime.fromisoformat(before)
    holders: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for process, lines in logs.items():
        for line in lines:
            if line.get("event") == "jobs.holding":
                at = datetime.fromisoformat(str(line["timestamp"]))
                if at < limit:
                    holders[str(line["job"])].append((at, process))
    return {job: sorted(found) for job, found in holders.items()}


def jobs_run_twice(holders: dict[str, list[tuple[datetime, str]]], killed: str | None,
                   killed_at: datetime | None) -> list[str]:
    """Each job held by one process; with a kill, by the killed one and then (after the kill) by one other."""
    problems = []
    for job, found in holders.items():
        who = [process for _, process in found]
        if len(found) == 1:
            continue
        if killed is not None and killed_at is not None and len(found) == 2 and who[0] == killed \
                and who[1] != killed and found[1][0] >= killed_at:
            continue
        problems.append(f"{job}: held by {', '.join(f'{p} at {t:%H:%M:%S.%f}' for t, p in found)}")
    return problems


def reports_written(logs: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Per report name, the processes that wrote it."""
    written: dict[str, list[str]] = defaultdict(list)
    for process, lines in logs.items():
        for line in lines:
            if line.get("event") == "metrics.report_written":
                written[str(line["report"])].append(process)
    return written
