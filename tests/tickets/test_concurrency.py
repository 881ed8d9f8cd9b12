"""Two writers, two real database connections, one order: no update is ever lost (optimistic version column)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callcenter.config import Settings
from callcenter.store import session_factory, session_scope
from callcenter.tickets import service as svc
from callcenter.tickets.errors import StaleOrderError
from callcenter.tickets.models import WorkOrder

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 19, 30, tzinfo=TZ)


def _order(url: str, settings: Settings) -> str:
    with session_scope(url) as s:
        return svc.create_order(s, settings, category="complaint", summary="电压不稳", accepted_at=T0,
                                actor="a1").number


def test_the_second_writer_of_the_same_version_is_refused_not_applied(db_url: str, settings: Settings) -> None:
    number = _order(db_url, settings)
    make = session_factory(db_url)
    first, second = make(), make()
    try:
        # Both hold the order at version 1 on their own connections (a panel and a supervisor page).
        held = second.scalars(select(WorkOrder).where(WorkOrder.number == number)).one()
        seen = svc.get_order(first, number)
        assert seen.version == held.version == 1
        svc.update_order(first, settings, number, {"assignee": "d1"}, actor="lead", at=T0,
                         expected_version=seen.version)
        first.commit()
        # The second connection's UPDATE still says WHERE version = 1: refused, nothing overwritten.
        with pytest.raises(StaleOrderError, match="changed by someone else"):
            svc.update_order(second, settings, number, {"assignee": "d9", "department": "抢修班"}, actor="lead2",
                             at=T0)
        second.rollback()
        # The loser re-reads and retries: both changes survive.
        again = svc.get_order(second, number)
        assert again.assignee == "d1"
        svc.update_order(second, settings, number, {"department": "抢修班"}, actor="lead2", at=T0,
                         expected_version=again.version)
        second.commit()
    finally:
        first.close()
        second.close()
    with session_scope(db_url) as s:
        final = svc.get_order(s, number)
        actions = [h.action for h in svc.order_history(s, number)]
    assert (final.assignee, final.department, final.version) == ("d1", "抢修班", 3)
    assert actions == ["created", "updated", "updated"]


def test_an_explicit_stale_version_is_refused(db_url: str, settings: Settings) -> None:
    number = _order(db_url, settings)
    with session_scope(db_url) as s:
        svc.update_order(s, settings, number, {"assignee": "d1"}, actor="lead", at=T0)
    with pytest.raises(StaleOrderError, match="at version 2, not 1"), session_scope(db_url) as s:
        svc.update_order(s, settings, number, {"assignee": "d2"}, actor="lead", at=T0, expected_version=1)


def test_two_threads_appending_concurrently_lose_nothing(db_url: str, settings: Settings) -> None:
    number = _order(db_url, settings)
    rounds = 8
    conflicts: list[int] = []

    def writer(name: str) -> None:
        for i in range(rounds):
            while True:
                try:
                    with session_scope(db_url) as s:
                        current = svc.get_order(s, number)
                        svc.update_order(s, settings, number, {"details": current.details + f"{name}{i};"},
                                         actor=name, at=T0 + timedelta(minutes=i), expected_version=current.version)
                    break
                except StaleOrderError:
                    conflicts.append(1)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with session_scope(db_url) as s:
        final = svc.get_order(s, number)
    tokens = sorted(t for t in final.details.split(";") if t)
    assert tokens == sorted([f"x{i}" for i in range(rounds)] + [f"y{i}" for i in range(rounds)])
    assert final.version == 1 + 2 * rounds


def test_orders_created_concurrently_get_distinct_numbers(db_url: str, settings: Settings) -> None:
    numbers: list[str] = []
    lock = threading.Lock()

    def creator() -> None:
        for _ in range(5):
            number = _order(db_url, settings)
            with lock:
                numbers.append(number)

    threads = [threading.Thread(target=creator) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(numbers) == [f"GD20261120-{i:06d}" for i in range(1, 11)]
