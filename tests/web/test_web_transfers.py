"""The panel's transfer actions on ``POST /api/agent/call/{action}`` (issue 15): their bodies, what reaches the live
call, a failed transfer's answer, and the second leg on the panel's board (folded from the timeline). The ARI side
is tests/telephony/test_ari_transfers.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from callcenter.calls import events as ev
from callcenter.calls.control import ControlResult
from callcenter.web.context import WebContext
from tests.web.test_web_call_control import FakeControl, post, put_call, talking


@pytest.fixture
def control(web_ctx: WebContext) -> FakeControl:
    web_ctx.control = fake = FakeControl()  # type: ignore[assignment]
    return fake


def test_transfer_actions_reach_the_live_call(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl
) -> None:
    token = signed_in("agent1")
    talking(web_ctx)
    asked: list[tuple[str, dict[str, Any]]] = [
        ("transfer", {"kind": "agent", "target": " 8002 "}), ("consult", {"kind": "number", "target": "13900139000"}),
        ("consult_complete", {}), ("consult_return", {}), ("conference", {})]
    for action, body in asked:
        r = post(client, token, action, {"call_id": "c1", **body})
        assert r.status_code == 200, (action, r.text)
    assert [(a, args) for _, a, args, _ in control.asked] == [
        ("transfer", {"kind": "agent", "target": "8002"}), ("consult", {"kind": "number", "target": "13900139000"}),
        ("consult_complete", {}), ("consult_return", {}), ("conference", {})]


@pytest.mark.parametrize(("body", "words"), [
    ({}, "kind"), ({"kind": "queue", "target": "x"}, "kind"), ({"kind": "agent"}, "target"),
    ({"kind": "group", "target": "  "}, "target"), ({"kind": "number", "target": "1" * 65}, "target"),
])
def test_a_bad_transfer_body_is_one_line(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl,
    body: dict[str, Any], words: str,
) -> None:
    token = signed_in("agent1")
    talking(web_ctx)
    r = post(client, token, "transfer", {"call_id": "c1", **body})
    assert r.status_code == 400 and r.json()["error"].startswith(words) and control.asked == []


def test_a_failed_transfer_answers_with_its_reason_and_a_refusal_with_its_status(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl
) -> None:
    token = signed_in("agent1")
    talking(web_ctx)
    control.result = ControlResult(200, {"held": False, "result": "busy", "detail": "Dial BUSY"})
    r = post(client, token, "transfer", {"call_id": "c1", "kind": "number", "target": "13900139001"})
    assert r.status_code == 200 and r.json()["state"]["result"] == "busy"
    control.result = ControlResult(409, error="call c1: no consult; this needs a consult or conference")
    r = post(client, token, "consult_complete", {"call_id": "c1"})
    assert r.status_code == 409 and "no consult" in r.json()["error"]


def test_the_board_shows_the_second_leg_and_who_has_the_call_after(web_ctx: WebContext) -> None:
    talking(web_ctx)
    put_call(web_ctx, "c1", [
        (10, ev.TRANSFER_CONSULT_STARTED, {"by": "agent1", "kind": "agent", "target": "8002"}),
        (11, ev.TRANSFER_CONSULT_ANSWERED, {"by": "agent1", "kind": "agent", "target": "8002", "agent": "agent2",
                                            "leg": "tx1-c1"}),
    ])
    call = web_ctx.board.get("c1")
    assert call is not None and call.agent == "agent1"
    assert call.transfer == {"mode": "consult", "state": "consult", "by": "agent1", "kind": "agent",
                             "target": "8002", "agent": "agent2"}
    assert call.as_dict()["transfer"]["state"] == "consult"
    put_call(web_ctx, "c1", [(20, ev.TRANSFER_CONSULT_COMPLETED, {"by": "agent1", "kind": "agent", "target": "8002",
                                                                  "agent": "agent2", "reason": "agent"})])
    assert call.agent == "agent2" and call.transfer["state"] == "done"
    assert web_ctx.board.for_agent("agent2") is call


def test_qa_review_names_each_transfer_step() -> None:
    from datetime import UTC, datetime

    from callcenter.calls.timeline import TimelineEvent
    from callcenter.web.qa_pages import SHOWN_EVENTS, describe

    def label(kind: str, data: dict[str, Any]) -> str:
        assert kind in SHOWN_EVENTS
        return describe(TimelineEvent("c1", 1, kind, datetime.now(UTC), 1.0, data))

    assert label(ev.TRANSFER_BLIND, {"by": "8001", "kind": "agent", "target": "8002"}) == "坐席 8001 转接至坐席 8002"
    assert label(ev.TRANSFER_FAILED, {"by": "8001", "kind": "number", "target": "139****0001",
                                      "reason": "busy"}) == "转接号码 139****0001失败:忙,回到坐席"
    assert label(ev.CONFERENCE_STARTED, {"parties": ["caller", "8001", "8002"]}) == "三方通话:caller、8001、8002"
