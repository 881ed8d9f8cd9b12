"""The panel's call control end to end (issue 15): the agent's HTTP requests, the web app, the ARI application of
``callcenter serve`` and the simulated Asterisk 22, over real loopback sockets on one accelerated clock. What the
caller heard is the simulator's record of its line; what the agent did is on the timeline with their id."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_service import LiveService

from callcenter.sim.ari_parties import SimCaller

AGENT = "agent1"
PASSWORD = "correct-horse-1"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, accounts_db: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("control"), accounts_db)
    yield service
    service.close()


def signed_in(url: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=10)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert token
    r = client.post("/login", data={"name": AGENT, "password": PASSWORD, "csrf_token": token.group(1)},
                    follow_redirects=True)
    session = re.search(r'name="csrf-token" content="([^"]+)"', r.text)
    assert session, r.status_code
    return client, session.group(1)


def wait_for(what: Callable[[], Any], real_seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + real_seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the panel never showed it")


def test_hold_resume_mute_dtmf_and_hangup_from_the_panel_reach_the_callers_line(live: LiveService) -> None:
    client, token = signed_in(live.url)
    live.ready(AGENT)
    call_id = live.place_call(SimCaller(args=("hotline",), speech=tuple((float(t), 1.0) for t in range(3, 120, 4)),
                                        hangup_at=120.0))

    def phase() -> str:
        call = client.get("/api/agent/panel").json()["call"]
        return str(call["phase"]) if call and call["call_id"] == call_id else ""

    def act(action: str, **body: Any) -> tuple[httpx.Response, float]:
        begun = time.perf_counter()
        r = client.post(f"/api/agent/call/{action}", json={"call_id": call_id, **body},
                        headers={"X-CSRF-Token": token})
        return r, (time.perf_counter() - begun) * 1000

    wait_for(lambda: phase() == "talking")
    timings: dict[str, float] = {}
    r, timings["hold"] = act("hold")
    assert r.status_code == 200 and r.json()["state"]["held"] is True, r.text
    assert act("hold")[0].status_code == 409  # on hold already (the live call says so before the board does)
    wait_for(lambda: phase() == "hold")
    r, timings["resume"] = act("resume")
    assert r.status_code == 200, r.text
    wait_for(lambda: phase() == "talking")
    for action, body in (("mute", {}), ("unmute", {}), ("dtmf", {"digits": "9#"}), ("hangup", {})):
        r, timings[action] = act(action, **body)
        assert r.status_code == 200, (action, r.text)
    refused = wait_for(lambda: [e for e in live.events(call_id) if e.type == "release.refused"])
    assert refused[0].data["reason"].startswith("R-48")  # no closing phrase yet: the call goes on

    def caller_heard() -> list[tuple[float, str, str]]:
        async def read() -> list[tuple[float, str, str]]:
            return list(live.sim.channels[call_id].heard)

        return live.run(read())

    heard = wait_for(lambda: [h for h in caller_heard() if h[1] == "dtmf_tone"] and caller_heard())
    kinds = [(kind, detail.rpartition("/")[2]) for _, kind, detail in heard
             if kind in ("moh", "moh_stopped", "dtmf_tone") or detail.endswith(("hold.wait", "hold.resume"))]
    assert kinds == [("playback", "hold.wait"), ("moh", "default"), ("moh_stopped", ""), ("playback", "hold.resume"),
                     ("dtmf_tone", "9"), ("dtmf_tone", "#")]
    control = [(e.type, e.data) for e in live.events(call_id) if e.type.startswith("control.")]
    assert control == [("control.hold", {"by": AGENT}), ("control.resume", {"by": AGENT}),
                       ("control.mute", {"by": AGENT}), ("control.unmute", {"by": AGENT}),
                       ("control.dtmf", {"by": AGENT, "digits": "9#"}), ("control.hangup", {"by": AGENT})]
    print("call control round trips (ms):", {k: round(v, 1) for k, v in timings.items()})
    client.close()
