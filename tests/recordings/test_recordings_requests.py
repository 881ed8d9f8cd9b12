"""Access requests (R-111, R-112, R-114): every role × action × confidentiality, with and without an approval;
expired, refused, revoked and forged approvals; watermarks; the ledger still verifies afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.config import Settings
from callcenter.recordings.access import Actor
from callcenter.recordings.errors import AccessDenied, RecordingNotFound
from callcenter.recordings.models import LedgerEntry
from callcenter.recordings.requests import ApprovalRefused, RequestError, Subject
from callcenter.recordings.service import RecordingService
from callcenter.recordings.watermark import read_watermark
from callcenter.store import session_scope

T0 = datetime(2026, 1, 10, 7, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
OWNER = Actor("zhang", "agent", agent_id="1001")
STRANGER = Actor("li", "agent", agent_id="1002")
QA = Actor("qa1", "qa")
QA_GRANTED = Actor("qa2", "qa", confidential_access=True)
SUPERVISOR = Actor("boss", "supervisor")
ADMIN = Actor("root", "admin")
ROLES = {"agent-own": OWNER, "agent-other": STRANGER, "qa": QA, "qa-granted": QA_GRANTED,
         "supervisor": SUPERVISOR, "admin": ADMIN}
# What each actor may play by right (ordinary, confidential); download and export never by right.
PLAY_BY_RIGHT = {"agent-own": (True, False), "agent-other": (False, False), "qa": (True, False),
                 "qa-granted": (True, True), "supervisor": (True, True), "admin": (True, True)}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def svc(rec_settings: Settings, tickets: Any, clock: Clock) -> RecordingService:
    return RecordingService(rec_settings, order_facts=tickets, clock=clock)


@pytest.fixture
def two(svc: RecordingService, write_recording: Callable[..., Any], tickets: Any) -> dict[bool, int]:
    """An ordinary recording and a confidential one (linked to a confidential work order), both agent 1001's."""
    plain = write_recording("plain-1", T0, agent="1001")
    secret = write_recording("secret-1", T0 + timedelta(minutes=5), agent="1001")
    tickets.add("GD9", T0, None, confidential=True)
    svc.link_call("secret-1", "GD9", by="tickets")
    return {False: plain.id, True: secret.id}


def _approver(actor: Actor) -> Actor:
    return ADMIN if actor is SUPERVISOR else SUPERVISOR


def _approve(svc: RecordingService, actor: Actor, action: str, ids: list[int], hours: float = 2.0) -> int:
    req = svc.requests.file(actor, action=action, purpose="客户投诉复核", recording_ids=ids)
    assert req.state == "pending"
    done = svc.requests.decide(_approver(actor), req.id, approve=True, reason="投诉处理需要",
                               valid_until=NOW + timedelta(hours=hours))
    assert done.state == "approved"
    return req.id


def _copy_gone(playback: Any) -> None:
    if playback.watermark:
        shutil.rmtree(playback.path.parent)


@pytest.mark.parametrize("role", list(ROLES))
def test_every_action_and_confidentiality_without_and_with_an_approval(svc: RecordingService,
                                                                       two: dict[bool, int], role: str) -> None:
    actor = ROLES[role]
    for confidential, rid in two.items():
        for action in ("play", "download", "export"):
            by_right = action == "play" and PLAY_BY_RIGHT[role][confidential]
            if by_right:
                assert svc.open_for_playback(actor, rid, purpose="抽检", action=action).watermark is None
            else:
                with pytest.raises(AccessDenied, match="申请调阅"):
                    svc.open_for_playback(actor, rid, purpose="抽检", action=action)
            approval = _approve(svc, actor, action, [rid])
            playback = svc.open_for_playback(actor, rid, purpose="抽检", action=action, approval_id=approval)
            assert playback.download is (action != "play")
            if action != "play":
                # the copy names its taker, the time and the approval, and so does the ledger entry.
                mark = read_watermark(playback.path)
                assert mark == playback.watermark and actor.name in mark and f"#{approval}" in mark
                assert "2026-03-01T09:00:00Z" in mark
                assert playback.path.suffix == ".wav"  # stored as WAV here; an export is WAV always
                _copy_gone(playback)
    assert svc.verify_ledger().ok


def test_an_export_is_a_wav_with_the_watermark_and_the_ledger_says_so(
    svc: RecordingService, two: dict[bool, int], rec_settings: Settings
) -> None:
    approval = _approve(svc, QA, "export", [two[True]])
    playback = svc.open_for_playback(QA, two[True], purpose="移交公安机关 (R-113)", action="export",
                                     approval_id=approval)
    assert playback.media_type == "audio/wav" and playback.path.stat().st_size > 1000
    with session_scope(rec_settings.database.url) as s:
        last = s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc())).first()
    assert last is not None and last.action == "export" and last.allowed
    assert f"approval #{approval}" in last.detail and f"watermark: {playback.watermark}" in last.detail
    _copy_gone(playback)


def test_expired_refused_revoked_and_forged_approvals_are_refused_with_their_reason(
    svc: RecordingService, two: dict[bool, int], clock: Clock, rec_settings: Settings
) -> None:
    rid = two[True]
    approval = _approve(svc, QA, "play", [rid], hours=1)
    assert svc.open_for_playback(QA, rid, purpose="复核", approval_id=approval).ledger_seq > 0
    # Forged: someone else's approval, an approval for another recording, for another action, an unknown id.
    with pytest.raises(ApprovalRefused, match="不是您的有效审批"):
        svc.open_for_playback(Actor("qa9", "qa"), rid, purpose="复核", approval_id=approval)
    with pytest.raises(ApprovalRefused, match="不包括录音"):
        svc.open_for_playback(QA, two[False], purpose="复核", approval_id=approval)
    with pytest.raises(ApprovalRefused, match="只允许播放"):
        svc.open_for_playback(QA, rid, purpose="复核", action="download", approval_id=approval)
    with pytest.raises(ApprovalRefused, match="#9999"):
        svc.open_for_playback(QA, rid, purpose="复核", approval_id=9999)
    # Expired: one hour later, by the injected clock.
    clock.now = NOW + timedelta(hours=1)
    with pytest.raises(ApprovalRefused, match=r"已于 .* 过期"):
        svc.open_for_playback(QA, rid, purpose="复核", approval_id=approval)
    assert svc.requests.get(QA, approval).state == "expired"
    clock.now = NOW
    # Refused.
    refused = svc.requests.file(QA, action="play", purpose="好奇", recording_ids=[rid])
    with pytest.raises(ApprovalRefused, match="尚未审批"):
        svc.open_for_playback(QA, rid, purpose="复核", approval_id=refused.id)
    svc.requests.decide(SUPERVISOR, refused.id, approve=False, reason="用途不充分")
    with pytest.raises(ApprovalRefused, match="已被拒绝:用途不充分"):
        svc.open_for_playback(QA, rid, purpose="复核", approval_id=refused.id)
    # Revoked.
    revoked = _approve(svc, QA, "play", [rid])
    svc.requests.revoke(ADMIN, revoked, reason="投诉已撤回")
    with pytest.raises(ApprovalRefused, match="已被撤销:投诉已撤回"):
        svc.open_for_playback(QA, rid, purpose="复核", approval_id=revoked)
    with session_scope(rec_settings.database.url) as s:
        actions = [(e.action, e.allowed) for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))]
    assert ("request", True) in actions and ("approve", True) in actions and ("refuse", True) in actions
    assert ("revoke", True) in actions and actions.count(("play", False)) >= 7
    assert svc.verify_ledger().ok


def test_a_bounded_set_by_call_or_ids_and_the_requesters_own_list(svc: RecordingService,
                                                                  two: dict[bool, int]) -> None:
    by_call = svc.requests.file(QA, action="play", purpose="复核", call_id="secret-1")
    assert by_call.recording_ids == (two[True],)
    both = svc.requests.file(QA, action="download", purpose="复核", recording_ids=[two[True], two[False]])
    assert both.recording_ids == tuple(sorted(two.values()))
    assert [r.id for r in svc.requests.mine(QA)] == [both.id, by_call.id]
    assert svc.requests.mine(QA_GRANTED) == []
    waiting, decided = svc.requests.queue(SUPERVISOR)
    assert [r.id for r in waiting] == [by_call.id, both.id] and decided == []
    with pytest.raises(AccessDenied, match="does not approve"):
        svc.requests.queue(QA)
    with pytest.raises(RecordingNotFound):
        svc.requests.file(QA, action="play", purpose="复核", recording_ids=[9999])
    with pytest.raises(RequestError, match="either recording ids or one call id"):
        svc.requests.file(QA, action="play", purpose="复核")
    with pytest.raises(RequestError, match="purpose"):
        svc.requests.file(QA, action="play", purpose=" ", recording_ids=[two[False]])
    with pytest.raises(RequestError, match="action 'burn'"):
        svc.requests.file(QA, action="burn", purpose="x", recording_ids=[two[False]])


def test_decisions_need_a_supervisor_who_is_not_the_requester_a_reason_and_a_bounded_time(
    svc: RecordingService, two: dict[bool, int]
) -> None:
    req = svc.requests.file(SUPERVISOR, action="export", purpose="仲裁", recording_ids=[two[False]])
    with pytest.raises(AccessDenied, match="their own request"):
        svc.requests.decide(SUPERVISOR, req.id, approve=True, reason="x", valid_until=NOW + timedelta(hours=1))
    with pytest.raises(AccessDenied, match="role qa may not approve"):
        svc.requests.decide(QA, req.id, approve=True, reason="x", valid_until=NOW + timedelta(hours=1))
    with session_scope(svc.url) as s:
        denied = [(e.actor, e.action) for e in s.scalars(select(LedgerEntry).where(LedgerEntry.allowed.is_(False)))]
    assert denied == [("boss", "approve"), ("qa1", "approve")]  # refused decisions are ledgered too
    with pytest.raises(RequestError, match="reason"):
        svc.requests.decide(ADMIN, req.id, approve=False, reason="")
    with pytest.raises(RequestError, match="in the future"):
        svc.requests.decide(ADMIN, req.id, approve=True, reason="x", valid_until=NOW)
    with pytest.raises(RequestError, match="at most 30 days"):
        svc.requests.decide(ADMIN, req.id, approve=True, reason="x", valid_until=NOW + timedelta(days=31))
    svc.requests.decide(ADMIN, req.id, approve=True, reason="仲裁需要", valid_until=NOW + timedelta(days=1))
    with pytest.raises(RequestError, match="already decided"):
        svc.requests.decide(ADMIN, req.id, approve=False, reason="改变主意")
    with pytest.raises(RequestError, match="not approved"):
        other = svc.requests.file(QA, action="play", purpose="x", recording_ids=[two[False]])
        svc.requests.revoke(ADMIN, other.id, reason="x")


def test_subject_access_covers_only_the_subjects_own_calls_and_needs_the_identity_confirmed(
    svc: RecordingService, two: dict[bool, int], rec_settings: Settings
) -> None:
    customer = Subject("customer", "王先生", "13812345678", "回拨登记号码并核对工单号 GD9")
    req = svc.requests.file(QA, action="play", purpose="客户本人申请听取通话录音 (R-114)", call_id="secret-1",
                            subject=customer)
    assert req.kind == "subject" and req.subject == customer
    with pytest.raises(RequestError, match="确认已核验申请人身份"):
        svc.requests.decide(SUPERVISOR, req.id, approve=True, reason="本人申请",
                            valid_until=NOW + timedelta(hours=1))
    svc.requests.decide(SUPERVISOR, req.id, approve=True, reason="本人申请", valid_until=NOW + timedelta(hours=1),
                        identity_confirmed=True)
    assert svc.open_for_playback(QA, two[True], purpose="陪同客户听取", approval_id=req.id).ledger_seq > 0
    with pytest.raises(RequestError, match="not a call of this customer"):
        svc.requests.file(QA, action="play", purpose="x", call_id="plain-1",
                          subject=Subject("customer", "赵女士", "13900000000", "身份证核对"))
    employee = svc.requests.file(STRANGER, action="play", purpose="员工本人申请", call_id="plain-1",
                                 subject=Subject("employee", "张三", "1001", "工牌核对"))
    assert employee.subject is not None and employee.subject.kind == "employee"
    with pytest.raises(RequestError, match="identity verification"):
        svc.requests.file(QA, action="play", purpose="x", call_id="plain-1",
                          subject=Subject("employee", "张三", "1001", " "))
    with session_scope(rec_settings.database.url) as s:
        details = [e.detail for e in s.scalars(select(LedgerEntry).where(LedgerEntry.action.in_(
            ("request", "approve"))).order_by(LedgerEntry.seq))]
    assert any("subject customer 王先生, verified by: 回拨登记号码并核对工单号 GD9" in d for d in details)
    assert any("identity confirmed" in d for d in details)
    assert svc.verify_ledger().ok


def test_an_approval_opens_the_review_metadata_of_a_hidden_recording(svc: RecordingService,
                                                                     two: dict[bool, int]) -> None:
    with pytest.raises(AccessDenied):
        svc.get(QA, two[True])
    approval = _approve(svc, QA, "play", [two[True]])
    assert svc.get(QA, two[True], approval_id=approval).call_id == "secret-1"


def test_the_download_setting_keeps_the_stored_format(rec_settings: Settings, tickets: Any, clock: Clock,
                                                      make_wav: Callable[..., Any]) -> None:
    flac = RecordingService(replace(rec_settings, recordings=replace(rec_settings.recordings,
                                                                     compressed_format="flac")),
                            order_facts=tickets, clock=clock)
    info = flac.import_recording(make_wav("f.wav"), call_id="flac-1", started_at=T0, agent="1001")
    approval = _approve(flac, QA, "download", [info.id])
    playback = flac.open_for_playback(QA, info.id, purpose="复核", action="download", approval_id=approval)
    assert playback.path.suffix == ".flac" and QA.name in (read_watermark(playback.path) or "")
    _copy_gone(playback)
