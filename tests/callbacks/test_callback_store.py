"""Callback tasks in the store (SQLite and PostgreSQL): sources, the queue's claims and leases, outcomes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.callbacks.dnc import add_number
from callcenter.callbacks.errors import CallbackError, LeaseError, NotDialableError
from callcenter.callbacks.models import CallbackAttempt, CallbackTask
from callcenter.callbacks.outcomes import book, record_attempt
from callcenter.callbacks.queue import claim, due_for_agent
from callcenter.callbacks.results import AttemptResult
from callcenter.callbacks.sources import note_missed_call, note_unresolved_call, sync_order_callbacks
from callcenter.config import Settings
from callcenter.store import session_factory
from callcenter.tickets import service as svc
from callcenter.tickets.models import WorkOrder

pytestmark = pytest.mark.postgres
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=TZ)  # Monday, in the calling hours (as conftest's MONDAY_10)


def _claim(session: Session, settings: Settings, holder: str = "dialer-1", **kw: object) -> list:
    args = {"now": NOW, "holder": holder, "lease_seconds": 120, "mode": "preview", **kw}
    return claim(session, settings=settings, **args)  # type: ignore[arg-type]


def test_a_missed_caller_gets_one_task_per_centre_day(session: Session, cb_settings: Settings) -> None:
    first = note_missed_call(session, cb_settings, caller="138-0013-8000", at=NOW, where="queue", call_id="c1")
    again = note_missed_call(session, cb_settings, caller="13800138000", at=NOW + timedelta(hours=3),
                             where="ringing", call_id="c2")
    assert first is not None and again is not None
    assert again.id == first.id and again.calls == 2 and again.number == "13800138000"
    assert "queue c1" in again.notes and "ringing c2" in again.notes
    # Past midnight in the centre (16:00 UTC) is a new centre day: a new task.
    tomorrow = note_missed_call(session, cb_settings, caller="13800138000", at=NOW + timedelta(hours=14),
                                where="ivr", call_id="c3")
    assert tomorrow is not None and tomorrow.id != first.id
    # Withheld numbers are never dialled, but counted: one skipped task per day and reason.
    assert note_missed_call(session, cb_settings, caller="anonymous", at=NOW, where="ivr", call_id="c4") is None
    assert note_missed_call(session, cb_settings, caller="", at=NOW, where="ivr", call_id="c5") is None
    assert note_missed_call(session, cb_settings, caller="12ab", at=NOW, where="ivr", call_id="c6") is None
    skipped = {t.dedup_key: (t.calls, t.skip_reason) for t in session.scalars(
        select(CallbackTask).where(CallbackTask.status == "skipped"))}
    assert skipped == {"missed:withheld:2026-12-07": (2, "withheld"), "missed:bad_number:2026-12-07": (1, "bad_number")}
    with pytest.raises(CallbackError, match="where"):
        note_missed_call(session, cb_settings, caller="13800138000", at=NOW, where="lobby", call_id="c7")


def test_an_unresolved_call_is_kept_for_its_agent_until_noon_next_working_day(
        session: Session, cb_settings: Settings) -> None:
    view = note_unresolved_call(session, cb_settings, caller="13900139000", at=NOW, call_id="c9", agent="a7")
    assert view is not None and view.kind == "unresolved" and view.preferred_agent == "a7"
    assert due_for_agent(session, "a8", ["default"], NOW, 10, settings=cb_settings) == []
    mine = due_for_agent(session, "a7", ["default"], NOW, 10, settings=cb_settings)
    assert [d.task.id for d in mine] == [view.id]
    tuesday_noon = NOW.replace(day=8, hour=14)  # past the preference (noon), in the hours
    assert [d.task.id for d in due_for_agent(session, "a8", ["default"], tuesday_noon, 10, settings=cb_settings)]


def test_closed_orders_get_their_tasks_once(session: Session, cb_settings: Settings,
                                            closed_order: Callable[..., str]) -> None:
    plain = closed_order()
    complaint = closed_order(category="complaint", owner="a5", caller="13700137000")
    made = sync_order_callbacks(session, cb_settings, NOW)
    assert made >= 2  # L1 of both (L2/L3: sampled, the first order of a day always is)
    assert sync_order_callbacks(session, cb_settings, NOW) == 0
    tasks = {(t.order_number, t.level): t for t in session.scalars(select(CallbackTask))}
    assert tasks[(plain, 1)].preferred_agent is None
    c1 = tasks[(complaint, 1)]
    assert c1.preferred_agent == "a5" and c1.due_by is not None  # by the receiver, within 2 working days
    due = due_for_agent(session, "a1", ["default"], NOW, 10, settings=cb_settings)
    first = next(d for d in due if d.task.order_number == plain and d.task.level == 1)
    assert first.summary == "停电三小时" and first.recordings == ("rec-1",)
    assert [h.action for h in first.history][:1] == ["created"]
    assert first.opening == ("您好!请问是王先生/女士吗?我是江南云商的客服专员。"
                             "想针对我们公司问题处理质量和服务的满意程度做个简单的回访。"
                             "可能会占用您几分钟时间,请问您现在是否方便?")
    assert all(d.task.order_number != complaint or d.task.level != 1 for d in due)  # kept for a5


def test_two_claimers_never_get_the_same_task_and_an_expired_lease_returns_it(
        session: Session, cb_settings: Settings) -> None:
    for i in range(3):
        note_missed_call(session, cb_settings, caller=f"1380000000{i}", at=NOW - timedelta(minutes=i),
                         where="queue", call_id=f"c{i}")
    session.commit()
    other = session_factory(cb_settings.database.url)()
    try:
        a = _claim(session, cb_settings, "dialer-a", limit=2)
        session.commit()
        b = _claim(other, cb_settings, "dialer-b", limit=2, lease_seconds=600)
        other.commit()
        assert len(a) == 2 and len(b) == 1
        assert {d.task.id for d in a}.isdisjoint({d.task.id for d in b})
        assert _claim(other, cb_settings, "dialer-b") == []  # all leased
        # dialer-a crashes; after its lease (120 s) the task is due again and its attempt closed as failed.
        later = NOW + timedelta(seconds=121)
        again = claim(other, settings=cb_settings, now=later, holder="dialer-b", lease_seconds=60, mode="preview",
                      limit=5)
        other.commit()
        assert {d.task.id for d in again} == {d.task.id for d in a}
        assert all(d.task.attempts == 1 and d.task.lease_holder == "dialer-b" for d in again)
        attempts = other.scalars(select(CallbackAttempt).where(CallbackAttempt.task_id == a[0].task.id)
                                 .order_by(CallbackAttempt.id)).all()
        assert [(x.holder, x.result) for x in attempts] == [("dialer-a", "failed"), ("dialer-b", None)]
        # The crashed holder's late report is refused, the live one's taken.
        with pytest.raises(LeaseError, match="not being dialled by dialer-a"):
            record_attempt(other, cb_settings, a[0].task.id, result="busy", at=later, call_id="x", holder="dialer-a")
        view = record_attempt(other, cb_settings, a[0].task.id, result="busy", at=later, call_id="x",
                              holder="dialer-b")
        assert view.status == "due" and view.attempts == 2 and view.lease_holder is None
    finally:
        other.rollback()
        other.close()


@pytest.mark.parametrize("result", list(AttemptResult))
def test_every_result_has_its_effect(session: Session, cb_settings: Settings,
                                     closed_order: Callable[..., str], result: AttemptResult) -> None:
    number = closed_order()
    sync_order_callbacks(session, cb_settings, NOW)
    task_id = next(d.task.id for d in _claim(session, cb_settings, limit=5) if d.task.level == 1)
    satisfaction = "满意" if result is AttemptResult.REACHED else None
    view = record_attempt(session, cb_settings, task_id, result=result, at=NOW + timedelta(minutes=2),
                          call_id="cb-1", agent="a1", satisfaction=satisfaction, holder="dialer-1")
    order = svc.get_order(session, number)
    history = [h.action for h in svc.order_history(session, number)]
    assert view.attempts == 1 and view.lease_holder is None
    if result in (AttemptResult.REACHED, AttemptResult.NO_KEY):
        assert view.status == "done" and order.status == "called_back"
        assert history[-1] == "callback"
        assert view.satisfaction == satisfaction
    elif result is AttemptResult.HANGUP_OPENING:
        assert view.status == "unreached" and view.skip_reason == "customer_hung_up"
        assert order.status == "closed" and history[-1] == "callback_attempt"
    else:
        assert view.status == "due" and order.status == "closed" and history[-1] == "callback_attempt"
        wait = timedelta(minutes=30)
        assert view.next_at == NOW + timedelta(minutes=2) + wait  # rescheduled
        assert "未联系到" in view.notes


def test_three_unreached_attempts_end_unreached_and_counted(session: Session, cb_settings: Settings) -> None:
    view = note_missed_call(session, cb_settings, caller="13800138000", at=NOW, where="queue", call_id="c1")
    assert view is not None
    at = NOW
    for n in (1, 2, 3):
        [_due] = claim(session, settings=cb_settings, now=at, holder="d", lease_seconds=60, mode="preview",
                      task_id=view.id)
        done = record_attempt(session, cb_settings, view.id, result="no_answer", at=at, call_id=f"x{n}", holder="d")
        assert done.attempts == n
        if n < 3:
            assert done.status == "due"
            at = done.next_at
    assert done.status == "unreached" and done.skip_reason == "attempts_used" and done.finished_at == at


def test_a_dissatisfied_answer_opens_a_follow_up_for_the_owner(session: Session, cb_settings: Settings,
                                                               closed_order: Callable[..., str]) -> None:
    number = closed_order(owner="a42")
    sync_order_callbacks(session, cb_settings, NOW)
    task_id = next(d.task.id for d in _claim(session, cb_settings, limit=5) if d.task.level == 1)
    with pytest.raises(CallbackError, match="满意"):
        record_attempt(session, cb_settings, task_id, result="reached", at=NOW, call_id="c", satisfaction="ok",
                       holder="dialer-1")
    with pytest.raises(CallbackError, match="needs the result 'reached'"):
        record_attempt(session, cb_settings, task_id, result="no_key", at=NOW, call_id="c", satisfaction="满意",
                       holder="dialer-1")
    view = record_attempt(session, cb_settings, task_id, result="reached", at=NOW, call_id="c",
                          satisfaction="dissatisfied", holder="dialer-1")
    assert view.satisfaction == "不满意" and view.follow_up is not None
    follow = session.get(CallbackTask, view.follow_up)
    assert follow is not None and follow.preferred_agent == "a42" and number in follow.notes


def test_do_not_call_and_undialable_numbers_are_skipped(session: Session, cb_settings: Settings) -> None:
    view = note_missed_call(session, cb_settings, caller="13800138000", at=NOW, where="queue", call_id="c1")
    assert view is not None
    add_number(session, "13800138000", reason="客户要求不再来电", by="sup", at=NOW)
    with pytest.raises(NotDialableError, match="do-not-call"):
        _claim(session, cb_settings, task_id=view.id)
    assert _claim(session, cb_settings) == []
    task = session.get(CallbackTask, view.id)
    assert task is not None and (task.status, task.skip_reason) == ("skipped", "do_not_call")
    # A number on the list when the task is made: stored skipped at once.
    assert note_missed_call(session, cb_settings, caller="13800138000", at=NOW + timedelta(days=1), where="ivr",
                            call_id="c2") is None
    with pytest.raises(CallbackError, match="already"):
        add_number(session, "138 0013 8000", reason="again", by="sup", at=NOW)


def test_reopened_and_deleted_orders_are_not_called_back(session: Session, cb_settings: Settings,
                                                         closed_order: Callable[..., str]) -> None:
    reopened, deleted = closed_order(), closed_order(caller="13600136000")
    sync_order_callbacks(session, cb_settings, NOW)
    tasks = {(t.order_number, t.level): t.id for t in session.scalars(select(CallbackTask))}
    session.execute(update(WorkOrder).where(WorkOrder.number == reopened).values(status="in_progress"))
    session.delete(session.scalars(select(WorkOrder).where(WorkOrder.number == deleted)).one())
    session.flush()
    session.expire_all()
    with pytest.raises(NotDialableError, match="reopened"):
        _claim(session, cb_settings, task_id=tasks[(reopened, 1)])
    with pytest.raises(NotDialableError, match="deleted"):
        _claim(session, cb_settings, task_id=tasks[(deleted, 1)])
    assert _claim(session, cb_settings, limit=10) == []
    reasons = {t.skip_reason for t in session.scalars(select(CallbackTask))}
    assert reasons == {"order_reopened", "order_deleted"}


def test_outside_calling_hours_nothing_is_claimed_but_a_booked_time_is_kept(
        session: Session, cb_settings: Settings) -> None:
    view = note_missed_call(session, cb_settings, caller="13800138000", at=NOW, where="queue", call_id="c1")
    assert view is not None
    evening = NOW.replace(hour=21)
    with pytest.raises(NotDialableError, match="outside the calling hours"):
        claim(session, settings=cb_settings, now=evening, holder="d", lease_seconds=60, mode="preview",
              task_id=view.id)
    assert claim(session, settings=cb_settings, now=evening, holder="d", lease_seconds=60, mode="preview") == []
    booked = book(session, cb_settings, view.id, NOW.replace(hour=20, minute=30), now=NOW, by="a1")
    assert booked.booked_at == NOW.replace(hour=20, minute=30)
    [due] = claim(session, settings=cb_settings, now=evening, holder="d", lease_seconds=60, mode="preview")
    assert due.task.id == view.id
    moved = record_attempt(session, cb_settings, view.id, result="busy", at=evening, call_id="b", holder="d")
    assert moved.booked_at is None and moved.next_at == NOW.replace(day=8, hour=9)  # back on the schedule
    # An agent's reschedule (not the customer's time) is moved into the calling hours.
    again = book(session, cb_settings, view.id, NOW.replace(day=8, hour=13), now=evening, by="a1",
                 customer_asked=False)
    assert again.next_at == NOW.replace(day=8, hour=14) and again.booked_at is None
    with pytest.raises(CallbackError, match="not in the future"):
        book(session, cb_settings, view.id, NOW, now=evening, by="a1")


def test_holiday_opening(session: Session, cb_settings: Settings) -> None:
    from callcenter.callbacks.opening import opening_text

    assert opening_text(datetime(2026, 2, 17, tzinfo=TZ).date(), "李女士", "江南云商", "服务").startswith(
        "春节好!请问是李女士吗?")
    assert opening_text(datetime(2026, 10, 1, tzinfo=TZ).date(), None, "江南云商", "服务").startswith(
        "节日好!请问是机主本人吗?")
    assert opening_text(datetime(2026, 10, 8, tzinfo=TZ).date(), "李", "江南云商", "服务").startswith("您好!")


def test_a_claim_given_back_without_dialling_leaves_no_attempt(session: Session, cb_settings: Settings) -> None:
    from callcenter.callbacks.queue import release

    view = note_missed_call(session, cb_settings, caller="13800138000", at=NOW, where="queue", call_id="c1")
    assert view is not None
    [due] = _claim(session, cb_settings)
    with pytest.raises(LeaseError):
        release(session, view.id, holder="someone-else", at=NOW, reason="x")
    release(session, view.id, holder="dialer-1", at=NOW + timedelta(seconds=5), reason="no free channel")
    back = session.get(CallbackTask, view.id)
    assert back is not None and back.status == "due" and back.attempts == 0 and "no free channel" in back.notes
    assert session.scalars(select(CallbackAttempt).where(CallbackAttempt.task_id == due.task.id)).all() == []
    assert [d.task.id for d in _claim(session, cb_settings, now=NOW + timedelta(seconds=5))] == [view.id]


def test_holiday_of_names_the_r105_holidays() -> None:
    from datetime import date

    from callcenter.callbacks.opening import holiday_of

    assert holiday_of(date(2026, 2, 17)) == "Spring Festival" and holiday_of(date(2026, 10, 1)) == "National Day"
    assert holiday_of(date(2026, 2, 14)) == ""  # a make-up working day of the Spring Festival
    assert holiday_of(date(2026, 4, 5)) == ""  # 清明 is a holiday R-105 does not name
    assert holiday_of(date(2026, 12, 7)) == ""


def test_claimers_racing_in_threads_share_no_task(session: Session, cb_settings: Settings) -> None:
    """Four dialers claim at once until nothing is left: every task is dialled once, none twice."""
    import threading

    for i in range(24):
        note_missed_call(session, cb_settings, caller=f"138000000{i:02d}", at=NOW - timedelta(seconds=i),
                         where="queue", call_id=f"c{i}")
    session.commit()
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def dialer(name: str) -> None:
        mine = got.setdefault(name, [])
        try:
            start.wait()
            with session_factory(cb_settings.database.url)() as s:
                while True:
                    batch = claim(s, settings=cb_settings, now=NOW, holder=name, lease_seconds=60, mode="preview",
                                  limit=2)
                    s.commit()
                    if not batch:
                        return
                    mine.extend(d.task.id for d in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=dialer, args=(f"dialer-{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    claimed = [task for ids in got.values() for task in ids]
    assert len(claimed) == 24 and len(set(claimed)) == 24
    session.expire_all()
    holders = {t.id: t.lease_holder for t in session.scalars(select(CallbackTask)).all()}
    assert all(holders[task] == name for name, ids in got.items() for task in ids)


def test_sync_since_looks_only_at_callbacks_made_since(session: Session, cb_settings: Settings,
                                                      closed_order: Callable[..., str]) -> None:
    number = closed_order(at=NOW - timedelta(days=3))
    assert sync_order_callbacks(session, cb_settings, NOW, since=NOW - timedelta(days=2)) == 0
    assert sync_order_callbacks(session, cb_settings, NOW, since=NOW - timedelta(days=4)) >= 1
    assert {t.order_number for t in session.scalars(select(CallbackTask))} == {number}


def test_an_order_changed_while_dialled_keeps_the_result_on_the_task(session: Session, cb_settings: Settings,
                                                                     closed_order: Callable[..., str]) -> None:
    number = closed_order()
    sync_order_callbacks(session, cb_settings, NOW)
    task_id = next(d.task.id for d in _claim(session, cb_settings, limit=5) if d.task.level == 1)
    # Meanwhile an agent records the level-1 callback by hand.
    svc.record_callback(session, number, 1, actor="a9", at=NOW, reached=True, satisfaction="满意")
    view = record_attempt(session, cb_settings, task_id, result="reached", at=NOW + timedelta(minutes=1),
                          call_id="cb", satisfaction="不满意", holder="dialer-1")
    assert (view.status, view.skip_reason, view.result) == ("cancelled", "already_done", "reached")
    assert svc.get_order(session, number).callbacks[0].satisfaction == "满意"  # the order keeps the hand record
    attempt = session.scalars(select(CallbackAttempt).where(CallbackAttempt.task_id == task_id)).one()
    assert attempt.result == "reached" and attempt.call_id == "cb"
