"""Roles, confidentiality via work orders (R-82, R-111, R-112) and the hash-chained access ledger (R-116)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from callcenter.config import Settings
from callcenter.recordings.access import Actor, refusal
from callcenter.recordings.errors import AccessDenied, RecordingError
from callcenter.recordings.models import LedgerEntry
from callcenter.recordings.service import RecordingService
from callcenter.store import session_scope

T0 = datetime(2026, 1, 10, 7, 0, tzinfo=UTC)
AGENT = Actor("zhang", "agent", agent_id="1001")
OTHER_AGENT = Actor("li", "agent", agent_id="1002")
QA = Actor("qa1", "qa")
QA_GRANTED = Actor("qa2", "qa", confidential_access=True)
SUPERVISOR = Actor("boss", "supervisor")
ADMIN = Actor("root", "admin")


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (AGENT, {"list", "play"}),
        (OTHER_AGENT, set()),
        (QA, {"list", "play"}),
        (SUPERVISOR, {"list", "play", "hold"}),
        (ADMIN, {"list", "play", "delete", "hold"}),
    ],
)
def test_role_matrix_on_an_ordinary_recording(actor: Actor, allowed: set[str]) -> None:
    # no role downloads or exports by right; only an approved request does (test_recordings_requests).
    got = {a for a in ("list", "play", "download", "export", "delete", "hold")
           if refusal(actor, a, agent="1001", confidential=False) is None}
    assert got == allowed


def test_confidential_needs_supervisor_admin_or_granted_qa() -> None:
    assert refusal(QA, "play", agent="1001", confidential=True) is not None
    assert refusal(AGENT, "play", agent="1001", confidential=True) is not None
    for actor in (QA_GRANTED, SUPERVISOR, ADMIN):
        assert refusal(actor, "play", agent="1001", confidential=True) is None


def test_bad_actor_and_action_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        Actor("x", "janitor")
    with pytest.raises(ValueError, match="unknown action"):
        refusal(QA, "burn", agent=None, confidential=False)


def _ledger(settings: Settings) -> list[LedgerEntry]:
    with session_scope(settings.database.url) as s:
        return list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))


def test_play_download_hold_and_denials_are_ledgered(service: RecordingService, write_recording: Callable[..., Any],
                                                    rec_settings: Settings) -> None:
    info = write_recording("c1", T0, agent="1001")
    play = service.open_for_playback(AGENT, info.id, purpose="self review")
    assert play.path.suffix == ".mp3" and play.media_type == "audio/mpeg" and play.path.is_file()
    with pytest.raises(AccessDenied, match="role supervisor may not download"):
        service.open_for_playback(SUPERVISOR, info.id, purpose="customer dispute", download=True)
    with pytest.raises(AccessDenied, match="role qa may not download"):
        service.open_for_playback(QA, info.id, purpose="curious", download=True)
    with pytest.raises(AccessDenied, match="only play recordings of own calls"):
        service.open_for_playback(OTHER_AGENT, info.id, purpose="curious")
    with pytest.raises(RecordingError, match="purpose is required"):
        service.open_for_playback(QA, info.id, purpose="  ")
    service.place_hold(SUPERVISOR, info.id, reason="lawsuit 2026-17")
    with pytest.raises(AccessDenied):
        service.place_hold(QA, info.id, reason="no")
    rows = [(e.actor, e.action, e.allowed) for e in _ledger(rec_settings)]
    assert rows == [
        ("zhang", "play", True),
        ("boss", "download", False),
        ("qa1", "download", False),
        ("li", "play", False),
        ("boss", "hold", True),
        ("qa1", "hold", False),
    ]
    assert "R-112" not in _ledger(rec_settings)[1].detail and "download" in _ledger(rec_settings)[1].detail
    assert service.verify_ledger().ok


def test_confidential_work_order_makes_its_recording_confidential(
    service: RecordingService, write_recording: Callable[..., Any], tickets: Any
) -> None:
    info = write_recording("c1", T0, agent="1001")
    write_recording("c2", T0 + timedelta(minutes=5), agent="1001")
    tickets.add("TS9", T0, None, complaint=True, confidential=True)
    service.link_call("c1", "TS9", by="tickets")
    assert [i.call_id for i in service.list(QA).items] == ["c2"]
    assert {i.call_id for i in service.list(QA_GRANTED).items} == {"c1", "c2"}
    with pytest.raises(AccessDenied, match="confidential"):
        service.open_for_playback(QA, info.id, purpose="QA sample")
    with pytest.raises(AccessDenied, match="confidential"):
        service.get(AGENT, info.id)
    assert service.open_for_playback(QA_GRANTED, info.id, purpose="QA sample").ledger_seq > 0
    assert "confidential" in service.get(SUPERVISOR, info.id).flags


def test_order_turning_confidential_later_is_hidden_from_the_listing(
    service: RecordingService, write_recording: Callable[..., Any], tickets: Any
) -> None:
    write_recording("c1", T0)
    tickets.add("GD1", T0, None)
    service.link_call("c1", "GD1", by="tickets")
    assert service.list(QA).total == 1
    tickets.add("GD1", T0, None, confidential=True)  # tickets marks it confidential afterwards
    page = service.list(QA)
    assert page.items == () and page.total == 0
    assert service.list(QA).total == 0  # cached on the row now: the SQL filter hides it as well


@pytest.fixture
def ledgered(service: RecordingService, write_recording: Callable[..., Any]) -> RecordingService:
    info = write_recording("c1", T0)
    for n in range(5):
        service.open_for_playback(QA, info.id, purpose=f"sample {n}")
    assert service.verify_ledger().ok and service.verify_ledger().entries == 5
    return service


def test_edited_entry_is_named(ledgered: RecordingService, rec_settings: Settings) -> None:
    with session_scope(rec_settings.database.url) as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 3).values(actor="nobody"))
    verdict = ledgered.verify_ledger()
    assert not verdict.ok and verdict.first_bad == 3 and "edited" in verdict.problem


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(ledgered: RecordingService,
                                                                rec_settings: Settings) -> None:
    from callcenter.recordings.access import LedgerRecord, entry_hash

    with session_scope(rec_settings.database.url) as s:
        e = s.get(LedgerEntry, 2)
        forged = LedgerRecord("nobody", e.role, e.action, e.recording_id, e.allowed, e.detail, e.at)
        e.actor, e.hash = "nobody", entry_hash(e.prev_hash, 2, forged)
    verdict = ledgered.verify_ledger()
    assert not verdict.ok and verdict.first_bad == 3 and "does not follow entry 2" in verdict.problem


def test_removed_entry_is_named(ledgered: RecordingService, rec_settings: Settings) -> None:
    with session_scope(rec_settings.database.url) as s:
        s.execute(delete(LedgerEntry).where(LedgerEntry.seq == 2))
    verdict = ledgered.verify_ledger()
    assert not verdict.ok and verdict.first_bad == 2 and "missing" in verdict.problem


def test_removed_newest_entry_is_detected_through_the_head(ledgered: RecordingService,
                                                           rec_settings: Settings) -> None:
    with session_scope(rec_settings.database.url) as s:
        s.execute(delete(LedgerEntry).where(LedgerEntry.seq == 5))
    verdict = ledgered.verify_ledger()
    assert not verdict.ok and verdict.first_bad == 5 and "removed" in verdict.problem


def test_reordered_entries_are_named(ledgered: RecordingService, rec_settings: Settings) -> None:
    with session_scope(rec_settings.database.url) as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 3).values(seq=-3))
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 4).values(seq=3))
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == -3).values(seq=4))
    verdict = ledgered.verify_ledger()
    assert not verdict.ok and verdict.first_bad == 3
