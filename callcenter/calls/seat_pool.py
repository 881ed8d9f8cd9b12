"""This process's door to the centre's seats: reservations in the database, a view of them in memory.

The adapters (FastAGI dialing, ARI routing, outbound callbacks) reserve, answer and release seats here; the
truth is the table (:mod:`callcenter.calls.seat_store`), so several processes share one centre's agents. The
in-memory :class:`~callcenter.calls.agents.AgentPool` (``view``) is a copy of the table refreshed after every
change this process makes and by :meth:`SeatPool.upkeep`, so the wallboard's and the health board's counts
are the centre's without a query per page. Every state change is an ``agent.state`` timeline event (who, what,
why, by whom) that the reports fold into time in each state (issue 15).

The upkeep runs in every process, not under one job lock: it renews this process's leases (only this process
can), and its sweep is a guarded, SKIP LOCKED update that any number of processes may run at once without
releasing a seat twice; a dead process's seats are then free one lease later whichever process died, with no
wait for a job lock to change hands.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentError, AgentPool, AgentState, check_reason
from callcenter.calls.seat_store import SeatStore, StateChange
from callcenter.calls.timeline import Timeline
from callcenter.logs import get_logger

log = get_logger(__name__)

DEFAULT_LEASE_SECONDS = 30.0
_T = TypeVar("_T")


def process_holder() -> str:
    """This process, as a seat's lease names it: host and pid (a restarted process is another holder, so the
    seats of the one that died are released when their leases run out)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"[:64]


# The seats' own worker threads: a reservation or a lease renewal never queues behind what the event loop's
# default executor runs (timeline flushes, ffmpeg on finished recordings); there, under load, renewals came
# seconds late and leases lapsed under live calls (tests/scale).
_SEAT_THREADS: ThreadPoolExecutor | None = None


def _in_seat_thread(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> asyncio.Future[_T]:
    global _SEAT_THREADS
    if _SEAT_THREADS is None:
        _SEAT_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="seats")
    return asyncio.get_running_loop().run_in_executor(_SEAT_THREADS, functools.partial(fn, *args, **kwargs))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SeatPool:
    """The centre's seats for one process: ``await reserve(...)`` / ``answered`` / ``release`` / ``set_state``,
    and the read-only view (``agents``, ``get``, ``groups``, ``in_group``, ``counts``)."""

    def __init__(
        self,
        url: str,
        *,
        timeline: Timeline | None = None,
        holder: str | None = None,
        now: Callable[[], datetime] = _utc_now,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        reason_codes: Mapping[str, str] | None = None,
        wrap_up_max_seconds: float = 0.0,
        wrap_up_overdue: str = "ready",
    ) -> None:
        self.store = SeatStore(url)
        self.timeline = timeline
        self.holder = holder or process_holder()
        self.now = now
        self.lease_seconds = lease_seconds
        self.reason_codes = dict(reason_codes or {})
        self.wrap_up_max_seconds = wrap_up_max_seconds
        self.wrap_up_overdue = wrap_up_overdue
        self.view = AgentPool()
        self._held: dict[str, str] = {}  # agent → call this process reserved it for (the leases it renews)
        self._background: set[asyncio.Task[Any]] = set()
        self._stream = f"seats@{self.holder}"[:64]

    @classmethod
    def for_settings(cls, settings: Any, timeline: Timeline | None = None, **kwargs: Any) -> SeatPool:
        a = settings.agents
        return cls(settings.database.url, timeline=timeline, lease_seconds=a.lease_seconds,
                   reason_codes=a.reason_codes, wrap_up_max_seconds=a.wrap_up_max_seconds,
                   wrap_up_overdue=a.wrap_up_overdue, **kwargs)

    # ------------------------------------------------------------------ the view

    @property
    def agents(self) -> dict[str, Agent]:
        return self.view.agents

    def get(self, agent_id: str) -> Agent:
        return self.view.get(agent_id)

    def groups(self) -> list[str]:
        return self.view.groups()

    def in_group(self, group: str) -> list[Agent]:
        return self.view.in_group(group)

    def counts(self) -> dict[str, int]:
        """Seats by state across the centre, as of the last refresh."""
        return self.view.counts()

    def next_free(self, group: str, *, locale: str | None = None, tried: Iterable[str] = (),
                  after: str | None = None) -> Agent | None:
        """Who would ring next, as of the last refresh (a question, not a reservation: use :meth:`reserve`)."""
        return self.view.next_free(group, locale=locale, tried=tried, after=after)

    def _cache(self, agent: Agent) -> Agent:
        old = self.view.agents.get(agent.id)
        self.view.agents[agent.id] = agent
        for group in agent.groups:
            row = self.view.seats.setdefault(group, [])
            if agent.id not in row:
                row.append(agent.id)
        if old is not None:  # the same object for whoever holds it (a page's seat, a call's agent)
            for name in Agent.__slots__:
                setattr(old, name, getattr(agent, name))
            self.view.agents[agent.id] = old
            return old
        return agent

    def _apply(self, change: StateChange) -> None:
        agent = self.view.agents.get(change.agent)
        if agent is not None:
            if change.state is AgentState.READY and agent.state is not AgentState.READY:
                agent.idle_since = change.at.timestamp()
            agent.state, agent.reason, agent.state_since = change.state, change.reason, change.at.timestamp()
            agent.call_id = change.call_id if change.state.value in ("ringing", "on_call") else None
        if self.timeline is not None:
            data: dict[str, Any] = {"agent": change.agent, "state": change.state.value, "reason": change.reason,
                                    "by": change.by, "from": change.previous.value}
            if change.call_id:
                data["call_id"] = change.call_id
            self.timeline.expect_new(self._stream)  # one stream per process: numbered here, never read back
            self.timeline.append(self._stream, ev.AGENT_STATE, data, at=change.at)
        log.info("agent.state", agent=change.agent, state=change.state.value, reason=change.reason, by=change.by)

    def add(self, agent: Agent) -> Agent:
        """Register (upsert) a seat; blocking: call it from a worker thread or at start-up."""
        return self._cache(self.store.upsert(agent, self.now()))

    async def ensure(self, agent: Agent) -> Agent:
        """The seat as the table has it, registered first when it is new."""
        known = self.view.agents.get(agent.id)
        if known is not None:
            return known
        return self._cache(await _in_seat_thread(self.store.upsert, agent, self.now()))

    async def refresh(self) -> None:
        """Copy the table into the view (every process's changes)."""
        self._take_snapshot(*await _in_seat_thread(self.store.snapshot))

    def load(self) -> None:
        """:meth:`refresh`, blocking (at start-up, before the loop serves anything)."""
        self._take_snapshot(*self.store.snapshot())

    def _take_snapshot(self, agents: list[Agent], seats: dict[str, list[str]]) -> None:
        fresh = {a.id: a for a in agents}
        for agent_id, agent in fresh.items():
            fresh[agent_id] = self._cache(agent)
        self.view.replace_all(fresh.values(), seats)

    # ------------------------------------------------------------------ reservations

    async def reserve(
        self,
        group: str | None,
        *,
        call_id: str,
        locale: str | None = None,
        tried: Iterable[str] = (),
        after: str | None = None,
        wanted: str | None = None,
    ) -> Agent | None:
        """Reserve the seat to ring next for ``call_id`` (longest idle; after ``after`` the neighbour seat, R-02;
        ``wanted`` first when ready), atomically across processes; None when no one is free. Raises
        :class:`AgentError` for a group without seats."""
        taking = _in_seat_thread(
            self.store.reserve, group, call_id=call_id, holder=self.holder, now=self.now(),
            lease_seconds=self.lease_seconds, locale=locale, tried=tuple(tried), after=after, wanted=wanted)
        try:
            agent = await asyncio.shield(taking)
        except asyncio.CancelledError:
            # The call ended while its reservation was being written: free what it took once it is written.
            taking.add_done_callback(lambda done: self._give_back(done, call_id))
            raise
        if agent is None:
            return None
        self._held[agent.id] = call_id
        previous = self.view.agents[agent.id].state if agent.id in self.view.agents else AgentState.READY
        agent = self._cache(agent)
        self._apply(StateChange(agent.id, AgentState.RINGING, None, previous, "router", self.now(), call_id))
        return agent

    def _give_back(self, done: asyncio.Future[Agent | None], call_id: str) -> None:
        if not done.cancelled() and done.exception() is None and (agent := done.result()) is not None:
            self.release_soon(agent.id, AgentState.READY, call_id=call_id)

    async def reserve_agent(self, agent_id: str, *, call_id: str) -> Agent | None:
        """That agent only (a preview callback rings the agent who clicked), when ready."""
        return await self.reserve(None, call_id=call_id, wanted=agent_id)

    def held_for(self, call_id: str) -> list[str]:
        """The seats this process holds reserved for ``call_id`` (and renews the leases of)."""
        return [agent for agent, held in self._held.items() if held == call_id]

    async def answered(self, agent_id: str, call_id: str) -> None:
        now = self.now()
        if await _in_seat_thread(self.store.answered, agent_id, call_id, now):
            self._apply(StateChange(agent_id, AgentState.ON_CALL, None, AgentState.RINGING, "router", now, call_id))

    async def release(self, agent_id: str, state: AgentState, *, call_id: str, reason: str | None = None,
                      by: str = "router") -> None:
        """End ``call_id``'s reservation of the seat, leaving it in ``state`` (ready after a caller gave up,
        wrap-up after a call, not ready or offline after a missed ring)."""
        self._held.pop(agent_id, None)
        change = await _in_seat_thread(self.store.release, agent_id, state, call_id=call_id, reason=reason,
                                         now=self.now(), by=by)
        if change is not None:
            self._apply(change)

    async def release_call(self, call_id: str, *, by: str = "adopted") -> None:
        """Free the seats a call holds whoever reserved them (a process that took over a dead one's call hangs
        its agent legs up: those agents are not left waiting for the dead process's lease)."""
        for change in await _in_seat_thread(self.store.release_call, call_id, now=self.now(), by=by,
                                                 not_holder=self.holder):
            self._held.pop(change.agent, None)
            self._apply(change)

    def release_soon(self, agent_id: str, state: AgentState, *, call_id: str, reason: str | None = None,
                     by: str = "router") -> None:
        """:meth:`release` from code that cannot wait (a clean-up while the call's task is being cancelled)."""
        task = asyncio.get_running_loop().create_task(
            self.release(agent_id, state, call_id=call_id, reason=reason, by=by))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Wait for the releases started by :meth:`release_soon` (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def set_state(self, agent_id: str, state: AgentState, *, reason: str | None = None,
                        by: str | None = None) -> Agent:
        """The agent's own change (or a supervisor's, ``by``): ready, not ready with a reason code, wrap-up,
        offline. :class:`AgentError` (one line) for an unknown reason or a seat that rings or is on a call."""
        if state in (AgentState.RINGING, AgentState.ON_CALL):
            raise AgentError(f"state: {state.value} is set by the router, not by hand")
        reason = check_reason(state, reason, self.reason_codes)
        change = await _in_seat_thread(self.store.set_state, agent_id, state, reason=reason, now=self.now(),
                                         by=by or agent_id)
        if agent_id not in self.view.agents:
            await self.refresh()
        self._apply(change)
        return self.view.get(agent_id)

    # ------------------------------------------------------------------ upkeep

    async def upkeep(self) -> list[StateChange]:
        """Renew this process's leases, release dead processes' seats and overdue wrap-ups, refresh the view."""
        now = self.now()
        await _in_seat_thread(self.store.renew, self.holder, set(self._held.values()), now, self.lease_seconds)
        changes = await _in_seat_thread(self.store.sweep, now, wrap_up_max_seconds=self.wrap_up_max_seconds,
                                          wrap_up_overdue=self.wrap_up_overdue)
        for change in changes:
            if self._held.get(change.agent) == change.call_id:
                self._held.pop(change.agent, None)
            self._apply(change)
        await self.refresh()
        return changes

    async def run_upkeep(self, interval: float | None = None) -> None:
        """:meth:`upkeep` every ``interval`` seconds until cancelled: by default every 2 s (the wallboard's counts
        are that fresh) and at least three times a lease."""
        every = interval if interval is not None else min(2.0, self.lease_seconds / 3)
        while True:
            try:
                await self.upkeep()
            except Exception:  # the database may be back next round; the leases have two more chances
                log.exception("seats.upkeep_failed")
            await asyncio.sleep(every)
