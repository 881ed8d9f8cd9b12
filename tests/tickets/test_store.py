"""The work-order store on SQLite and PostgreSQL: lifecycle, history, confidentiality, reports, overdue job."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from callcenter.config import Settings
from callcenter.store import session_scope
from callcenter.tickets import service as svc
from callcenter.tickets.errors import InvalidPeriodError, InvalidTransitionError, TicketError, UnknownOrderError
from callcenter.tickets.overdue import escalate_overdue

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 9, 30, 15, 0, tzinfo=TZ)  # the afternoon before National Day
AGENT = svc.Viewer("a1001", "agent")
QA_GRANTED = svc.Viewer("q1", "qa", confidential_access=True)
SUPERVISOR = svc.Viewer("s1", "supervisor")


def new(url: str, settings: Settings, **kw: object) -> svc.OrderView:
    fields: dict[str, object] = {"category": "complaint", "summary": "停水三天", "accepted_at": T0, "actor": "a1001"}
    fields.update(kw)
    with session_scope(url) as s:
        return svc.create_order(s, settings, **fields)  # type: ignore[arg-type]


def test_create_numbers_orders_per_day_and_stores_deadlines(db_url: str, settings: Settings) -> None:
    a = new(db_url, settings, caller_number="13812345678")
    b = new(db_url, settings)
    c = new(db_url, settings, accepted_at=T0 + timedelta(days=1))
    assert (a.number, b.number, c.number) == ("GD20260930-000001", "GD20260930-000002", "GD20261001-000001")
    with session_scope(db_url) as s:
        got = svc.get_order(s, a.number)
    assert got.version == 1 and got.status == "accepted" and got.owner == "a1001"
    assert got.accepted_at == T0 and got.caller_number == "13812345678"
    due = {d.name: d.due_at for d in got.deadlines}
    assert due["reply"] == datetime(2026, 10, 9, 23, 59, 59, 999999, tzinfo=TZ)
    assert due["callback"] is None


def test_order_created_from_a_call_is_found_by_call_id(db_url: str, settings: Settings) -> None:
    with session_scope(db_url) as s:
        order = svc.create_order_for_call(s, settings, "call-42", category="repair", summary="表计故障",
                                          accepted_at=T0, actor="a1001")
    with session_scope(db_url) as s:
        assert svc.order_numbers_for_calls(s, ["call-42", "call-0"]) == {"call-42": [order.number]}
        assert svc.get_order(s, order.number).calls == ("call-42",)
    with pytest.raises(TicketError, match="call_id"), session_scope(db_url) as s:
        svc.create_order_for_call(s, settings, "", category="repair", summary="x", accepted_at=T0, actor="a")


def test_lifecycle_meets_deadlines_and_history_records_every_change(db_url: str, settings: Settings) -> None:
    order = new(db_url, settings)
    at = T0 + timedelta(minutes=30)
    with session_scope(db_url) as s:
        svc.record_contact(s, order.number, actor="d7", at=at)
        svc.update_order(s, settings, order.number, {"department": "供水所", "assignee": "d7"}, actor="lead", at=at)
        svc.transition(s, settings, order.number, "in_progress", actor="d7", at=at)
        closed = svc.transition(s, settings, order.number, "closed", actor="d7", at=datetime(2026, 10, 8, 9, 0,
                                                                                                  tzinfo=TZ))
    met = {d.name: d.met_at for d in closed.deadlines}
    assert met["first_contact"] == at
    assert met["close"] is not None and met["callback"] is None
    # Closed Thu Oct 8 → Fri Oct 9 WD1, Sat Oct 10 (make-up) WD2.
    assert {d.name: d.due_at for d in closed.deadlines}["callback"] == datetime(2026, 10, 10, 23, 59, 59, 999999,
                                                                                  tzinfo=TZ)
    assert closed.version == 5
    with pytest.raises(InvalidTransitionError, match="from closed to in_progress"), session_scope(db_url) as s:
        svc.transition(s, settings, order.number, "in_progress", actor="d7", at=at)
    with session_scope(db_url) as s:
        done = svc.record_callback(s, order.number, 1, actor="a1001", at=datetime(2026, 10, 9, 10, 0, tzinfo=TZ),
                                   reached=True, satisfaction="satisfied")
        history = svc.order_history(s, order.number)
    assert done.status == "called_back"
    assert [h.action for h in history] == ["created", "contact", "updated", "status", "status", "callback"]
    assert history[2].changes == {"department": [None, "供水所"], "assignee": [None, "d7"]}
    assert history[2].actor == "lead"


def test_history_is_append_only_in_the_database(db_url: str, settings: Settings) -> None:
    new(db_url, settings)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), session_scope(db_url) as s:
        s.execute(sa.text("UPDATE work_order_history SET actor = 'someone else'"))


def test_reclassifying_as_major_recounts_the_close_deadline(db_url: str, settings: Settings) -> None:
    order = new(db_url, settings, accepted_at=datetime(2026, 9, 24, 11, 0, tzinfo=TZ))
    with session_scope(db_url) as s:
        got = svc.update_order(s, settings, order.number, {"major": True}, actor="lead",
                               at=datetime(2026, 9, 24, 12, 0, tzinfo=TZ))
    # Sep 24 + 10 days = Sun Oct 4 (holiday) → Thu Oct 8 (R-79 major, Civil Code 203).
    assert {d.name: d.limit for d in got.deadlines}["close"] == "10 days"
    assert {d.name: d.due_at for d in got.deadlines}["close"] == datetime(2026, 10, 8, 23, 59, 59, 999999, tzinfo=TZ)


def test_confidential_orders_are_invisible_in_the_query_api(db_url: str, settings: Settings) -> None:
    """R-82: only roles with the permission see a confidential order, in every query, not just on a page."""
    secret = new(db_url, settings, confidential=True, call_id="call-7", summary="举报抄表员")
    public = new(db_url, settings, call_id="call-7")
    late = T0 + timedelta(days=30)
    with session_scope(db_url) as s:
        assert [o.number for o in svc.list_orders(s, AGENT)] == [public.number]
        assert [o.number for o in svc.list_orders(s, AGENT, overdue_at=late)] == [public.number]
        assert {o.number for o in svc.list_orders(s, SUPERVISOR)} == {secret.number, public.number}
        assert svc.get_order(s, secret.number, QA_GRANTED).confidential
        assert svc.order_numbers_for_calls(s, ["call-7"], AGENT) == {"call-7": [public.number]}
        assert [f.number for f in svc.linked_order_facts(s, [secret.number, public.number], AGENT)] == [public.number]
        with pytest.raises(UnknownOrderError, match="does not exist"):
            svc.get_order(s, secret.number, AGENT)
        with pytest.raises(UnknownOrderError):
            svc.order_history(s, secret.number, svc.Viewer("q2", "qa"))
        with pytest.raises(UnknownOrderError):
            svc.record_contact(s, secret.number, actor="a1001", at=late, viewer=AGENT)


def test_linked_order_facts_for_retention(db_url: str, settings: Settings) -> None:
    complaint = new(db_url, settings)
    repair = new(db_url, settings, category="repair", confidential=True)
    closed_at = T0 + timedelta(days=2)
    with session_scope(db_url) as s:
        svc.transition(s, settings, repair.number, "closed", actor="d", at=closed_at)
    with session_scope(db_url) as s:
        facts = svc.linked_order_facts(s, [repair.number, "GD-unknown", complaint.number])
    assert facts == [
        svc.OrderFacts(repair.number, False, T0, closed_at, True),
        svc.OrderFacts(complaint.number, True, T0, None, False),
    ]
    assert all(f.accepted_at.tzinfo is not None for f in facts)


def test_sla_outcomes_and_open_overdue_counts(db_url: str, settings: Settings) -> None:
    met = new(db_url, settings)
    missed = new(db_url, settings)
    with session_scope(db_url) as s:
        svc.record_reply(s, met.number, actor="d", at=T0 + timedelta(minutes=20))
    now = datetime(2026, 10, 9, 12, 0, tzinfo=TZ)  # reply due Oct 9 24:00 is not over yet
    with session_scope(db_url) as s:
        outcomes = svc.sla_outcomes(s, T0, T0 + timedelta(days=30), now=now)
        counts = svc.count_open_and_overdue(s, now)
    got = {(o.number, o.deadline): o.met for o in outcomes}
    assert got == {
        (met.number, "first_contact"): True, (missed.number, "first_contact"): False,
        (met.number, "reply"): True, (missed.number, "reply"): None,
        (met.number, "close"): None, (missed.number, "close"): None,
    }
    assert counts == (2, 1)  # both open; only `missed` is past a deadline (first contact)
    with pytest.raises(InvalidPeriodError, match="ends"), session_scope(db_url) as s:
        svc.sla_outcomes(s, now, T0)


def test_callback_sampling_meets_the_level_floors(db_url: str, settings: Settings) -> None:
    """R-94: L1 100 %, L2 at least 10 %, L3 at least 5 % of the orders closed, even with an unlucky draw."""
    numbers = [new(db_url, settings, category="repair").number for _ in range(25)]
    closed_at = datetime(2026, 10, 8, 10, 0, tzinfo=TZ)

    class NeverPicks(random.Random):
        def random(self) -> float:
            return 0.999  # the random draw never selects: only the floor can

    with session_scope(db_url) as s:
        for i, number in enumerate(numbers):
            svc.transition(s, settings, number, "closed", actor="d", at=closed_at + timedelta(minutes=i),
                           rng=NeverPicks())
        svc.record_callback(s, numbers[0], 1, actor="a", at=closed_at + timedelta(hours=5), reached=True)
        svc.record_callback(s, numbers[1], 1, actor="a", at=closed_at + timedelta(hours=5), reached=False)
    with session_scope(db_url) as s:
        stats = {st.level: st for st in svc.callback_stats(s, closed_at, closed_at + timedelta(days=1))}
        assert svc.get_order(s, numbers[1]).callbacks[0].attempts == 1
    assert (stats[1].orders_closed, stats[1].due, stats[1].done, stats[1].sampling_rate) == (25, 25, 1, 1.0)
    assert stats[2].due == 3 and stats[2].sampling_rate >= 0.10  # ceil(2.5)
    assert stats[3].due == 2 and stats[3].sampling_rate >= 0.05  # ceil(1.25)


def test_overdue_job_escalates_each_deadline_once(db_url: str, settings: Settings) -> None:
    order = new(db_url, settings)
    new(db_url, settings, accepted_at=T0 + timedelta(days=20))  # nothing due yet
    first_run = T0 + timedelta(hours=1)  # first contact (15:45) missed
    with session_scope(db_url) as s:
        got = escalate_overdue(s, first_run)
    assert [(e.number, e.deadline) for e in got] == [(order.number, "first_contact")]
    with session_scope(db_url) as s:
        assert escalate_overdue(s, first_run + timedelta(minutes=1)) == []  # not again on the next run
    with session_scope(db_url) as s:
        later = escalate_overdue(s, datetime(2026, 10, 14, 0, 0, 1, tzinfo=TZ))
    assert sorted(e.deadline for e in later) == ["close", "reply"]
    with session_scope(db_url) as s:
        history = svc.order_history(s, order.number)
        view = svc.get_order(s, order.number)
    escalated = [h.changes["deadline"] for h in history if h.action == "escalated"]
    assert escalated[0] == "first_contact" and sorted(escalated[1:]) == ["close", "reply"]
    assert all(h.actor == "sla-scheduler" for h in history if h.action == "escalated")
    assert all(d.escalated_at is not None for d in view.deadlines if d.name != "callback")


def test_a_met_deadline_is_never_escalated(db_url: str, settings: Settings) -> None:
    order = new(db_url, settings)
    with session_scope(db_url) as s:
        svc.record_contact(s, order.number, actor="d", at=T0 + timedelta(minutes=50))  # late, but met
    with session_scope(db_url) as s:
        assert escalate_overdue(s, T0 + timedelta(hours=2)) == []


def test_bad_inputs_to_the_store(db_url: str, settings: Settings) -> None:
    order = new(db_url, settings)
    with session_scope(db_url) as s:
        with pytest.raises(UnknownOrderError, match="'GD19990101-000001' does not exist"):
            svc.get_order(s, "GD19990101-000001")
        with pytest.raises(TicketError, match="field 'owner' cannot be changed"):
            svc.update_order(s, settings, order.number, {"owner": "x"}, actor="a", at=T0)
        with pytest.raises(TicketError, match="summary: must not be empty"):
            svc.create_order(s, settings, category="complaint", summary=" ", accepted_at=T0, actor="a")
        with pytest.raises(InvalidTransitionError, match="record the level-1 callback"):
            svc.transition(s, settings, order.number, "called_back", actor="a", at=T0)
        with pytest.raises(InvalidTransitionError, match="no level-2 callback"):
            svc.record_callback(s, order.number, 2, actor="a", at=T0, reached=True)


def test_r11_a_repeat_callers_orders_newest_first_and_only_theirs(db_url: str, settings: Settings) -> None:
    first = new(db_url, settings, caller_number="13812345678")
    new(db_url, settings, caller_number="13900000000")
    second = new(db_url, settings, caller_number="13812345678", accepted_at=T0 + timedelta(hours=2))
    hidden = new(db_url, settings, caller_number="13812345678", confidential=True)
    with session_scope(db_url) as s:
        assert [o.number for o in svc.list_orders(s, AGENT, caller="13812345678")] == [second.number, first.number]
        seen = {o.number for o in svc.list_orders(s, SUPERVISOR, caller="13812345678")}
        assert seen == {first.number, second.number, hidden.number}
