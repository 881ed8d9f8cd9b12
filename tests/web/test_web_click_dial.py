"""Click to dial from a work order (issue 15): the server reads the order's number and hands it to the dialer; the
answer, whoever asks, carries it masked. tests/telephony/test_ari_click_dial.py runs the real dial."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from callcenter.calls.control import ControlRefused
from callcenter.logs import mask_number
from callcenter.store import session_scope
from callcenter.tickets import service
from callcenter.web.context import WebContext
from tests.web.conftest import sign_in

NUMBER = "13912345678"


class FakeDialing:
    """Stands in for the ARI application's ClickToDial."""

    def __init__(self, refuse: ControlRefused | None = None) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self.refuse = refuse

    async def dial(self, agent_id: str, number: str, *, order: str | None = None) -> dict[str, str]:
        if self.refuse is not None:
            raise self.refuse
        self.calls.append((agent_id, number, order))
        return {"call_id": "cd-1", "number": mask_number(number)}


def new_order(web_ctx: WebContext, *, number: str | None = NUMBER, confidential: bool = False) -> str:
    with session_scope(web_ctx.settings.database.url) as session:
        order = service.create_order(session, web_ctx.settings, category="repair", summary="热水器漏水",
                                     accepted_at=datetime.now(UTC), actor="agent1", caller_number=number,
                                     confidential=confidential)
        return order.number


def post(client: TestClient, who: str, order: str) -> Any:
    token = sign_in(client, who)
    return client.post(f"/api/agent/orders/{order}/dial", json={}, headers={"X-CSRF-Token": token})


@pytest.mark.parametrize("who", ["agent1", "root"])
def test_dialling_an_order_rings_the_seat_and_answers_with_a_masked_number(
        client: TestClient, web_ctx: WebContext, who: str) -> None:
    dialing = FakeDialing()
    web_ctx.extras["click_dial"] = dialing
    order = new_order(web_ctx)
    r = post(client, who, order)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body == {"ok": True, "order": order, "call_id": "cd-1", "number": "139****5678"}
    assert NUMBER not in r.text
    (agent, number, on), = dialing.calls
    assert number == NUMBER and on == order and agent  # the server had the number; the page never did


def test_refusals_are_one_line(client: TestClient, web_ctx: WebContext) -> None:
    assert post(client, "agent1", "GD20990101-000001").status_code == 409  # no dialer in this service
    web_ctx.extras["click_dial"] = FakeDialing()
    r = post(client, "agent1", "GD20990101-000001")
    assert r.status_code == 404 and "not found" in r.json()["error"]
    r = post(client, "agent1", new_order(web_ctx, number=None))
    assert r.status_code == 400 and "no caller number" in r.json()["error"]
    web_ctx.extras["click_dial"] = FakeDialing(ControlRefused("agent 8001 is not ready (not_ready)"))
    r = post(client, "agent1", new_order(web_ctx))
    assert r.status_code == 409 and "not ready" in r.json()["error"] and NUMBER not in r.text
    assert post(client, "qa1", new_order(web_ctx)).status_code == 403


def test_a_confidential_order_is_not_dialled_for_an_agent_who_may_not_see_it(
        client: TestClient, web_ctx: WebContext) -> None:
    dialing = FakeDialing()
    web_ctx.extras["click_dial"] = dialing
    order = new_order(web_ctx, confidential=True)
    r = post(client, "agent1", order)
    assert r.status_code == 404 and dialing.calls == []
