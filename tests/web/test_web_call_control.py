"""The panel's call-control API, ``POST /api/agent/call/{action}`` (issue 15): who may act on which call, what
the body must say, which phase allows which action, and what reaches the live call (a test double here; the
ARI side is tests/telephony/test_ari_controls.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from callcenter.calls import events as ev
from callcenter.calls.control import ControlResult
from callcenter.web.call_control import ACTIONS
from callcenter.web.context import WebContext


class FakeControl:
    """Remembers what the API asked and answers ``result`` (the live call's verdict)."""

    def __init__(self, result: ControlResult | None = None) -> None:
        self.asked: list[tuple[str, str, dict[str, Any], str]] = []
        self.result = result or ControlResult(200, {"held": False, "muted": False})

    async def send(self, call_id: str, event: object) -> bool:
        return True

    async def control(self, call_id: str, action: str, args: Mapping[str, Any], by: str) -> ControlResult:
        self.asked.append((call_id, action, dict(args), by))
        return self.result


def put_call(ctx: WebContext, call_id: str, steps: list[tuple[float, str, dict[str, Any]]]) -> None:
    t0 = ctx.now() - timedelta(seconds=60)
    for t, kind, data in steps:
        ctx.timeline.append(call_id, kind, data, at=t0 + timedelta(seconds=t), offset=t)
    for event in ctx.timeline.flush_sync():
        ctx.feed(event)


def talking(ctx: WebContext, call_id: str = "c1", agent: str = "agent1") -> None:
    put_call(ctx, call_id, [
        (0, ev.CALL_OFFERED, {"caller": "13800138000", "locale": "zh-CN", "group": "default"}),
        (1, ev.AGENT_RINGING, {"agent": agent, "ring": 1}),
        (3, ev.AGENT_ANSWERED, {"agent": agent, "rings": 1}),
    ])


@pytest.fixture
def control(web_ctx: WebContext) -> FakeControl:
    web_ctx.control = fake = FakeControl()  # type: ignore[assignment]
    return fake


def post(client: TestClient, token: str, action: str, body: object) -> Any:
    return client.post(f"/api/agent/call/{action}", json=body, headers={"X-CSRF-Token": token})


def test_each_action_reaches_the_live_call_with_the_agent_as_by(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl
) -> None:
    token = signed_in("agent1")
    talking(web_ctx)
    for action, body in (("hold", {}), ("mute", {}), ("unmute", {}), ("dtmf", {"digits": "12#"}), ("hangup", {})):
        r = post(client, token, action, {"call_id": "c1", **body})
        assert r.status_code == 200, (action, r.text)
        assert r.json() == {"ok": True, "call_id": "c1", "action": action, "state": {"held": False, "muted": False}}
    assert control.asked == [("c1", "hold", {}, "agent1"), ("c1", "mute", {}, "agent1"),
                             ("c1", "unmute", {}, "agent1"), ("c1", "dtmf", {"digits": "12#"}, "agent1"),
                             ("c1", "hangup", {}, "agent1")]


def test_resume_needs_a_call_on_hold_and_hold_a_call_being_talked_on(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl
) -> None:
    token = signed_in("agent1")
    talking(web_ctx)
    # While talking, resume goes to the live call (it may be saying the hold phrase): the call decides.
    assert post(client, token, "resume", {"call_id": "c1"}).status_code == 200
    put_call(web_ctx, "c1", [(10, ev.HOLD_STARTED, {})])
    assert post(client, token, "hold", {"call_id": "c1"}).status_code == 409
    assert post(client, token, "resume", {"call_id": "c1"}).status_code == 200
    assert [a for _, a, _, _ in control.asked] == ["resume", "resume"]


def test_bad_bodies_are_400_with_one_line(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl
) -> None:
    token = signed_in("agent1")
    talking(web_ctx)
    cases = [
        ("hold", [1, 2], "JSON object"),
        ("hold", {}, "call_id"),
        ("hold", {"call_id": 7}, "call_id"),
        ("dtmf", {"call_id": "c1"}, "digits"),
        ("dtmf", {"call_id": "c1", "digits": "12x"}, "'X'"),
        ("dtmf", {"call_id": "c1", "digits": "1" * 33}, "at most 32"),
    ]
    for action, body, words in cases:
        r = post(client, token, action, body)
        assert r.status_code == 400, (body, r.text)
        error = r.json()["error"]
        assert words in error and "\n" not in error
    garbage = client.post("/api/agent/call/hold", content=b"{", headers={"X-CSRF-Token": token,
                                                                          "content-type": "application/json"})
    assert garbage.status_code == 400 and "JSON" in garbage.json()["error"]
    assert control.asked == []


def test_unknown_call_or_action_is_404_and_another_seats_call_403(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl
) -> None:
    token = signed_in("agent1")
    talking(web_ctx, "mine")
    talking(web_ctx, "theirs", agent="agent2")
    assert post(client, token, "hold", {"call_id": "nobody"}).status_code == 404
    unknown = post(client, token, "teleport", {"call_id": "mine"})
    assert unknown.status_code == 404 and "hold" in unknown.json()["error"]
    other = post(client, token, "hold", {"call_id": "theirs"})
    assert other.status_code == 403 and "agent1" in other.json()["error"]
    put_call(web_ctx, "mine", [(30, ev.HANGUP, {"by": "caller"})])
    ended = post(client, token, "mute", {"call_id": "mine"})
    assert ended.status_code == 409 and "ended" in ended.json()["error"]
    assert control.asked == []


def test_only_agents_and_admins_and_only_with_the_csrf_token(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl
) -> None:
    talking(web_ctx)
    token = signed_in("qa1")
    assert post(client, token, "hold", {"call_id": "c1"}).status_code == 403
    token = signed_in("agent1")
    assert client.post("/api/agent/call/hold", json={"call_id": "c1"}).status_code == 403  # no CSRF token
    assert control.asked == []


def test_the_live_calls_refusal_is_passed_on(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], control: FakeControl
) -> None:
    token = signed_in("agent1")
    talking(web_ctx)
    control.result = ControlResult(409, error="call c1: your microphone is already muted")
    r = post(client, token, "mute", {"call_id": "c1"})
    assert r.status_code == 409 and r.json() == {"error": "call c1: your microphone is already muted"}
    control.result = ControlResult(404, error="call c1 is not live in this process")
    assert post(client, token, "mute", {"call_id": "c1"}).status_code == 404


def test_the_dispatch_table_names_the_contracts_actions() -> None:
    assert {"hold", "resume", "mute", "unmute", "dtmf", "hangup"} <= set(ACTIONS)
