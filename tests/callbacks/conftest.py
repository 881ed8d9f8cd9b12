"""Fixtures of the callback tests: settings on a migrated database (SQLite and PostgreSQL) and a closed order."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.store import session_factory
from callcenter.tickets import service as svc

TZ = ZoneInfo("Asia/Shanghai")
# Monday 2026-12-07 10:00 in the centre: inside the default calling hours of a working day.
MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=TZ)


@pytest.fixture
def cb_settings(settings: Settings, db_url: str) -> Settings:
    return replace(settings, database=replace(settings.database, url=db_url))


@pytest.fixture
def session(cb_settings: Settings) -> Iterator[Session]:
    s = session_factory(cb_settings.database.url)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def closed_order(session: Session, cb_settings: Settings) -> Callable[..., str]:
    """Make an order closed at ``at`` (default: Monday 09:00) and return its number."""

    def make(category: str = "consultation", caller: str | None = "13800138000", owner: str = "a101",
             at: datetime = MONDAY_10 - timedelta(hours=1), name: str | None = "王") -> str:
        order = svc.create_order(session, cb_settings, category=category, summary="停电三小时", caller_number=caller,
                                 caller_name=name, accepted_at=at - timedelta(hours=2), actor=owner,
                                 recording_ids=["rec-1"])
        svc.transition(session, cb_settings, order.number, "closed", actor=owner, at=at,
                       rng=random.Random(1))
        session.flush()
        return order.number

    return make
