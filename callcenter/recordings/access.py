"""Who may do what with a recording, and the tamper-evident ledger of every access (R-111, R-112, R-116, R-82).

Roles (R-111: replay needs a role or grant; R-112: no download without approval; R-116: deletion is audited):

============  =========================  ==========================  =================  ======  ====
role          list                       play                        download / export  delete  hold
============  =========================  ==========================  =================  ======  ====
agent         own calls                  own calls                   approval           no      no
qa            all                        all                         approval           no      no
supervisor    all                        all                         approval           no      yes
admin         all                        all                         approval           yes     yes
============  =========================  ==========================  =================  ======  ====

What a role may not do (another agent's call, a confidential call without the grant, any download or export)
is possible only through an approved access request (:mod:`callcenter.recordings.requests`): a supervisor or
an admin other than the requester approves it for a bounded set of recordings until a given time.

A confidential recording (its own flag, or any linked work order marked confidential, R-82/R-144) is visible
only to supervisors, admins, and QA reviewers holding the explicit ``confidential_access`` grant.

The ledger is one hash chain: entry *n* stores ``prev_hash`` = hash of entry *n-1* and ``hash`` =
sha256(prev_hash, canonical JSON of its own fields). Appends lock the single :class:`LedgerHead` row, so several
processes append in one order; :func:`verify_ledger` recomputes the chain and names the first entry that was
edited, removed or moved, and compares the end of the chain with the head so removing the newest entries
shows too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from callcenter.recordings.errors import LedgerError
from callcenter.recordings.models import LedgerEntry, LedgerHead

ROLES = ("agent", "qa", "supervisor", "admin")
LIST, PLAY, DOWNLOAD, DELETE, HOLD, PURGE = "list", "play", "download", "delete", "hold", "purge"
EXPORT = "export"
ACTIONS = (LIST, PLAY, DOWNLOAD, EXPORT, DELETE, HOLD)
# Ledger actions of the access requests: filing, deciding and revoking are audited like accesses.
REQUEST, APPROVE, REFUSE, REVOKE = "request", "approve", "refuse", "revoke"
# What each role may do at all; "own calls only" for agents is checked in :func:`refusal`.
_ALLOWED: dict[str, frozenset[str]] = {
    "agent": frozenset({LIST, PLAY}),
    "qa": frozenset({LIST, PLAY}),
    # no role downloads or exports by right; an approved request is the only way (requests.py).
    "supervisor": frozenset({LIST, PLAY, HOLD}),
    "admin": frozenset({LIST, PLAY, DELETE, HOLD}),
}
GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Actor:
    """A person (or the sweeper) acting on recordings: name, role, and the R-82 confidential grant."""

    name: str
    role: str
    confidential_access: bool = False
    # The id the telephony side records as the call's agent (work number 工号), when it differs from the name.
    agent_id: str | None = None

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise ValueError("an actor needs a name of 1 to 64 characters")
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")

    @property
    def sees_confidential(self) -> bool:
        """R-82: confidential recordings are for supervisors, admins and explicitly granted QA."""
        return self.role in ("supervisor", "admin") or (self.role == "qa" and self.confidential_access)

    @property
    def own_calls_only(self) -> bool:
        return self.role == "agent"

    @property
    def agent_names(self) -> tuple[str, ...]:
        """The values of ``Recording.agent`` that mean "this actor's own call"."""
        return (self.name,) if self.agent_id is None else (self.name, self.agent_id)


def refusal(actor: Actor, action: str, *, agent: str | None, confidential: bool) -> str | None:
    """None when ``actor`` may do ``action`` on a recording of ``agent``; else the reason it may not."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if action not in _ALLOWED[actor.role]:
        return f"role {actor.role} may not {action} recordings"
    if actor.own_calls_only and agent not in actor.agent_names:
        return f"agent {actor.name} may only {action} recordings of own calls"
    if confidential and not actor.sees_confidential:
        return "the recording is confidential (R-82) and the actor has no confidential grant"
    return None


# ---------------------------------------------------------------------------------------------- the ledger


@dataclass(frozen=True)
class LedgerRecord:
    """One access to append: what happened, by whom, allowed or denied, and a free-text detail (purpose)."""

    actor: str
    role: str
    action: str
    recording_id: int | None
    allowed: bool
    detail: str
    at: datetime


def _utc_text(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands timestamps back naive; they were written as UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, seq: int, rec: LedgerRecord) -> str:
    """sha256 over the previous hash and this entry's fields, in a fixed canonical JSON form."""
    body = json.dumps(
        [seq, _utc_text(rec.at), rec.actor, rec.role, rec.action, rec.recording_id, bool(rec.allowed), rec.detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append_ledger(session: Session, records: Sequence[LedgerRecord]) -> list[int]:
    """Append ``records`` in order inside the caller's transaction; returns their sequence numbers.

    The head row is updated first: that takes its row lock (PostgreSQL) or the write lock (SQLite) before the
    previous hash is read, so concurrent appenders queue instead of forking the chain.
    """
    if not records:
        return []
    row = session.execute(
        update(LedgerHead)
        .where(LedgerHead.id == 1)
        .values(seq=LedgerHead.seq + len(records))
        .returning(LedgerHead.seq, LedgerHead.hash)
    ).first()
    if row is None:
        raise LedgerError("the access ledger has no head row: run `callcenter db upgrade`")
    last_seq, prev = int(row[0]), str(row[1])
    first = last_seq - len(records) + 1
    rows: list[dict[str, Any]] = []
    for offset, rec in enumerate(records):
        seq = first + offset
        digest = entry_hash(prev, seq, rec)
        rows.append(
            {
                "seq": seq,
                "at": rec.at,
                "actor": rec.actor,
                "role": rec.role,
                "action": rec.action,
                "recording_id": rec.recording_id,
                "allowed": rec.allowed,
                "detail": rec.detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.execute(insert(LedgerEntry), rows)
    session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(hash=prev))
    return [r["seq"] for r in rows]


@dataclass(frozen=True)
class LedgerVerdict:
    """Result of :func:`verify_ledger`: ``first_bad`` is the sequence number of the first bad entry."""

    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"access ledger intact: {self.entries} entries, chain and head agree"
        return f"access ledger broken at entry {self.first_bad}: {self.problem}"


def verify_ledger(session: Session, chunk: int = 5000) -> LedgerVerdict:
    """Recompute the whole chain in sequence order (streamed) and report the first entry that does not fit."""
    expected_seq, prev, count = 1, GENESIS_HASH, 0
    rows = session.execute(select(LedgerEntry).order_by(LedgerEntry.seq).execution_options(yield_per=chunk))
    for entry in rows.scalars():
        if entry.seq != expected_seq:
            return LedgerVerdict(False, count, expected_seq, f"entry {expected_seq} is missing (removed)")
        rec = LedgerRecord(
            entry.actor, entry.role, entry.action, entry.recording_id, entry.allowed, entry.detail, entry.at
        )
        if entry_hash(entry.prev_hash, entry.seq, rec) != entry.hash:
            return LedgerVerdict(False, count, entry.seq, "its content does not match its hash (edited or moved)")
        if entry.prev_hash != prev:
            return LedgerVerdict(
                False, count, entry.seq, f"it does not follow entry {entry.seq - 1} (an entry was edited or reordered)"
            )
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    head = session.get(LedgerHead, 1)
    if head is None:
        return LedgerVerdict(False, count, None, "the ledger head row is missing")
    if head.seq != count or head.hash != prev:
        return LedgerVerdict(
            False, count, count + 1, f"the head says {head.seq} entries but the chain ends at {count} (entries removed)"
        )
    return LedgerVerdict(True, count)
