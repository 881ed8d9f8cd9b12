"""Missed calls become callbacks as they happen, read from the call timeline (R-95 item 5).

A caller who hung up in the IVR, in the queue or while an agent's phone rang (disposition ``abandoned``), or
whom the queue had to release with nobody free (``no_agent``), was not served: :func:`follow_missed_calls`
notes each one with :func:`callcenter.callbacks.sources.note_missed_call` (one task per caller and day). Calls
the centre dialled itself are not missed calls. The timeline is the one source: the adapters know nothing of it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from callcenter.callbacks.sources import note_missed_call
from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline, TimelineEvent
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.store import session_scope

log = get_logger(__name__)

MISSED_DISPOSITIONS = frozenset({"abandoned", "no_agent"})
# Calls followed at once; a call's facts are dropped when it ends (or beyond this, oldest first).
TRACKED_CALLS = 10_000


@dataclass
class _Call:
    caller: str
    where: str = "ivr"


class MissedCalls:
    """What the follower knows of each live inbound call: the caller and how far the call got."""

    def __init__(self) -> None:
        self.calls: dict[str, _Call] = {}

    def feed(self, event: TimelineEvent) -> tuple[str, str, str] | None:
        """One timeline event; returns (call id, caller, where) when it ends a missed call."""
        kind, call = event.type, self.calls.get(event.call_id)
        if kind == ev.CALL_OFFERED:
            if event.data.get("direction") != "outbound":
                self.calls[event.call_id] = _Call(str(event.data.get("caller", "") or ""))
                if len(self.calls) > TRACKED_CALLS:
                    del self.calls[next(iter(self.calls))]
        elif call is None:
            return None
        elif kind == ev.QUEUE_ENTERED:
            call.where = "queue"
        elif kind == ev.AGENT_RINGING:
            call.where = "ringing"
        elif kind in (ev.AGENT_ANSWERED, ev.AGENT_SKIPPED):
            call.where = "queue" if kind == ev.AGENT_SKIPPED else "answered"
        elif kind == ev.HANGUP:
            del self.calls[event.call_id]
            if event.data.get("disposition") in MISSED_DISPOSITIONS and call.where != "answered":
                return event.call_id, call.caller, call.where
        return None


async def follow_missed_calls(timeline: Timeline, settings: Settings) -> None:
    """Note every missed call as a callback task until cancelled (``callcenter serve`` and the demo run it)."""
    queue = timeline.subscribe()
    missed = MissedCalls()
    try:
        while True:
            event = await queue.get()
            found = missed.feed(event)
            if found is None:
                continue
            call_id, caller, where = found
            try:
                await asyncio.to_thread(_note, settings, call_id, caller, where, event)
            except Exception:  # the store is down: logged, the next missed call is tried all the same
                log.exception("missed call not noted for a callback", call_id=call_id)
    finally:
        timeline.unsubscribe(queue)


def _note(settings: Settings, call_id: str, caller: str, where: str, event: TimelineEvent) -> None:
    with session_scope(settings.database.url) as session:
        note_missed_call(session, settings, caller=caller or None, at=event.at, where=where, call_id=call_id)
