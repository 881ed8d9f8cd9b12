"""The wallboard lists the seats whose phone lost its registration or whose softphone went away mid-call (issue
15, R-02: no call is offered to them), from the timeline's ``seat.registration`` / ``agent.lost``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from starlette.testclient import TestClient

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent
from callcenter.calls.timeline import TimelineEvent
from callcenter.health.board import HealthBoard
from callcenter.health.seats import SeatWatch
from callcenter.web.context import WebContext


def event(kind: str, **data: object) -> TimelineEvent:
    return TimelineEvent("registrations@test", 1, kind, datetime.now(UTC), 0.0, dict(data))


def test_the_wallboard_names_the_seats_without_a_phone(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str]
) -> None:
    watch = SeatWatch()
    web_ctx.extras["health"] = HealthBoard(web_ctx.settings, timeline=web_ctx.timeline, pool=web_ctx.agents,
                                           now=web_ctx.now, seats=watch)
    web_ctx.agents.add(Agent("agent1", "PJSIP/8001", "8001"))
    web_ctx.agents.add(Agent("agent2", "PJSIP/8002", "8002"))
    signed_in("boss")
    assert client.get("/api/wallboard").json()["unreachable_seats"] == []
    watch.feed(event(ev.SEAT_REGISTRATION, agent="agent1", endpoint="PJSIP/8001", state="offline"))
    watch.feed(event(ev.AGENT_LOST, agent="agent2", cause=16))
    assert client.get("/api/wallboard").json()["unreachable_seats"] == ["8001", "8002"]
    watch.feed(event(ev.SEAT_REGISTRATION, agent="agent1", endpoint="PJSIP/8001", state="online"))
    assert client.get("/api/wallboard").json()["unreachable_seats"] == ["8002"]
    # A seat stream's events are no calls on the live board.
    web_ctx.feed(TimelineEvent("registrations@test", 1, ev.SEAT_REGISTRATION, datetime.now(UTC), 0.0,
                               {"agent": "agent1", "state": "offline"}, id=10_000))
    assert web_ctx.board.live() == []
