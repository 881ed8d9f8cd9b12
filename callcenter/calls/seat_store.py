"""The centre's seats in the database: reserving a seat for a call, states, leases (issue 17, R-01, R-02).

Reserving is one transaction that reads the group's seats, asks :func:`~callcenter.calls.agents.rank_seats`
who should ring (longest idle, or the neighbour seat after ``after``, locale skill first, the tried ones left
out), then takes the first candidate it can lock: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (a seat
another process is reserving this instant is passed over, never waited for) and an ``UPDATE … WHERE state =
'ready'`` guarded by the row's state, checked by its row count. On SQLite the transaction first takes the
database's one write lock (``BEGIN IMMEDIATE`` in effect), so the seats read are the seats updated and the row
lock is a no-op: one code path, two engines. Two processes therefore never ring one agent for two calls.

A reservation carries the call, the process that holds it (``holder``) and a lease; the holder renews the
leases of the calls it still carries, and :meth:`SeatStore.sweep` releases a seat whose lease ran out: its
process died with the call (ringing → ready; on a call → wrap-up, the agent's call was cut off).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.calls.agents import Agent, AgentError, AgentState, rank_seats
from callcenter.calls.seats import Seat, SeatGroup
from callcenter.store import session_factory, session_scope

# Seats a process may still carry a call on without renewing (a reservation left by a dead process).
RESERVED = (AgentState.RINGING.value, AgentState.ON_CALL.value)

# SQLite has one writer: this process's seat writers queue here instead of in SQLite's busy handler, whose
# growing sleeps (up to 100 ms a try) made a reservation wait a second under four threads.
_SQLITE_WRITERS: dict[str, threading.Lock] = {}


@dataclass(frozen=True)
class StateChange:
    """One seat's state change, for the timeline's ``agent.state`` event."""

    agent: str
    state: AgentState
    reason: str | None
    previous: AgentState
    by: str
    at: datetime
    call_id: str | None = None


def utc(value: datetime) -> datetime:
    """SQLite hands a stored instant back without its zone; every instant here is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _agent(seat: Seat, groups: tuple[str, ...]) -> Agent:
    return Agent(
        seat.agent_id, seat.endpoint, seat.work_number, seat.name, groups, tuple(seat.locales),
        AgentState(seat.state), utc(seat.idle_since).timestamp(), seat.reason, utc(seat.state_since).timestamp(),
        seat.call_id,
    )


class SeatStore:
    """The seats of one database (SQLite or PostgreSQL); every method is one short transaction (call it from a
    worker thread: :class:`~callcenter.calls.seat_pool.SeatPool` does)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sessions = session_factory(url)
        self._sqlite = url.startswith("sqlite")
        self._queue = _SQLITE_WRITERS.setdefault(url, threading.Lock()) if self._sqlite else None

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._queue or nullcontext(), session_scope(self.url) as session:
            if self._sqlite:
                # Take SQLite's one write lock before reading, so the seats read are the seats updated.
                session.execute(text("UPDATE agent_seats SET agent_id = agent_id WHERE 0 = 1"))
            yield session

    # ------------------------------------------------------------------ seats

    def upsert(self, agent: Agent, now: datetime) -> Agent:
        """Add the seat (offline) or update its phone, name, skills and groups; its state is left as it is."""
        try:
            return self._upsert(agent, now)
        except IntegrityError:
            # Processes started at the same moment add the same seat: one insert wins, this one updates it.
            return self._upsert(agent, now)

    def _upsert(self, agent: Agent, now: datetime) -> Agent:
        with self._writing() as s:
            seat = s.get(Seat, agent.id)
            if seat is None:
                seat = Seat(agent_id=agent.id, state=AgentState.OFFLINE.value, reason=None, state_since=now,
                            idle_since=now)
                s.add(seat)
            seat.endpoint, seat.work_number, seat.name = agent.endpoint, agent.work_number, agent.name
            seat.locales = list(agent.locales)
            have = set(s.scalars(select(SeatGroup.group_name).where(SeatGroup.agent_id == agent.id)))
            s.flush()
            for group in agent.groups:
                if group not in have:  # a new member sits at the right end of the group's row
                    last = s.scalar(select(func.max(SeatGroup.position)).where(SeatGroup.group_name == group))
                    s.add(SeatGroup(group_name=group, agent_id=agent.id, position=(last or 0) + 1))
            s.flush()
            return _agent(seat, self._groups_of(s, agent.id))

    def remove(self, agent_id: str) -> None:
        with self._writing() as s:
            s.execute(delete(SeatGroup).where(SeatGroup.agent_id == agent_id))
            s.execute(delete(Seat).where(Seat.agent_id == agent_id))

    def _groups_of(self, s: Session, agent_id: str) -> tuple[str, ...]:
        rows = s.execute(select(SeatGroup.group_name).where(SeatGroup.agent_id == agent_id)
                         .order_by(SeatGroup.group_name))
        return tuple(r[0] for r in rows)

    def snapshot(self) -> tuple[list[Agent], dict[str, list[str]]]:
        """Every seat of the centre and each group's seat order."""
        with self._sessions() as s:
            members = s.execute(select(SeatGroup.group_name, SeatGroup.agent_id)
                                .order_by(SeatGroup.group_name, SeatGroup.position, SeatGroup.agent_id)).all()
            groups: dict[str, list[str]] = {}
            of_agent: dict[str, list[str]] = {}
            for group, agent_id in members:
                groups.setdefault(group, []).append(agent_id)
                of_agent.setdefault(agent_id, []).append(group)
            seats = s.scalars(select(Seat).order_by(Seat.agent_id)).all()
            return [_agent(seat, tuple(of_agent.get(seat.agent_id, ()))) for seat in seats], groups

    def counts(self) -> dict[str, int]:
        """Seats by state across the centre (every process's), for the wallboard and the health board."""
        out = {st.value: 0 for st in AgentState}
        with self._sessions() as s:
            for state, n in s.execute(select(Seat.state, func.count()).group_by(Seat.state)):
                out[state] = int(n)
        return out

    # ------------------------------------------------------------------ reserving

    def _group_seats(self, s: Session, group: str) -> list[Agent]:
        """The group's seats in seat order, with what the choice needs (state, idle since, skills)."""
        rows = s.execute(select(Seat.agent_id, Seat.state, Seat.idle_since, Seat.locales)
                         .join(SeatGroup, SeatGroup.agent_id == Seat.agent_id)
                         .where(SeatGroup.group_name == group).order_by(SeatGroup.position, Seat.agent_id))
        return [Agent(agent_id, "", "", groups=(group,), locales=tuple(locales or ()), state=AgentState(state),
                      idle_since=utc(idle).timestamp()) for agent_id, state, idle, locales in rows]

    def reserve(
        self,
        group: str | None,
        *,
        call_id: str,
        holder: str,
        now: datetime,
        lease_seconds: float,
        locale: str | None = None,
        tried: Iterable[str] = (),
        after: str | None = None,
        wanted: str | None = None,
    ) -> Agent | None:
        """Reserve the seat that should ring next for ``call_id`` (ready → ringing), or None when nobody is free.

        ``wanted``: that agent first when ready (a transfer to a named agent); ``group`` None: nobody else.
        :class:`AgentError` for a group with no seats.
        """
        skip = set(tried)
        with self._writing() as s:
            order: list[str] = []
            if wanted is not None and wanted not in skip:
                order.append(wanted)
            if group is not None:
                seats = self._group_seats(s, group)
                if not seats:
                    raise AgentError(f"unknown agent group {group!r}")
                order += [a.id for a in rank_seats(seats, locale=locale, tried=skip, after=after)
                          if a.id != wanted]
            for agent_id in order:
                got = self._take(s, agent_id, call_id, holder, now, lease_seconds)
                if got is not None:
                    return got
            return None

    def _take(self, s: Session, agent_id: str, call_id: str, holder: str, now: datetime,
              lease_seconds: float) -> Agent | None:
        # One statement: PostgreSQL locks the seat only if it is ready and no other transaction holds it (SKIP
        # LOCKED: a seat another process is reserving this instant is passed over, never waited for); SQLite
        # renders no FOR UPDATE and already holds the write lock. The state guard makes the row count the answer.
        free = (select(Seat.agent_id).where(Seat.agent_id == agent_id, Seat.state == AgentState.READY.value)
                .with_for_update(skip_locked=True).scalar_subquery())
        row = s.execute(
            update(Seat).where(Seat.agent_id == free, Seat.state == AgentState.READY.value)
            .values(state=AgentState.RINGING.value, reason=None, state_since=now, call_id=call_id, holder=holder,
                    expires_at=now + timedelta(seconds=lease_seconds))
            .returning(Seat.agent_id, Seat.endpoint, Seat.work_number, Seat.name, Seat.locales, Seat.idle_since)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            return None
        return Agent(row.agent_id, row.endpoint, row.work_number, row.name, self._groups_of(s, agent_id),
                     tuple(row.locales or ()), AgentState.RINGING, utc(row.idle_since).timestamp(), None,
                     now.timestamp(), call_id)

    def answered(self, agent_id: str, call_id: str, now: datetime) -> bool:
        """Ringing → on call, for the call that reserved the seat."""
        with self._writing() as s:
            done = s.execute(update(Seat).where(Seat.agent_id == agent_id, Seat.call_id == call_id)
                             .values(state=AgentState.ON_CALL.value, state_since=now)
                             .execution_options(synchronize_session=False))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def release(self, agent_id: str, state: AgentState, *, call_id: str, reason: str | None, now: datetime,
                by: str) -> StateChange | None:
        """End the reservation ``call_id`` holds on the seat, leaving it in ``state``; None when the seat is no
        longer that call's (its lease ran out and another call has it)."""
        with self._writing() as s:
            seat = s.scalar(select(Seat).where(Seat.agent_id == agent_id, Seat.call_id == call_id)
                            .with_for_update())
            if seat is None:
                return None
            return self._set(seat, state, reason, now, by, call_id)

    def release_call(self, call_id: str, *, now: datetime, by: str, not_holder: str) -> list[StateChange]:
        """Free every seat another holder than ``not_holder`` reserved for ``call_id`` (its process died and this
        one took the call over): a seat still ringing is ready again, one whose conversation was cut goes to
        wrap-up. The taker's own new reservations for the call are left alone."""
        with self._writing() as s:
            seats = s.scalars(select(Seat).where(Seat.call_id == call_id, Seat.holder != not_holder)
                              .with_for_update()).all()
            return [self._set(seat, AgentState.AFTER_CALL if seat.state == AgentState.ON_CALL.value
                              else AgentState.READY, None, now, by, call_id) for seat in seats]

    def _set(self, seat: Seat, state: AgentState, reason: str | None, now: datetime, by: str,
             call_id: str | None = None) -> StateChange:
        previous = AgentState(seat.state)
        if state is AgentState.READY and previous is not AgentState.READY:
            seat.idle_since = now
        seat.state, seat.reason, seat.state_since = state.value, reason, now
        if state.value not in RESERVED:
            seat.call_id = seat.holder = seat.expires_at = None
        return StateChange(seat.agent_id, state, reason, previous, by, now, call_id)

    def set_state(self, agent_id: str, state: AgentState, *, reason: str | None, now: datetime,
                  by: str) -> StateChange:
        """The agent's (or a supervisor's) own change; refused while the seat rings or carries a call."""
        with self._writing() as s:
            seat = s.scalar(select(Seat).where(Seat.agent_id == agent_id).with_for_update())
            if seat is None:
                raise AgentError(f"unknown agent {agent_id!r}")
            if seat.state in RESERVED:
                raise AgentError(f"seat {agent_id} is {seat.state}: change its state after the call")
            return self._set(seat, state, reason, now, by)

    # ------------------------------------------------------------------ leases

    def renew(self, holder: str, call_ids: Iterable[str], now: datetime, lease_seconds: float) -> int:
        """Extend the leases of the calls this holder still carries."""
        calls = list(call_ids)
        if not calls:
            return 0
        with self._writing() as s:
            done = s.execute(update(Seat).where(Seat.holder == holder, Seat.call_id.in_(calls))
                             .values(expires_at=now + timedelta(seconds=lease_seconds))
                             .execution_options(synchronize_session=False))
            return int(done.rowcount)  # type: ignore[attr-defined]

    def sweep(self, now: datetime, *, wrap_up_max_seconds: float = 0.0, wrap_up_overdue: str = "ready",
              ) -> list[StateChange]:
        """Release seats whose lease ran out, and end (or flag) wrap-ups longer than the maximum.

        Safe in every process at once: each seat is locked with SKIP LOCKED (PostgreSQL) or under the write lock
        (SQLite) and changed only while its condition still holds, so no seat is released twice.
        """
        changes: list[StateChange] = []
        with self._writing() as s:
            expired = s.scalars(select(Seat).where(Seat.expires_at.is_not(None), Seat.expires_at < now)
                                .with_for_update(skip_locked=True)).all()
            for seat in expired:
                gone = seat.call_id
                if seat.state == AgentState.ON_CALL.value:  # the call was cut off with its process
                    changes.append(self._set(seat, AgentState.AFTER_CALL, "lease_expired", now, "lease", gone))
                else:
                    changes.append(self._set(seat, AgentState.READY, None, now, "lease", gone))
            if wrap_up_max_seconds > 0:
                since = now - timedelta(seconds=wrap_up_max_seconds)
                overdue = s.scalars(select(Seat).where(
                    Seat.state == AgentState.AFTER_CALL.value, Seat.state_since <= since,
                    (Seat.reason.is_(None)) | (Seat.reason != "wrap_up_overdue"),
                ).with_for_update(skip_locked=True)).all()
                for seat in overdue:
                    if wrap_up_overdue == "flag":
                        # Flagged, not freed: the supervisor sees it; the wrap-up's own start stays its start.
                        started = seat.state_since
                        change = self._set(seat, AgentState.AFTER_CALL, "wrap_up_overdue", now, "wrap_up_max")
                        seat.state_since = started
                        changes.append(change)
                    else:
                        changes.append(self._set(seat, AgentState.READY, None, now, "wrap_up_max"))
        return changes
