"""The live state of calls as the panels show it, folded from the call timeline as events arrive.

One :class:`LiveBoard` per process follows the centre's feed (:mod:`callcenter.calls.fanout`: every process's
calls on PostgreSQL; docs/design.md "Habits": every outward event goes through the timeline, so the panel never
asks Asterisk). It knows, per live call, where the call is (IVR, queue, ringing an agent, talking, on hold,
ended), the live ring count of the agent leg (R-01: three-ring limit), the situation script and state the
session is in, and the last words prompted. Ended calls stay a while so
the agent sees how the call ended during after-call work.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from callcenter.calls import events as ev
from callcenter.calls.timeline import TimelineEvent

KEEP_ENDED = 200  # ended calls remembered for the panels (after-call work, "last call")
MONITOR_KEYS = ("supervisor", "mode", "purpose")  # what the wallboard shows of a monitoring


@dataclass(slots=True)
class LiveCall:
    call_id: str
    offered_at: datetime
    caller: str = ""
    entry: str = ""
    group: str = ""
    locale: str = "zh-CN"
    phase: str = "ivr"  # ivr | queued | ringing | talking | hold | ended
    agent: str = ""
    ring: int = 0
    ring_started_at: datetime | None = None
    answered_at: datetime | None = None
    answer_rings: int | None = None
    script: str = ""
    script_state: str = ""
    prompt_key: str = ""
    prompt_text: str = ""
    listening: float | None = None
    silence_windows: int = 0
    release_refused: str = ""
    ended_at: datetime | None = None
    ended_by: str = ""
    disposition: str = ""
    work_orders: list[dict[str, Any]] = field(default_factory=list)
    # A transfer in progress or its last result: mode, kind, target, state (ringing | consult | conference |
    # done | failed), agent (the second leg's), result (issue 15: the panel shows the second leg).
    transfer: dict[str, Any] = field(default_factory=dict)
    last_event_id: int = 0
    last_offset: float = 0.0  # seconds on the call's own clock of its latest event

    def now_offset(self, now: datetime) -> float:
        """Where ``now`` falls on the call's clock, never before its latest event (a later event of ours,
        such as a work order, must sort after what the telephony side already wrote)."""
        return max(self.last_offset, (now - self.offered_at).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


class LiveBoard:
    """Live calls by id, fed one timeline event at a time (in id order)."""

    def __init__(self) -> None:
        self.calls: OrderedDict[str, LiveCall] = OrderedDict()
        self.last_id = 0
        # Who listens in on which live call, whichever process holds it (supervision.* on the timeline). Kept off
        # LiveCall: the agent's panel shows its call, and a silent monitoring is not the agent's to see.
        self.monitors: dict[str, dict[str, str]] = {}

    def feed(self, e: TimelineEvent) -> LiveCall | None:
        if e.id is not None:
            if e.id <= self.last_id:
                return None  # already folded (a replay after a resubscribe)
            self.last_id = e.id
        if e.type in (ev.AGENT_STATE, ev.SEAT_REGISTRATION):  # a seat's own stream (calls.seat_pool), not a call
            return None
        call = self.calls.get(e.call_id)
        if call is None:
            call = self.calls[e.call_id] = LiveCall(e.call_id, e.at)
        call.last_event_id = e.id or call.last_event_id
        call.last_offset = max(call.last_offset, e.offset)
        handler = _HANDLERS.get(e.type)
        if handler is not None:
            handler(call, e)
        if e.type in (ev.SUPERVISION_STARTED, ev.SUPERVISION_SWITCHED):
            self.monitors[e.call_id] = {"call_id": e.call_id, **{k: str(e.data.get(k, "")) for k in MONITOR_KEYS}}
        elif e.type in (ev.SUPERVISION_ENDED, ev.HANGUP):
            self.monitors.pop(e.call_id, None)
        if e.type == ev.HANGUP:
            self._prune()
        return call

    def _prune(self) -> None:
        ended = [c.call_id for c in self.calls.values() if c.phase == "ended"]
        for call_id in ended[: max(0, len(ended) - KEEP_ENDED)]:
            del self.calls[call_id]

    def live(self) -> list[LiveCall]:
        return [c for c in self.calls.values() if c.phase != "ended"]

    def waiting(self) -> int:
        """Callers waiting for an agent: in the queue or with an agent's phone ringing (not yet answered)."""
        return sum(1 for c in self.calls.values() if c.phase in ("queued", "ringing"))

    def for_agent(self, agent: str) -> LiveCall | None:
        """The agent's live call (ringing or talking), else their most recent ended call."""
        mine = [c for c in self.calls.values() if c.agent == agent]
        live = [c for c in mine if c.phase != "ended"]
        if live:
            return live[-1]
        return mine[-1] if mine else None

    def get(self, call_id: str) -> LiveCall | None:
        return self.calls.get(call_id)

    def stale(self, now: datetime, older_than: timedelta) -> list[LiveCall]:
        """Live calls with no event for a long time (shown greyed; a crashed adapter leaves them behind)."""
        return [c for c in self.live() if c.offered_at < now - older_than]


def _offered(c: LiveCall, e: TimelineEvent) -> None:
    d = e.data
    c.offered_at = e.at
    c.caller = str(d.get("caller", "") or "")
    c.entry = str(d.get("entry", "") or "")
    c.group = str(d.get("group", "") or "")
    c.locale = str(d.get("locale", "") or c.locale)
    c.script = str(d.get("script", "") or "")


def _queued(c: LiveCall, e: TimelineEvent) -> None:
    c.phase = "queued"
    c.group = e.data.get("group") or c.group


def _queue_left(c: LiveCall, e: TimelineEvent) -> None:
    if c.phase == "queued":
        c.phase = "ivr"


def _agent_ringing(c: LiveCall, e: TimelineEvent) -> None:
    agent = str(e.data.get("agent", ""))
    ring = int(e.data.get("ring", 1) or 1)
    if agent != c.agent or ring == 1 or c.ring_started_at is None:
        c.ring_started_at = e.at if ring == 1 else c.ring_started_at or e.at
    c.phase, c.agent, c.ring = "ringing", agent, ring


def _agent_skipped(c: LiveCall, e: TimelineEvent) -> None:
    # the leg overflowed; the call goes to the neighbour seat or back to the queue.
    c.phase, c.agent, c.ring, c.ring_started_at = "queued", "", 0, None


def _agent_answered(c: LiveCall, e: TimelineEvent) -> None:
    c.phase = "talking"
    c.agent = str(e.data.get("agent", c.agent))
    c.answered_at = e.at
    c.answer_rings = e.data.get("rings", c.ring)


def _script_state(c: LiveCall, e: TimelineEvent) -> None:
    c.script = str(e.data.get("script", c.script))
    c.script_state = str(e.data.get("state", ""))
    c.listening = None


def _script_requested(c: LiveCall, e: TimelineEvent) -> None:
    c.script = str(e.data.get("script", c.script))
    c.script_state = ""
    c.release_refused = ""


def _prompt(c: LiveCall, e: TimelineEvent) -> None:
    c.prompt_key = str(e.data.get("key", ""))
    c.prompt_text = str(e.data.get("text", ""))


def _listen(c: LiveCall, e: TimelineEvent) -> None:
    c.listening = float(e.data.get("seconds", 0) or 0)


def _silence(c: LiveCall, e: TimelineEvent) -> None:
    c.silence_windows += 1


def _hold(c: LiveCall, e: TimelineEvent) -> None:
    c.phase = "hold"


def _unhold(c: LiveCall, e: TimelineEvent) -> None:
    if c.phase == "hold":
        c.phase = "talking"


def _refused(c: LiveCall, e: TimelineEvent) -> None:
    c.release_refused = str(e.data.get("reason", "") or "")


def _work_order(c: LiveCall, e: TimelineEvent) -> None:
    c.work_orders.append(dict(e.data))


def _hangup(c: LiveCall, e: TimelineEvent) -> None:
    c.phase = "ended"
    c.ended_at = e.at
    c.ended_by = str(e.data.get("by", "") or "")
    c.disposition = str(e.data.get("disposition", "") or "")
    c.listening = None


def _ivr_answered(c: LiveCall, e: TimelineEvent) -> None:
    if c.phase == "ivr":
        c.ring = 0


def _transfer(c: LiveCall, e: TimelineEvent) -> None:
    d = e.data
    facts: dict[str, Any] = {k: d[k] for k in ("kind", "target", "by", "agent") if k in d}
    if e.type in (ev.TRANSFER_BLIND, ev.TRANSFER_CONSULT_STARTED):
        mode = "blind" if e.type == ev.TRANSFER_BLIND else "consult"
        c.transfer = {"mode": mode, "state": "ringing", **facts}
    elif e.type == ev.TRANSFER_CONSULT_ANSWERED:
        c.transfer = {**c.transfer, **facts, "state": "consult"}
    elif e.type == ev.CONFERENCE_STARTED:
        c.transfer = {**c.transfer, **facts, "state": "conference"}
    elif e.type in (ev.TRANSFER_COMPLETED, ev.TRANSFER_CONSULT_COMPLETED):
        c.agent = str(d.get("agent", "") or "")  # the target has the caller now (a number: nobody of ours)
        c.transfer = {**c.transfer, **facts, "state": "done", "result": "completed"}
    else:  # failed, returned, conference ended: the caller is with the first agent again
        c.transfer = {**c.transfer, **facts, "state": "failed" if e.type == ev.TRANSFER_FAILED else "done",
                      "result": str(d.get("reason", ""))}


_HANDLERS = {
    ev.CALL_OFFERED: _offered,
    ev.IVR_ANSWERED: _ivr_answered,
    ev.QUEUE_ENTERED: _queued,
    ev.QUEUE_LEFT: _queue_left,
    ev.AGENT_RINGING: _agent_ringing,
    ev.AGENT_SKIPPED: _agent_skipped,
    ev.AGENT_LOST: _agent_skipped,  # the agent's softphone went away: the call is queued again (issue 15)
    ev.AGENT_ANSWERED: _agent_answered,
    ev.SCRIPT_STATE: _script_state,
    ev.SCRIPT_REQUESTED: _script_requested,
    ev.PROMPT_STARTED: _prompt,
    ev.LISTEN_STARTED: _listen,
    ev.SILENCE_WINDOW: _silence,
    ev.HOLD_STARTED: _hold,
    ev.HOLD_ENDED: _unhold,
    ev.RELEASE_REFUSED: _refused,
    ev.WORK_ORDER_CREATED: _work_order,
    ev.HANGUP: _hangup,
}
_HANDLERS.update(dict.fromkeys((ev.TRANSFER_BLIND, ev.TRANSFER_CONSULT_STARTED, ev.TRANSFER_CONSULT_ANSWERED,
                                ev.CONFERENCE_STARTED, ev.TRANSFER_COMPLETED, ev.TRANSFER_CONSULT_COMPLETED,
                                ev.TRANSFER_FAILED, ev.TRANSFER_CONSULT_RETURNED, ev.CONFERENCE_ENDED), _transfer))
