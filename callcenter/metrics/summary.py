"""One summary per call, folded from the call's timeline events in a single pass.

Every figure of section 7 is a count or a sum over these summaries, so a report, the wallboard and the CLI
read each event exactly once, however many windows (hours, days, groups, agents) they then cut the day into.
The fold is incremental (:class:`SummaryBuilder.feed`): the wallboard feeds it the timeline's live
subscription and the reports feed it a stored day; both end in the same :class:`CallSummary`.

Phases of a call, as the timeline tells them (``callcenter.calls.events``)::

    call.offered → ivr.ringing… → ivr.answered → (script) → queue.entered → agent.ringing…
        → [agent.skipped → agent.ringing…]* → agent.answered → call.bridged → (hold…) → call.hangup

Rings are counted with the one ring cadence of the site (``callcenter.calls.rings``): "within three rings"
is ``cadence.within(seconds, 3)``, so an answer exactly at the start of the 4th ring (15.0 s on ``cn``) is
still within (R-01).
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callcenter.calls import events as ev
from callcenter.calls.rings import RingCadence
from callcenter.calls.timeline import TimelineEvent

# the ring limit of the standards, whatever the router's agent_ring_limit setting says.
THREE_RINGS = 3

# R-48 lists the scripted exceptions where the agent, not the caller, ends the call (silent call R-15, low volume
# R-17, noise R-18, malicious call R-28); docs/design.md adds the dialect release after its maximum (R-19..R-21).
AGENT_RELEASE_ALLOWED = frozenset({"silent", "low_volume", "noise", "malicious", "dialect_unresolved"})

# Ringing-seconds buckets of the seconds-to-answer histogram: (0,5], (5,10], (10,15], … 15 s is the
# three-ring limit on the cn cadence, so it closes a bucket.
SECONDS_EDGES = (5.0, 10.0, 15.0, 20.0, 30.0, 60.0)
SECONDS_LABELS = ("0–5", "5–10", "10–15", "15–20", "20–30", "30–60", "60+")

# Where a caller who hung up before an agent answered was at that moment (see CallSummary.abandoned).
ABANDONED_RINGING = "ringing"
ABANDONED_QUEUE = "queue"
ABANDONED_IVR = "ivr"


@dataclass(slots=True)
class CallSummary:
    """What the section-7 figures need to know about one call; every field comes from its timeline."""

    call_id: str
    offered_at: datetime | None = None
    entry: str = ""
    group: str = ""
    # A callback the centre dialled (call.offered direction "outbound"): not a call that reached us.
    outbound: bool = False
    ivr_answered: bool = False
    # Transferred to agent service (R-122 denominator): the call joined the agent queue or an agent leg rang.
    queued: bool = False
    queued_at: datetime | None = None
    # The agent who answered (R-122 numerator), with the ringing time of that agent's leg and the
    # caller's wait since joining the queue.
    agent: str = ""
    answered_at: datetime | None = None
    answer_seconds: float | None = None
    answer_rings: int | None = None
    within_three_rings: bool = False
    # The same two durations in whole milliseconds, and the seconds-to-answer bucket (see SECONDS_EDGES):
    # computed once here rather than in every tally the call is added to.
    answer_ms: int = 0
    wait_ms: int = 0
    seconds_bucket: int = 0
    wait: float | None = None
    # Every agent whose phone rang for this call, in order; the ones that did not pick up (R-02 overflow).
    agents_rung: list[str] = field(default_factory=list)
    skipped_agents: list[str] = field(default_factory=list)
    ended_at: datetime | None = None
    ended_by: str = ""
    disposition: str = ""
    # "" or where the caller gave up: "ringing" (before the IVR answered, or while an agent's phone rang),
    # "queue" (waiting for a free agent), "ivr" (after the IVR answered, before joining the queue).
    abandoned: str = ""
    abandoned_ring: int | None = None
    abandoned_agent: str = ""
    abandoned_wait: float | None = None
    holds: int = 0
    hold_seconds: float = 0.0
    silence_windows: int = 0
    release_refused: int = 0
    work_orders: int = 0
    # Fold state: when the current ringing phase started and whether a hold is running.
    _ivr_ring_start: datetime | None = None
    _leg_start: datetime | None = None
    _leg_agent: str = ""
    _hold_start: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def agent_ringing(self) -> bool:
        """An agent's phone is ringing for this call right now (as far as the events folded so far say)."""
        return self._leg_start is not None

    @property
    def ringing_agent(self) -> str:
        """The agent whose phone is ringing for this call right now, or ""."""
        return self._leg_agent if self._leg_start is not None else ""

    @property
    def answered_by_agent(self) -> bool:
        return self.answered_at is not None

    @property
    def agent_released_first(self) -> bool:
        """R-48: the agent ended an agent-answered call that the caller should have ended."""
        return (
            self.answered_at is not None and self.ended_by == "agent" and self.disposition not in AGENT_RELEASE_ALLOWED
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            if name.startswith("_"):
                continue
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


def _seconds(later: datetime, earlier: datetime | None) -> float:
    return 0.0 if earlier is None else (later - earlier).total_seconds()


# The event types the fold reads; a database read asks only for these.
FOLDED_TYPES = frozenset(
    {
        ev.CALL_OFFERED, ev.IVR_RINGING, ev.IVR_ANSWERED, ev.QUEUE_ENTERED, ev.AGENT_RINGING, ev.AGENT_SKIPPED,
        ev.AGENT_ANSWERED, ev.HOLD_STARTED, ev.HOLD_ENDED, ev.SILENCE_WINDOW, ev.RELEASE_REFUSED,
        ev.WORK_ORDER_CREATED, ev.HANGUP,
    }
)


class SummaryBuilder:
    """Folds timeline events into one :class:`CallSummary` per call; feed events in each call's order."""

    def __init__(self, cadence: RingCadence) -> None:
        self.cadence = cadence
        self._three_rings = cadence.limit(THREE_RINGS)  # the last instant within three rings
        self.calls: dict[str, CallSummary] = {}
        self._handlers: dict[str, Callable[[CallSummary, TimelineEvent], None]] = {
            ev.CALL_OFFERED: self._offered,
            ev.IVR_RINGING: self._ivr_ringing,
            ev.IVR_ANSWERED: self._ivr_answered,
            ev.QUEUE_ENTERED: self._queue_entered,
            ev.AGENT_RINGING: self._agent_ringing,
            ev.AGENT_SKIPPED: self._agent_skipped,
            ev.AGENT_ANSWERED: self._agent_answered,
            ev.HOLD_STARTED: self._hold_started,
            ev.HOLD_ENDED: self._hold_ended,
            ev.SILENCE_WINDOW: self._silence_window,
            ev.RELEASE_REFUSED: self._release_refused,
            ev.WORK_ORDER_CREATED: self._work_order,
            ev.HANGUP: self._hangup,
        }

    def feed(self, event: TimelineEvent) -> CallSummary | None:
        """Fold one event; returns the call's summary, or None for event types no figure reads."""
        handler = self._handlers.get(event.type)
        if handler is None:
            return None
        summary = self.calls.get(event.call_id)
        if summary is None:
            summary = self.calls[event.call_id] = CallSummary(event.call_id)
        if summary.offered_at is None:
            # A call whose call.offered was lost still starts at its first event.
            summary.offered_at = event.at
        handler(summary, event)
        return summary

    def feed_all(self, events: Iterable[TimelineEvent]) -> SummaryBuilder:
        handlers, calls = self._handlers, self.calls
        current_id, summary = None, None
        for event in events:  # the hot loop of every report: one dict lookup for most events
            handler = handlers.get(event.type)
            if handler is None:
                continue
            call_id = event.call_id
            if call_id != current_id:  # a database read returns each call's events together
                summary = calls.get(call_id)
                if summary is None:
                    summary = calls[call_id] = CallSummary(call_id, offered_at=event.at)
                current_id = call_id
            handler(summary, event)  # type: ignore[arg-type]
        return self

    def summaries(self) -> list[CallSummary]:
        return list(self.calls.values())

    # ------------------------------------------------------------------ one handler per event type

    def _offered(self, s: CallSummary, e: TimelineEvent) -> None:
        s.offered_at = e.at
        s._ivr_ring_start = e.at
        data = e.data
        s.entry = data.get("entry", "") or ""
        s.group = data.get("group", "") or s.group
        s.outbound = data.get("direction") == "outbound"

    def _ivr_ringing(self, s: CallSummary, e: TimelineEvent) -> None:
        if e.data.get("ring", 1) == 1:
            s._ivr_ring_start = e.at

    def _ivr_answered(self, s: CallSummary, e: TimelineEvent) -> None:
        s.ivr_answered = True
        s._ivr_ring_start = None

    def _queue_entered(self, s: CallSummary, e: TimelineEvent) -> None:
        if not s.queued or s.queued_at is None:
            s.queued_at = e.at
        s.queued = True
        s.group = e.data.get("group") or s.group

    def _agent_ringing(self, s: CallSummary, e: TimelineEvent) -> None:
        data = e.data
        agent = data.get("agent", "")
        if s._leg_start is not None and agent == s._leg_agent:
            return  # the 2nd or 3rd ring of a leg already counted
        # A new leg: the first ring of this agent's phone for this call.
        s._leg_start = e.at
        s._leg_agent = agent
        s.agents_rung.append(agent)
        if not s.queued:
            s.queued, s.queued_at = True, e.at
        if not s.group:
            s.group = data.get("group", "")

    def _agent_skipped(self, s: CallSummary, e: TimelineEvent) -> None:
        s.skipped_agents.append(e.data.get("agent", s._leg_agent))
        s._leg_start, s._leg_agent = None, ""

    def _agent_answered(self, s: CallSummary, e: TimelineEvent) -> None:
        data = e.data
        agent = data.get("agent", s._leg_agent)
        seconds = data.get("seconds")
        if seconds is None:
            seconds = _seconds(e.at, s._leg_start)
        wait = data.get("wait")
        if wait is None:
            wait = _seconds(e.at, s.queued_at or s.offered_at)
        if agent != s._leg_agent and agent and agent not in s.agents_rung:
            s.agents_rung.append(agent)
        if not s.queued:
            s.queued, s.queued_at = True, e.at
        s.agent = agent
        group = data.get("group")
        if group:
            s.group = group
        s.answered_at = e.at
        s.answer_seconds = seconds
        s.wait = wait
        # An agent that picks up at once (0 s) has heard the first ring start.
        rings = self.cadence.rings_at(seconds)
        s.answer_rings = rings if rings > 0 else 1
        s.within_three_rings = seconds <= self._three_rings  # = cadence.within(seconds, 3)
        s.answer_ms, s.wait_ms = int(seconds * 1000 + 0.5), int(wait * 1000 + 0.5)
        s.seconds_bucket = bisect_left(SECONDS_EDGES, seconds)
        s._leg_start, s._leg_agent = None, ""

    def _hold_started(self, s: CallSummary, e: TimelineEvent) -> None:
        s.holds += 1
        s._hold_start = e.at

    def _hold_ended(self, s: CallSummary, e: TimelineEvent) -> None:
        seconds = e.data.get("seconds")
        s.hold_seconds += float(seconds) if seconds is not None else _seconds(e.at, s._hold_start)
        s._hold_start = None

    def _silence_window(self, s: CallSummary, e: TimelineEvent) -> None:
        s.silence_windows += 1

    def _release_refused(self, s: CallSummary, e: TimelineEvent) -> None:
        s.release_refused += 1

    def _work_order(self, s: CallSummary, e: TimelineEvent) -> None:
        s.work_orders += 1

    def _hangup(self, s: CallSummary, e: TimelineEvent) -> None:
        data = e.data
        s.ended_at = e.at
        s.ended_by = data.get("by", "") or ""
        s.disposition = data.get("disposition", "") or ""
        if s._hold_start is not None:  # the call ended on hold: the hold lasted until the hang-up
            s.hold_seconds += _seconds(e.at, s._hold_start)
            s._hold_start = None
        if s.answered_at is None and (s.ended_by == "caller" or s.disposition == "abandoned"):
            self._classify_abandon(s, e.at)

    def _classify_abandon(self, s: CallSummary, at: datetime) -> None:
        if s._leg_start is not None:
            s.abandoned = ABANDONED_RINGING
            s.abandoned_agent = s._leg_agent
            s.abandoned_ring = max(1, self.cadence.rings_at(_seconds(at, s._leg_start)))
        elif s.queued:
            s.abandoned = ABANDONED_QUEUE
        elif not s.ivr_answered:
            s.abandoned = ABANDONED_RINGING
            s.abandoned_ring = max(1, self.cadence.rings_at(_seconds(at, s._ivr_ring_start or s.offered_at)))
        else:
            s.abandoned = ABANDONED_IVR
        if s.queued:
            s.abandoned_wait = _seconds(at, s.queued_at)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a fold over a loaded day.

    Folding allocates one summary per call and creates no reference cycles, but each allocation burst lets
    the collector run, and its full passes walk every one of the day's loaded events (millions of objects):
    measured, that doubled the time of a 100,000-call day. Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def summarise(events: Iterable[TimelineEvent], cadence: RingCadence) -> list[CallSummary]:
    """Summaries of every call in ``events`` (each call's events in timeline order), in first-seen order."""
    with collector_paused():
        return SummaryBuilder(cadence).feed_all(events).summaries()
