"""The callback dialer (回访, R-94..R-105): due callbacks from the store, dialled by the ARI application.

Every few seconds (:data:`TICK_SECONDS`) the dialer

- creates the tasks of newly closed orders and complaints (:func:`callcenter.callbacks.sources.sync_order_callbacks`);
- takes due **survey** callbacks, up to :data:`SURVEY_CHANNELS` calls at once;
- takes due **progressive** callbacks of a group only while that group has more ready agents than customers
  already being rung for it (one ready agent per customer: nobody answers to wait for a person);
- leaves **preview** callbacks to the agents: :meth:`Dialer.dial_preview` is what the panel's "call" button does.

A task is claimed before it is dialled (:func:`callcenter.callbacks.queue.claim`: a lease in the store, so two
processes never dial one task, and an attempt row opened), and the attempt's result is written when the call ends
(:func:`callcenter.callbacks.outcomes.record_attempt`), on the task, its attempts and the order's history. A
process that dies mid-call leaves the lease to run out; the claim after it closes the forgotten attempt.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.opening import holiday_of
from callcenter.callbacks.outcomes import record_attempt
from callcenter.callbacks.queue import DueTask, claim, release
from callcenter.callbacks.sources import sync_order_callbacks
from callcenter.calls.agents import AgentState
from callcenter.calls.runner import CallOutcome
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.store import session_scope
from callcenter.telephony.ari.call import AriCall
from callcenter.telephony.ari.outbound import OutboundCalls, OutboundRequest, OutboundResult
from callcenter.tickets.service import link

log = get_logger(__name__)

TICK_SECONDS = 5.0
_TASK_OF_CALL = re.compile(r"cb-(\d+)-\d+")  # the call id of an attempt: cb-<task>-<attempt>
SURVEY_CHANNELS = 4
# Results of an attempt whose customer answered: there is a call to link to the order.
ANSWERED = frozenset({"reached", "no_key", "hangup_opening", "no_agent"})
# A claim holds its task this long: longer than any callback call (ringing, the script, the conversation).
LEASE_SECONDS = 1800.0
# The closing job's tasks are looked for this often.
SYNC_EVERY_TICKS = 12
SYNC_MARGIN = timedelta(hours=1)  # orders closed by a slow writer just before the last sync are read again


def holder_name(app: str) -> str:
    """Who dials, as the store's lease names it: this host's ARI application. The same after a restart, so the
    process that adopts a callback call left by its predecessor writes that call's attempt under its lease."""
    return f"{socket.gethostname()[:40]}:{app}"[:64]


class Dialer:
    """The callbacks one ARI application dials (``callcenter serve --ari`` and the demo run one)."""

    def __init__(
        self,
        settings: Settings,
        outbound: OutboundCalls,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.outbound = outbound
        self.pool = outbound.service.pool
        self.now = now
        self.holder = holder or holder_name(settings.telephony.ari_app)
        self.url = settings.database.url
        self.in_flight: dict[int, asyncio.Task[OutboundResult | None]] = {}
        self._progressive: dict[str, int] = {}  # group → customers being rung for it
        self._ticks = 0
        self._synced_at: datetime | None = None
        outbound.service.on_outbound_adopted = self._adopted

    async def run(self) -> None:
        """Dial until cancelled, then end the calls in flight."""
        try:
            await self.rounds()
        finally:
            await self.end_calls()

    async def rounds(self) -> None:
        """Take due callbacks until cancelled; a failed round is logged and the next one comes (the store may be
        back). Cancelled, it leaves the calls already dialled to go on: a process whose dialling moves to another
        (``callcenter serve`` runs this under a job lock) does not cut off a customer in conversation."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("callback dialer round failed")
            await asyncio.sleep(TICK_SECONDS)

    async def end_calls(self) -> None:
        for task in list(self.in_flight.values()):
            task.cancel()
        await asyncio.gather(*self.in_flight.values(), return_exceptions=True)

    async def tick(self) -> list[asyncio.Task[OutboundResult | None]]:
        """One round: sync the closing job's tasks now and then, then take what may be dialled now."""
        if self._ticks % SYNC_EVERY_TICKS == 0:
            created = await asyncio.to_thread(self._sync)
            if created:
                log.info("callback tasks created", count=created)
        self._ticks += 1
        started = []
        free = SURVEY_CHANNELS - sum(1 for t in self.in_flight.values() if getattr(t, "mode", "") == "survey")
        if free > 0:
            started += self._start(await asyncio.to_thread(self._claim, "survey", None, free), None)
        for group in self.pool.groups():
            ready = sum(1 for a in self.pool.in_group(group) if a.state is AgentState.READY)
            room = ready - self._progressive.get(group, 0)
            if room > 0:
                due = await asyncio.to_thread(self._claim, "progressive", group, room)
                started += self._start(due, None)
        return started

    async def dial_preview(self, task_id: int, agent_id: str) -> asyncio.Task[OutboundResult | None]:
        """The agent clicked "call" on a callback of their queue: the task is claimed and the attempt started
        (their phone rings first, then the customer's); the returned task ends with the attempt. Raises
        :class:`CallbackError` (one line for the panel) when the task may not be dialled now."""
        agent = self.pool.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.READY:
            raise CallbackError(f"agent {agent_id} is not ready: set ready before calling a customer")
        (due,) = await asyncio.to_thread(self._claim_one, task_id)
        return self._start([due], agent_id)[0]

    # ------------------------------------------------------------------ one attempt

    def _start(self, due: list[DueTask], agent: str | None) -> list[asyncio.Task[OutboundResult | None]]:
        started = []
        for item in due:
            task = asyncio.create_task(self._attempt(item, agent), name=f"callback-{item.task.id}")
            task.mode = item.task.mode  # type: ignore[attr-defined]
            self.in_flight[item.task.id] = task
            task.add_done_callback(self._finished)
            started.append(task)
        return started

    def _finished(self, task: asyncio.Task[OutboundResult | None]) -> None:
        for task_id, running in list(self.in_flight.items()):
            if running is task:
                del self.in_flight[task_id]

    async def _attempt(self, due: DueTask, agent: str | None) -> OutboundResult | None:
        view = due.task
        group = view.agent_group
        progressive = view.mode == "progressive"
        if progressive:
            self._progressive[group] = self._progressive.get(group, 0) + 1
        request = OutboundRequest(
            call_id=f"cb-{view.id}-{due.attempt_id or view.attempts + 1}", number=view.number, script=due.script,
            group=group, mode=view.mode, locale="zh-CN", agent=agent if view.mode == "preview" else None,
            caller=_addressed(view.customer_name), holiday=holiday_of(self.now().astimezone(self.settings.service.tz)
                                                                       .date()),
            data={"task": view.id, "campaign": view.campaign, "order": view.order_number, "level": view.level},
        )
        try:
            result = await self.outbound.dial(request)
        except Exception:
            log.exception("callback attempt failed", task=view.id, call_id=request.call_id)
            result = OutboundResult(request.call_id, "failed", detail="the dialer failed")
        finally:
            if progressive:
                self._progressive[group] -= 1
        try:
            await asyncio.to_thread(self._write, view.id, result)
        except CallbackError as exc:  # the lease was lost (ran out, another process took it): say so
            log.error("callback attempt result not written", task=view.id, call_id=result.call_id, error=str(exc))
        log.info("callback attempt", task=view.id, mode=view.mode, result=result.result, call_id=result.call_id,
                 agent=result.agent)
        return result

    async def _adopted(self, call: AriCall, outcome: CallOutcome) -> None:
        """A callback call this process adopted after a restart has ended: its attempt, left open by the
        process that dialled it, is written now (the lease is this application's: nobody dialled it again)."""
        found = _TASK_OF_CALL.fullmatch(call.call_id)
        if found is None:
            log.warning("adopted callback call names no task", call_id=call.call_id)
            return
        agent = call.stats.agent
        result = "reached" if agent else ("no_agent" if outcome.disposition == "no_agent" else "hangup_opening")
        adopted = OutboundResult(call.call_id, result, agent=agent, disposition=outcome.disposition,
                                 detail="the service restarted during the call; a person of the queue took it over")
        try:
            await asyncio.to_thread(self._write, int(found.group(1)), adopted)
        except CallbackError as exc:
            log.error("adopted callback's attempt not written", call_id=call.call_id, error=str(exc))
        log.info("callback attempt", task=int(found.group(1)), mode="adopted", result=result, call_id=call.call_id)

    # ------------------------------------------------------------------ the store (worker threads)

    def _sync(self) -> int:
        """The first sync reads every callback row; later ones only those made since the last, less a margin
        (a full read costs 100-200 ms at a million orders: bench/dialer.py)."""
        now = self.now()
        since = None if self._synced_at is None else self._synced_at - SYNC_MARGIN
        with session_scope(self.url) as session:
            made = sync_order_callbacks(session, self.settings, now, since=since)
        self._synced_at = now
        return made

    def _claim(self, mode: str, group: str | None, limit: int) -> list[DueTask]:
        with session_scope(self.url) as session:
            return claim(session, settings=self.settings, now=self.now(), holder=self.holder,
                         lease_seconds=LEASE_SECONDS, mode=mode, group=group, limit=limit)

    def _claim_one(self, task_id: int) -> list[DueTask]:
        with session_scope(self.url) as session:
            return claim(session, settings=self.settings, now=self.now(), holder=self.holder,
                         lease_seconds=LEASE_SECONDS, mode="preview", task_id=task_id)

    def _write(self, task_id: int, result: OutboundResult) -> None:
        with session_scope(self.url) as session:
            if result.result == "not_dialled":  # nobody was dialled: no attempt, the task is due again
                release(session, task_id, holder=self.holder, at=self.now(), reason=result.detail)
                return
            view = record_attempt(session, self.settings, task_id, result=result.result, at=self.now(),
                                  call_id=result.call_id, agent=result.agent, satisfaction=result.satisfaction,
                                  notes=result.detail, holder=self.holder)
            if view.order_number and result.result in ANSWERED and view.status != "cancelled":
                # The callback's call belongs to its order like the call it came from.
                link(session, view.order_number, "call", result.call_id, actor=result.agent or self.holder,
                     at=self.now())


def _addressed(name: str | None) -> dict[str, Any]:
    """The survey's form of address (R-08, R-105): surname and honorific when the order's name carries one;
    otherwise none (the prompt says 先生(女士))."""
    name = (name or "").strip()
    for honorific in ("先生", "女士", "小姐"):
        if name.endswith(honorific) and len(name) > len(honorific):
            return {"surname": name[: -len(honorific)], "honorific": honorific}
    return {}
