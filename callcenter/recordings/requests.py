"""Access requests: ask for what the role does not allow, a supervisor decides (R-111, R-112, R-114).

A requester asks to ``play``, ``download`` or ``export`` one recording or a bounded set (a list of ids, or the
recordings of one call) for a stated purpose. A supervisor or admin other than the requester approves it
until a time (at most :data:`MAX_VALID_DAYS` ahead) or refuses it, with a reason either way; an approval can
be revoked. A subject-access request (R-114, ``kind="subject"``) is filed for a customer or an employee who
asked to hear their own call: it names them and how their identity was verified, covers only their own calls
(the caller number or the agent of each recording), and its approver must confirm the verification.

Every request, decision and revocation is written to the hash-chained access ledger, one entry per recording.
The approval itself is checked on the server at every play, download and export (:func:`approval_refusal`):
an approval that is pending, refused, revoked, expired, someone else's, for another recording or for another
action is refused with its reason. Time comes from an injected clock, never from the wall.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.recordings.access import (
    APPROVE,
    DOWNLOAD,
    EXPORT,
    PLAY,
    REFUSE,
    REQUEST,
    REVOKE,
    Actor,
    LedgerRecord,
    append_ledger,
)
from callcenter.recordings.errors import AccessDenied, RecordingError, RecordingNotFound
from callcenter.recordings.models import AccessRequest, Recording
from callcenter.recordings.views import as_utc
from callcenter.store import session_scope

REQUEST_ACTIONS = (PLAY, DOWNLOAD, EXPORT)
ACTION_LABELS = {PLAY: "播放", DOWNLOAD: "下载", EXPORT: "导出"}
REVIEW, SUBJECT = "review", "subject"
KINDS = (REVIEW, SUBJECT)
SUBJECT_KINDS = ("customer", "employee")
PENDING, APPROVED, REFUSED, REVOKED = "pending", "approved", "refused", "revoked"
STATUS_LABELS = {PENDING: "待审批", APPROVED: "已批准", REFUSED: "已拒绝", REVOKED: "已撤销", "expired": "已过期"}
APPROVERS = ("supervisor", "admin")
MAX_RECORDINGS = 50
MAX_VALID_DAYS = 30
MAX_TEXT = 500


class RequestError(RecordingError):
    """A request or a decision that cannot be accepted as given (the message says which field and why)."""


class ApprovalRefused(AccessDenied):
    """An approval id that does not allow this access now (pending, refused, revoked, expired or forged)."""


@dataclass(frozen=True)
class Subject:
    """The customer or employee of a subject-access request (R-114) and how their identity was checked."""

    kind: str  # customer | employee
    name: str
    contact: str  # the customer's phone number, or the employee's agent id (工号 or account name)
    verification: str  # e.g. "回拨登记号码并核对工单号"


@dataclass(frozen=True)
class RequestInfo:
    """One request as the pages show it; ``state`` is the status with expiry applied at ``now``."""

    id: int
    kind: str
    requester: str
    requester_role: str
    action: str
    recording_ids: tuple[int, ...]
    call_id: str | None
    purpose: str
    subject: Subject | None
    status: str
    state: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    valid_until: datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        subject = None if self.subject is None else {
            "kind": self.subject.kind, "name": self.subject.name, "contact": self.subject.contact,
            "verification": self.subject.verification}
        return {
            "id": self.id, "kind": self.kind, "requester": self.requester, "requester_role": self.requester_role,
            "action": self.action, "action_label": ACTION_LABELS[self.action],
            "recording_ids": list(self.recording_ids), "call_id": self.call_id, "purpose": self.purpose,
            "subject": subject, "status": self.status, "state": self.state,
            "state_label": STATUS_LABELS[self.state], "requested_at": iso(self.requested_at),
            "decided_by": self.decided_by, "decided_at": iso(self.decided_at),
            "decision_reason": self.decision_reason, "valid_until": iso(self.valid_until),
            "revoked_by": self.revoked_by, "revoke_reason": self.revoke_reason,
        }


def _info(row: AccessRequest, now: datetime) -> RequestInfo:
    valid_until = as_utc(row.valid_until)
    state = row.status
    if state == APPROVED and valid_until is not None and now >= valid_until:
        state = "expired"
    subject = None
    if row.kind == SUBJECT:
        subject = Subject(row.subject_kind or "", row.subject_name or "", row.subject_contact or "",
                          row.subject_verification or "")
    return RequestInfo(
        id=row.id, kind=row.kind, requester=row.requester, requester_role=row.requester_role, action=row.action,
        recording_ids=tuple(int(i) for i in row.recording_ids), call_id=row.call_id, purpose=row.purpose,
        subject=subject, status=row.status, state=state, requested_at=as_utc(row.requested_at),
        decided_by=row.decided_by, decided_at=as_utc(row.decided_at), decision_reason=row.decision_reason,
        valid_until=valid_until, revoked_by=row.revoked_by, revoke_reason=row.revoke_reason,
    )


def _text(value: str | None, field: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if required and not text:
        raise RequestError(f"{field}: required")
    if len(text) > limit:
        raise RequestError(f"{field}: at most {limit} characters")
    return text


def approval_refusal(session: Session, actor: Actor, approval_id: int, recording_id: int, action: str | None,
                     now: datetime) -> str | None:
    """None when approval ``approval_id`` lets ``actor`` do ``action`` (any, when None) on the recording now;
    else the reason, in Chinese with the English after it (shown to the user and written to the ledger)."""
    row = session.get(AccessRequest, approval_id)
    if row is None or row.requester != actor.name:
        # Someone else's approval is refused as if it did not exist: an id reveals nothing about others.
        return f"审批编号 #{approval_id} 不是您的有效审批 (approval #{approval_id} is not an approval for {actor.name})"
    if recording_id not in {int(i) for i in row.recording_ids}:
        return (f"审批 #{approval_id} 不包括录音 {recording_id} "
                f"(approval #{approval_id} does not cover recording {recording_id})")
    if action is not None and row.action != action:
        return (f"审批 #{approval_id} 只允许{ACTION_LABELS[row.action]},不允许{ACTION_LABELS.get(action, action)} "
                f"(approval #{approval_id} is for {row.action}, not {action})")
    if row.status == PENDING:
        return f"审批 #{approval_id} 尚未审批 (approval #{approval_id} is still pending)"
    if row.status == REFUSED:
        return f"审批 #{approval_id} 已被拒绝:{row.decision_reason} (approval #{approval_id} was refused)"
    if row.status == REVOKED:
        return f"审批 #{approval_id} 已被撤销:{row.revoke_reason} (approval #{approval_id} was revoked)"
    valid_until = as_utc(row.valid_until)
    if valid_until is None or now >= valid_until:
        until = f"{valid_until:%Y-%m-%d %H:%M} UTC" if valid_until else "?"
        return f"审批 #{approval_id} 已于 {until} 过期 (approval #{approval_id} expired at {until})"
    return None


class AccessRequests:
    """Filing, deciding, revoking and listing access requests on one database (see the module docstring)."""

    def __init__(self, url: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.url = url
        # SQLite compares timestamps as text: every instant sent to the database must be in UTC.
        self.clock: Callable[[], datetime] = lambda: clock().astimezone(UTC)

    def file(self, actor: Actor, *, action: str, purpose: str, recording_ids: Sequence[int] = (),
             call_id: str | None = None, subject: Subject | None = None) -> RequestInfo:
        """File a request (pending) for a bounded set of recordings; ledgered once per recording."""
        if action not in REQUEST_ACTIONS:
            raise RequestError(f"action {action!r}: expected one of {', '.join(REQUEST_ACTIONS)}")
        purpose = _text(purpose, "purpose (调阅用途, R-111)")
        if bool(recording_ids) == bool(call_id):
            raise RequestError("name either recording ids or one call id (a bounded set)")
        ids = sorted({int(i) for i in recording_ids})
        if len(ids) > MAX_RECORDINGS:
            raise RequestError(f"recording ids: at most {MAX_RECORDINGS} recordings per request")
        if subject is not None:
            subject = self._check_subject(subject)
        now = self.clock()
        with session_scope(self.url) as s:
            if call_id:
                rows = list(s.scalars(select(Recording).where(Recording.call_id == call_id)))
                if not rows:
                    raise RecordingNotFound(f"call {call_id} has no recording")
            else:
                rows = list(s.scalars(select(Recording).where(Recording.id.in_(ids))))
                missing = sorted(set(ids) - {r.id for r in rows})
                if missing:
                    raise RecordingNotFound(f"recording {missing[0]} does not exist")
            if subject is not None:
                for r in rows:
                    theirs = r.caller if subject.kind == "customer" else r.agent
                    if theirs != subject.contact:
                        who = "客户" if subject.kind == "customer" else "员工"
                        raise RequestError(f"录音 {r.id} 不是该{who}本人的通话 (recording {r.id} is not a call of "
                                           f"this {subject.kind}; R-114: a subject hears only their own calls)")
            row = AccessRequest(
                kind=SUBJECT if subject else REVIEW, requester=actor.name, requester_role=actor.role, action=action,
                recording_ids=sorted(r.id for r in rows), call_id=call_id, purpose=purpose, status=PENDING,
                requested_at=now, subject_kind=subject.kind if subject else None,
                subject_name=subject.name if subject else None, subject_contact=subject.contact if subject else None,
                subject_verification=subject.verification if subject else None,
            )
            s.add(row)
            s.flush()
            who = f"; subject {subject.kind} {subject.name}, verified by: {subject.verification}" if subject else ""
            detail = f"request #{row.id}: {action}, purpose: {purpose}{who}"
            append_ledger(s, [LedgerRecord(actor.name, actor.role, REQUEST, rid, True, detail, now)
                              for rid in row.recording_ids])
            return _info(row, now)

    def decide(self, approver: Actor, request_id: int, *, approve: bool, reason: str,
               valid_until: datetime | None = None, identity_confirmed: bool = False) -> RequestInfo:
        """Approve (until ``valid_until``) or refuse a pending request, with a reason; ledgered."""
        verb = APPROVE if approve else REFUSE
        reason = _text(reason, "reason (审批理由)")
        now = self.clock()
        with session_scope(self.url) as s:
            row = self._get_row(s, request_id)
            self._check_approver(approver, row, verb)
            if row.status != PENDING:
                raise RequestError(f"request #{request_id} was already decided ({STATUS_LABELS[row.status]})")
            extra = ""
            if approve:
                if valid_until is None or valid_until.tzinfo is None:
                    raise RequestError("valid until: a time with its zone is required to approve")
                valid_until = valid_until.astimezone(UTC)
                if valid_until <= now:
                    raise RequestError("valid until: must be in the future")
                if valid_until > now + timedelta(days=MAX_VALID_DAYS):
                    raise RequestError(f"valid until: at most {MAX_VALID_DAYS} days ahead")
                if row.kind == SUBJECT and not identity_confirmed:
                    raise RequestError("本人申请须由审批人确认已核验申请人身份 (R-114: approve a subject-access "
                                       "request only once the subject's identity is confirmed)")
                row.valid_until = valid_until
                extra = f", valid until {valid_until:%Y-%m-%dT%H:%M:%SZ}"
                if row.kind == SUBJECT:
                    extra += f", identity confirmed ({row.subject_verification})"
            row.status = APPROVED if approve else REFUSED
            row.decided_by, row.decided_at, row.decision_reason = approver.name, now, reason
            detail = f"request #{row.id} of {row.requester}: {row.action} {verb}d{extra}; reason: {reason}"
            append_ledger(s, [LedgerRecord(approver.name, approver.role, verb, rid, True, detail, now)
                              for rid in row.recording_ids])
            return _info(row, now)

    def revoke(self, approver: Actor, request_id: int, *, reason: str) -> RequestInfo:
        """Withdraw an approval before it expires; every later use of it is refused."""
        reason = _text(reason, "reason (撤销理由)")
        now = self.clock()
        with session_scope(self.url) as s:
            row = self._get_row(s, request_id)
            self._check_approver(approver, row, REVOKE)
            if row.status != APPROVED:
                raise RequestError(f"request #{request_id} is not approved ({STATUS_LABELS[row.status]})")
            row.status, row.revoked_by, row.revoked_at, row.revoke_reason = REVOKED, approver.name, now, reason
            detail = f"request #{row.id} of {row.requester}: {row.action} revoked; reason: {reason}"
            append_ledger(s, [LedgerRecord(approver.name, approver.role, REVOKE, rid, True, detail, now)
                              for rid in row.recording_ids])
            return _info(row, now)

    def get(self, actor: Actor, request_id: int) -> RequestInfo:
        """One request, for its requester or an approver."""
        with session_scope(self.url) as s:
            row = self._get_row(s, request_id)
            if row.requester != actor.name and actor.role not in APPROVERS:
                raise AccessDenied(f"request #{request_id} is not yours")
            return _info(row, self.clock())

    def mine(self, actor: Actor, limit: int = 200) -> list[RequestInfo]:
        """The requester's own requests, newest first, with their state now (我的申请)."""
        now = self.clock()
        with session_scope(self.url) as s:
            rows = s.scalars(select(AccessRequest).where(AccessRequest.requester == actor.name)
                             .order_by(AccessRequest.id.desc()).limit(limit))
            return [_info(r, now) for r in rows]

    def queue(self, approver: Actor, limit: int = 200) -> tuple[list[RequestInfo], list[RequestInfo]]:
        """The approval queue: pending requests oldest first, then the latest decided ones newest first."""
        if approver.role not in APPROVERS:
            raise AccessDenied(f"role {approver.role} does not approve access requests (R-111: supervisors do)")
        now = self.clock()
        with session_scope(self.url) as s:
            pending = s.scalars(select(AccessRequest).where(AccessRequest.status == PENDING)
                                .order_by(AccessRequest.id).limit(limit))
            waiting = [_info(r, now) for r in pending]
            done = s.scalars(select(AccessRequest).where(AccessRequest.status != PENDING)
                             .order_by(AccessRequest.id.desc()).limit(limit))
            return waiting, [_info(r, now) for r in done]

    def refusal(self, actor: Actor, approval_id: int, recording_id: int, action: str | None) -> str | None:
        """:func:`approval_refusal` in its own read-only transaction, at the clock's now."""
        with session_scope(self.url) as s:
            return approval_refusal(s, actor, approval_id, recording_id, action, self.clock())

    @staticmethod
    def _get_row(s: Session, request_id: int) -> AccessRequest:
        row = s.get(AccessRequest, request_id)
        if row is None:
            raise RequestError(f"request #{request_id} does not exist")
        return row

    def _check_approver(self, approver: Actor, row: AccessRequest, verb: str) -> None:
        """Refuse a decision by someone who may not make it; the attempt is ledgered in its own transaction
        (the caller's is rolled back by the raise), like every refused access (R-111, R-116)."""
        why = None
        if approver.role not in APPROVERS:
            why = f"role {approver.role} may not {verb} access requests (R-111: a supervisor does)"
        elif approver.name == row.requester:
            why = f"{approver.name} may not {verb} their own request #{row.id}"
        if why is None:
            return
        with session_scope(self.url) as s:
            append_ledger(s, [LedgerRecord(approver.name, approver.role, verb, int(rid), False,
                                           f"request #{row.id}: denied: {why}", self.clock())
                              for rid in row.recording_ids])
        raise AccessDenied(why)

    @staticmethod
    def _check_subject(subject: Subject) -> Subject:
        if subject.kind not in SUBJECT_KINDS:
            raise RequestError(f"subject kind {subject.kind!r}: expected customer or employee")
        return Subject(subject.kind, _text(subject.name, "subject name (申请人姓名)", limit=64),
                       _text(subject.contact, "subject contact (号码或工号)", limit=32),
                       _text(subject.verification, "identity verification (身份核验方式)"))
