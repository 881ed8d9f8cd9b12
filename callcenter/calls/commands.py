"""Which process holds each live call, and the commands other processes send it (issue 17), in the database.

Several ``callcenter serve`` processes share one PostgreSQL; a call's ARI channel (or FastAGI connection) lives
in exactly one of them. A button pressed on another process's page must reach that one:

- ``call_owners``: one row per live call — the call, the process that holds it (``host:pid``), its Asterisk
  server, since when. Written when the call starts (or is adopted after a restart: the adopter takes the row
  over), removed when it ends; a process taking over a server drops the rows its dead predecessor left.
- ``call_commands``: one row per command carried to another process — the call, what to do (``kind`` and JSON
  ``args``), from which process to which (the call's owner), its ``state`` and JSON ``result``:
  ``pending`` → ``running`` (the owner took it) → ``done`` | ``failed``; or ``not_live`` when nobody took it
  within the sender's bound (the owner died, or let the call go). A row that left ``pending`` is never taken
  again, so a command runs at most once. On PostgreSQL each write ends its transaction with
  ``NOTIFY callcenter_commands`` (:data:`CHANNEL`: ``cmd <to> <id>`` for the owner, ``end <from> <id>
  [<state> <result JSON>]`` for the sender), which :mod:`callcenter.calls.commands_bus` listens for;
  everything is also found by polling.

Everything here is blocking (SQLAlchemy); the bus calls it in worker threads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store import Base, is_embedded, session_scope

CHANNEL = "callcenter_commands"
PENDING, RUNNING, DONE, FAILED, NOT_LIVE = "pending", "running", "done", "failed", "not_live"
FINAL = frozenset({DONE, FAILED, NOT_LIVE})
NOTIFY_ROOM = 7000  # bytes of a notification's payload we use (PostgreSQL's limit is 8000)


class CallOwnerRecord(Base):
    __tablename__ = "call_owners"
    __table_args__ = (Index("ix_call_owners_server_process", "server", "process"),)

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    process: Mapped[str] = mapped_column(String(80))
    server: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CallCommandRecord(Base):
    __tablename__ = "call_commands"
    __table_args__ = (Index("ix_call_commands_to_state", "to_process", "state"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[str] = mapped_column(Text)
    from_process: Mapped[str] = mapped_column(String(80))
    to_process: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(12))
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True, slots=True)
class Owner:
    call_id: str
    process: str
    server: str
    since: datetime


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    call_id: str
    kind: str
    args: dict[str, Any]
    from_process: str
    to_process: str
    state: str = PENDING
    result: dict[str, Any] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _notify(session: Any, url: str, payload: str) -> None:
    """Wake the listeners when this transaction commits (PostgreSQL; SQLite's one process polls)."""
    if not is_embedded(url):
        session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


# ---------------------------------------------------------------------- call_owners


def hold_call(url: str, call_id: str, process: str, server: str, at: datetime | None = None) -> None:
    """``process`` holds ``call_id`` now (a new call, or one it adopted: the row is taken over)."""
    at = at or _now()
    with session_scope(url) as s:
        changed = s.execute(update(CallOwnerRecord).where(CallOwnerRecord.call_id == call_id)
                            .values(process=process, server=server, since=at)).rowcount  # type: ignore[attr-defined]
        if changed:
            return
        try:
            with s.begin_nested():
                s.add(CallOwnerRecord(call_id=call_id, process=process, server=server, since=at))
        except IntegrityError:  # another process inserted it meanwhile: the latest holder wins
            s.execute(update(CallOwnerRecord).where(CallOwnerRecord.call_id == call_id)
                      .values(process=process, server=server, since=at))


def let_go(url: str, call_id: str, process: str) -> None:
    """The call ended here (a row another process has since taken over stays)."""
    with session_scope(url) as s:
        s.execute(delete(CallOwnerRecord).where(CallOwnerRecord.call_id == call_id,
                                                CallOwnerRecord.process == process))


def owner_of(url: str, call_id: str) -> Owner | None:
    with session_scope(url) as s:
        row = s.get(CallOwnerRecord, call_id)
        return None if row is None else Owner(row.call_id, row.process, row.server, row.since)


def take_over_server(url: str, server: str, process: str) -> int:
    """``process`` now holds ``server``'s application: the rows of any other holder are stale (its calls are
    adopted again by this process's reconcile, which writes them anew). Returns how many were dropped."""
    with session_scope(url) as s:
        dropped: int = s.execute(delete(CallOwnerRecord).where(  # type: ignore[attr-defined]
            CallOwnerRecord.server == server, CallOwnerRecord.process != process)).rowcount
        return dropped


def release_process(url: str, process: str) -> int:
    """``process`` stops: its rows go (calls still up are adopted by whoever takes their server)."""
    with session_scope(url) as s:
        dropped: int = s.execute(delete(CallOwnerRecord).where(  # type: ignore[attr-defined]
            CallOwnerRecord.process == process)).rowcount
        return dropped


def owners(url: str) -> list[Owner]:
    with session_scope(url) as s:
        rows = s.scalars(select(CallOwnerRecord).order_by(CallOwnerRecord.since)).all()
        return [Owner(r.call_id, r.process, r.server, r.since) for r in rows]


# ---------------------------------------------------------------------- call_commands


def submit_to_owner(url: str, call_id: str, kind: str, args: Mapping[str, Any],
                    from_process: str) -> tuple[int | None, Owner | None, bool]:
    """One transaction: find the call's owner and, when it is another process, write the command for it.
    Returns (command id or None, the owner or None, whether the owner listens now: PostgreSQL's
    ``pg_stat_activity`` has its connection named ``listener_name(owner)``; always True on SQLite)."""
    with session_scope(url) as s:
        row = s.get(CallOwnerRecord, call_id)
        if row is None:
            return None, None, False
        owner = Owner(row.call_id, row.process, row.server, row.since)
        if owner.process == from_process:
            return None, owner, True
        alive = is_embedded(url) or s.execute(
            text("SELECT 1 FROM pg_stat_activity WHERE application_name = :name LIMIT 1"),
            {"name": listener_name(owner.process)}).first() is not None
        command = CallCommandRecord(call_id=call_id, kind=kind, args=json.dumps(dict(args), ensure_ascii=False),
                                    from_process=from_process, to_process=owner.process, state=PENDING,
                                    created_at=_now())
        s.add(command)
        s.flush()
        _notify(s, url, f"cmd {owner.process} {command.id}")
        return int(command.id), owner, alive


def listener_name(process: str) -> str:
    """The ``application_name`` of a process's listening connection (PostgreSQL keeps 63 bytes)."""
    return f"cc cmd {process}"[:63]


def submit(url: str, call_id: str, kind: str, args: Mapping[str, Any], from_process: str, to_process: str) -> int:
    """A new pending command for ``to_process``; its id."""
    with session_scope(url) as s:
        row = CallCommandRecord(call_id=call_id, kind=kind, args=json.dumps(dict(args), ensure_ascii=False),
                                from_process=from_process, to_process=to_process, state=PENDING,
                                created_at=_now())
        s.add(row)
        s.flush()
        _notify(s, url, f"cmd {to_process} {row.id}")
        return int(row.id)


def take(url: str, command_id: int) -> Command | None:
    """The owner starts on a command: the command when it was still pending (then nobody else will run it)."""
    with session_scope(url) as s:
        row = s.execute(update(CallCommandRecord).where(
            CallCommandRecord.id == command_id, CallCommandRecord.state == PENDING).values(state=RUNNING)
            .returning(CallCommandRecord)).scalar_one_or_none()
        return None if row is None else _command(row)


def finish(url: str, command_id: int, state: str, result: Mapping[str, Any]) -> None:
    """The owner's outcome (``done`` or ``failed``), or the sender giving up on a pending one (``not_live``)."""
    if state not in FINAL:
        raise ValueError(f"a command finishes done, failed or not_live, not {state!r}")
    with session_scope(url) as s:
        row = s.get(CallCommandRecord, command_id)
        if row is None or row.state in FINAL or (state == NOT_LIVE and row.state != PENDING):
            return
        text_result = json.dumps(dict(result), ensure_ascii=False)
        row.state, row.result, row.finished_at = state, text_result, _now()
        # The outcome rides on the notification when it fits (NOTIFY carries < 8000 bytes): the sender need not
        # read the row back.
        payload = f"end {row.from_process} {command_id}"
        if len(payload.encode()) + len(text_result.encode()) < NOTIFY_ROOM:
            payload = f"{payload} {state} {text_result}"
        _notify(s, url, payload)


def expire(url: str, command_id: int) -> bool:
    """The sender's bound ran out: a still pending command becomes ``not_live`` (True); a running one goes on."""
    with session_scope(url) as s:
        changed: int = s.execute(update(CallCommandRecord).where(  # type: ignore[attr-defined]
            CallCommandRecord.id == command_id, CallCommandRecord.state == PENDING).values(
            state=NOT_LIVE, result=json.dumps({"error": "the call's process did not answer"}),
            finished_at=_now())).rowcount
        return changed == 1


def command(url: str, command_id: int) -> Command | None:
    with session_scope(url) as s:
        row = s.get(CallCommandRecord, command_id)
        return None if row is None else _command(row)


def pending_for(url: str, process: str, limit: int = 100) -> list[Command]:
    """Commands waiting for ``process``, oldest first (what a missed notification left)."""
    with session_scope(url) as s:
        rows = s.scalars(select(CallCommandRecord).where(CallCommandRecord.to_process == process,
                                                         CallCommandRecord.state == PENDING)
                         .order_by(CallCommandRecord.id).limit(limit)).all()
        return [_command(r) for r in rows]


def purge_finished(url: str, before: datetime) -> int:
    """Finished commands older than ``before`` go (the timeline keeps what the actions did)."""
    with session_scope(url) as s:
        dropped: int = s.execute(delete(CallCommandRecord).where(  # type: ignore[attr-defined]
            CallCommandRecord.state.in_(sorted(FINAL)), CallCommandRecord.finished_at < before)).rowcount
        return dropped


def counts(url: str) -> dict[str, int]:
    """Commands by state (the health board and the tests)."""
    with session_scope(url) as s:
        return {state: int(n) for state, n in s.execute(
            select(CallCommandRecord.state, func.count()).group_by(CallCommandRecord.state)).all()}


def _command(row: CallCommandRecord) -> Command:
    return Command(int(row.id), row.call_id, row.kind, json.loads(row.args or "{}"), row.from_process,
                   row.to_process, row.state, json.loads(row.result) if row.result else {})
