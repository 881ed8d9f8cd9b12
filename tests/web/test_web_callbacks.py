"""The agent panel's callback queue: what is due for the seat, masked, and the "call" button's answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from callcenter.callbacks.campaigns import add_campaign, get_campaign
from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.tasks import new_task
from callcenter.store import session_scope
from callcenter.web.context import WebContext
from tests.web.conftest import sign_in

MONDAY_10AM = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class FakeDialer:
    """Stands in for the ARI dialer (tests/telephony/test_ari_dialer.py runs the real one)."""

    def __init__(self, refuse: str = "") -> None:
        self.calls: list[tuple[int, str]] = []
        self.refuse = refuse

    async def dial_preview(self, task_id: int, agent_id: str) -> Any:
        if self.refuse:
            raise CallbackError(self.refuse)
        self.calls.append((task_id, agent_id))
        return None


@pytest.fixture
def due_task(web_ctx: WebContext) -> int:
    web_ctx.now = lambda: MONDAY_10AM + timedelta(minutes=5)
    settings = web_ctx.settings
    with session_scope(settings.database.url) as session:
        add_campaign(session, name="预览回访", kind="questionnaire", mode="preview", agent_group="default",
                     script="callback_preview", at=MONDAY_10AM)
        task, _ = new_task(session, settings, get_campaign(session, "预览回访"), number="13912345678",
                           dedup_key="t1", at=MONDAY_10AM, customer_name="王先生")
        session.flush()
        return task.id


def test_the_queue_shows_the_due_callback_with_its_opening_and_a_masked_number(
    client: TestClient, due_task: int
) -> None:
    sign_in(client, "agent1")
    body = client.get("/api/agent/callbacks").json()
    (item,) = body["callbacks"]
    assert item["id"] == due_task and item["customer"] == "王先生"
    assert "13912345678" not in item["number"] and item["number"].endswith("5678")
    assert "请问是王先生吗" in item["opening"] and item["opening"].startswith("您好!")
    assert body["dialer"] is False


def test_call_without_a_dialer_says_so(client: TestClient, due_task: int) -> None:
    token = sign_in(client, "agent1")
    r = client.post(f"/api/agent/callbacks/{due_task}/call", json={}, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and "--ari" in r.json()["error"]


def test_call_starts_the_preview_for_this_seat(client: TestClient, web_ctx: WebContext, due_task: int) -> None:
    dialer = FakeDialer()
    web_ctx.dialing = dialer
    token = sign_in(client, "agent1")
    r = client.post(f"/api/agent/callbacks/{due_task}/call", json={}, headers={"X-CSRF-Token": token})
    assert r.status_code == 202
    assert dialer.calls == [(due_task, "agent1")]


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/agent/callbacks/abc/call", "callback: the task id is a number"),
    ("/api/agent/callbacks/999/call", "callback 999: callback task 999 does not exist"),
])
def test_a_bad_or_refused_task_is_one_clear_line(
    client: TestClient, web_ctx: WebContext, path: str, expected: str
) -> None:
    web_ctx.dialing = FakeDialer(refuse="callback task 999 does not exist")
    token = sign_in(client, "agent1")
    r = client.post(path, json={}, headers={"X-CSRF-Token": token})
    assert (r.status_code, r.json()["error"]) == (400, expected)


def test_only_agents_see_the_queue(client: TestClient, due_task: int) -> None:
    sign_in(client, "qa1")
    assert client.get("/api/agent/callbacks").status_code == 403


def _answered_call(web_ctx: WebContext, call_id: str, caller: str) -> None:
    from callcenter.calls import events as ev
    from callcenter.calls.timeline import TimelineEvent

    at = web_ctx.now()
    for seq, (kind, data) in enumerate([(ev.CALL_OFFERED, {"caller": caller, "entry": "hotline"}),
                                        (ev.AGENT_ANSWERED, {"agent": "agent1", "group": "default", "rings": 1})]):
        web_ctx.board.feed(TimelineEvent(call_id, seq + 1, kind, at, float(seq), data, seq + 1))


def test_an_unresolved_call_gets_a_callback_kept_for_its_agent(client: TestClient, web_ctx: WebContext) -> None:
    web_ctx.now = lambda: MONDAY_10AM
    _answered_call(web_ctx, "c-unresolved", "13800138000")
    token = sign_in(client, "agent1")
    r = client.post("/api/agent/unresolved", json={"call_id": "c-unresolved"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 201 and r.json()["calls"] == 1
    with session_scope(web_ctx.url) as session:
        from callcenter.callbacks.models import CallbackTask

        task = session.get(CallbackTask, r.json()["task"])
        assert task is not None
        assert (task.number, task.preferred_agent, task.status) == ("13800138000", "agent1", "due")
    again = client.post("/api/agent/unresolved", json={"call_id": "c-unresolved"}, headers={"X-CSRF-Token": token})
    assert again.json()["task"] == r.json()["task"] and again.json()["calls"] == 2  # one per caller and day


def test_unresolved_refuses_a_call_of_another_seat_and_a_withheld_number(
    client: TestClient, web_ctx: WebContext
) -> None:
    web_ctx.now = lambda: MONDAY_10AM
    _answered_call(web_ctx, "c-withheld", "")
    token = sign_in(client, "agent1")
    r = client.post("/api/agent/unresolved", json={"call_id": "nope"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and "not a call of seat agent1" in r.json()["error"]
    r = client.post("/api/agent/unresolved", json={"call_id": "c-withheld"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and "cannot be called back" in r.json()["error"]


def test_the_supervisor_board_shows_each_campaign_and_its_answers(
    client: TestClient, web_ctx: WebContext, due_task: int
) -> None:
    from callcenter.callbacks.outcomes import record_attempt
    from callcenter.callbacks.queue import claim

    settings = web_ctx.settings
    with session_scope(settings.database.url) as session:
        (due,) = claim(session, settings=settings, now=MONDAY_10AM + timedelta(minutes=1), holder="t",
                       lease_seconds=60, mode="preview", task_id=due_task)
        record_attempt(session, settings, due.task.id, result="reached", at=MONDAY_10AM + timedelta(minutes=3),
                       call_id="cb-1-1", agent="agent1", satisfaction="满意", holder="t")
    sign_in(client, "boss")
    page = client.get("/callbacks")
    assert page.status_code == 200
    assert "预览回访" in page.text and "已完成 1" in page.text and "满意 1" in page.text and "cb-1-1" in page.text
    sign_in(client, "agent1")
    assert client.get("/callbacks").status_code == 403
