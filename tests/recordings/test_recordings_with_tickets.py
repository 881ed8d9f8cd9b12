"""Retention and confidentiality against the real tickets service (linked_order_facts), not a fake."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.config import Settings
from callcenter.recordings.access import Actor
from callcenter.recordings.errors import AccessDenied
from callcenter.recordings.retention import default_order_facts
from callcenter.recordings.service import RecordingService
from callcenter.recordings.sweeper import Sweeper
from callcenter.store import session_scope
from callcenter.tickets import service as tickets_service

T0 = datetime(2026, 1, 10, 7, 0, tzinfo=UTC)  # 15:00 Shanghai
FLOOR = datetime(2026, 7, 12, 16, 0, tzinfo=UTC)


@pytest.fixture
def real(rec_settings: Settings) -> RecordingService:
    return RecordingService(rec_settings)  # default_order_facts → callcenter.tickets.service


def _order(settings: Settings, category: str, *, confidential: bool = False) -> str:
    with session_scope(settings.database.url) as s:
        view = tickets_service.create_order(s, settings, category=category, summary="水压低", accepted_at=T0,
                                            actor="1001", confidential=confidential)
        return str(view.number)


def _close(settings: Settings, number: str, at: datetime) -> None:
    with session_scope(settings.database.url) as s:
        tickets_service.transition(s, settings, number, "closed", actor="1001", at=at)


def test_default_source_is_the_tickets_service() -> None:
    assert default_order_facts() is tickets_service.linked_order_facts


def test_real_orders_hold_then_release(rec_settings: Settings, real: RecordingService,
                                       make_wav: Callable[..., Path]) -> None:
    number = _order(rec_settings, "consultation")
    info = real.import_recording(make_wav(), call_id="t1", started_at=T0, order_numbers=[number])
    sweeper = Sweeper(rec_settings, default_order_facts())
    assert sweeper.run(FLOOR).purged == 0  # the order is open
    assert real.retention(info.id).held_by == f"work order {number} is open"
    closed = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 Shanghai → kept through Aug 31
    _close(rec_settings, number, closed)
    boundary = datetime(2026, 8, 31, 16, 0, tzinfo=UTC)
    assert real.retention(info.id).purge_from == boundary
    assert Sweeper(rec_settings, default_order_facts()).run(boundary - timedelta(seconds=1)).purged == 0
    assert Sweeper(rec_settings, default_order_facts()).run(boundary).purged == 1


def test_real_complaint_order_keeps_a_year_and_is_confidential(rec_settings: Settings, real: RecordingService,
                                                               make_wav: Callable[..., Path]) -> None:
    number = _order(rec_settings, "complaint", confidential=True)
    info = real.import_recording(make_wav(), call_id="t2", started_at=T0, order_numbers=[number])
    _close(rec_settings, number, T0 + timedelta(days=1))
    assert real.retention(info.id).purge_from == datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
    with pytest.raises(AccessDenied, match="confidential"):
        real.open_for_playback(Actor("qa1", "qa"), info.id, purpose="sample")
    granted = replace(Actor("qa2", "qa"), confidential_access=True)
    assert real.open_for_playback(granted, info.id, purpose="sample").path.suffix == ".mp3"
