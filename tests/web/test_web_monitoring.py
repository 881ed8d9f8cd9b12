"""Live monitoring from the wallboard (R-118) over HTTP against the whole service and the simulated Asterisk:
who may, the refusals as one line each (R-111: a purpose is required), a supervisor listening then switching
mode and stopping, and the record QA reads on the call's review page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import PASSWORD, sign_in
from live_service import LiveService

from callcenter.recordings.access import verify_ledger
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.store import session_scope
from callcenter.web.users import add_user

SEAT = "PJSIP/9001"
CHATTY = tuple((2.0 * k, 0.5) for k in range(1, 400))  # keeps the silent-call sequence away


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, accounts_db: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("live-monitoring"), accounts_db)
    add_user(service.settings.database.url, "lead", "supervisor", PASSWORD, work_number="9001")

    async def seat() -> None:
        service.sim.add_agent(SimAgent(SEAT, answer_at_ring=1))

    service.run(seat())
    yield service
    service.close()


@contextmanager
def client_of(live: LiveService, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        client.headers["X-CSRF-Token"] = sign_in(client, name)  # type: ignore[arg-type]
        yield client


def agent_on_the_line(live: LiveService) -> str:
    live.ready()
    call_id = live.place_call(SimCaller(args=("hotline",), speech=CHATTY))
    deadline = time.monotonic() + 30
    while not [e for e in live.events(call_id) if e.type == "call.bridged"]:
        assert time.monotonic() < deadline, "the agent never answered"
        time.sleep(0.05)
    return call_id


def hang_up(live: LiveService, call_id: str) -> None:
    async def leave() -> None:
        live.sim.caller_hangs_up(call_id)
        assert live.service.ari is not None
        await live.service.ari.outcome(call_id)  # the call is over: the agent is in after-call work

    live.run(leave())


def test_who_may_monitor_and_each_refusal_in_one_line(live: LiveService) -> None:
    call_id = agent_on_the_line(live)
    body = {"call_id": call_id, "mode": "listen", "purpose": "质检抽查"}
    for name in ("agent1", "qa1"):
        with client_of(live, name) as c:
            r = c.post("/api/wallboard/monitor", json=body)
            assert r.status_code == 403 and "may not open /api/wallboard/monitor" in r.json()["error"]
    with client_of(live, "boss") as c:  # a supervisor account without a 工号 has no desk phone to ring
        r = c.post("/api/wallboard/monitor", json=body)
        assert (r.status_code, r.json()["error"].split(":")[0]) == (400, "boss has no seat")
    with client_of(live, "lead") as c:
        r = c.post("/api/wallboard/monitor", json={**body, "purpose": "   "})
        assert r.status_code == 400 and "purpose is required" in r.json()["error"]
        r = c.post("/api/wallboard/monitor", json={**body, "call_id": "no-such-call"})
        assert r.status_code == 404 and r.json()["error"] == "call no-such-call is not live"
        r = c.post("/api/wallboard/monitor", json={**body, "mode": "spy"})
        assert r.status_code == 400 and "expected one of listen, whisper, barge" in r.json()["error"]
        r = c.post("/api/wallboard/monitor/stop", json={"call_id": call_id})
        assert r.status_code == 404 and r.json()["error"] == f"call {call_id} is not being monitored"
    hang_up(live, call_id)


def test_a_supervisor_listens_switches_stops_and_qa_reads_the_record(live: LiveService) -> None:
    call_id = agent_on_the_line(live)
    with client_of(live, "lead") as c:
        r = c.post("/api/wallboard/monitor", json={"call_id": call_id, "mode": "listen", "purpose": "新员工辅导"})
        assert r.status_code == 201, r.text
        row = next(x for x in c.get("/api/wallboard").json()["live_calls"] if x["call_id"] == call_id)
        assert row["monitor"] == {"call_id": call_id, "supervisor": "lead", "mode": "listen", "purpose": "新员工辅导"}
        assert row["caller"] != "13800138000" and row["caller"].endswith("8000")  # masked
        r = c.post("/api/wallboard/monitor/switch", json={"call_id": call_id, "mode": "barge"})
        assert r.status_code == 200 and r.json()["mode"] == "barge"
        r = c.post("/api/wallboard/monitor/stop", json={"call_id": call_id})
        assert r.status_code == 200
    events = live.events(call_id)
    assert [e.type for e in events if e.type.startswith("supervision.")] == [
        "supervision.started", "supervision.switched", "supervision.ended"]
    assert not [e for e in events if e.type == "call.hangup"]  # the call went on
    hang_up(live, call_id)
    deadline = time.monotonic() + 30
    while not [e for e in live.events(call_id) if e.type == "recording.finished"]:
        assert time.monotonic() < deadline, "the call's recording never finished"
        time.sleep(0.05)
    with session_scope(live.settings.database.url) as s:
        assert verify_ledger(s).ok
    with client_of(live, "qa1") as c:
        recording = c.get("/api/recordings", params={"call_id": call_id}).json()
        items = [i for i in recording["items"] if i["call_id"] == call_id]
        page = c.get(f"/qa/{items[0]['id']}").text
    assert "实时监听记录" in page
    assert "started listen call" in page and "purpose: 新员工辅导" in page and "switched barge" in page
    assert "班长 lead 开始监听(用途:新员工辅导)" in page and "班长 lead 由监听转为强插" in page
