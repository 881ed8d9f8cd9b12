"""The ARI simulator over real loopback sockets, driven by plain websockets/httpx clients (not the adapter):
it must behave like Asterisk 22 for the resources the call centre uses, and every REST response and event it
sends must match the Swagger models of Asterisk 22.10.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from callcenter.sim.ari import AriSimulator, AriTrafficCheck, fixed_media_length
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from callcenter.sim.errors import SimulatorError

SCALE = 0.02
AUTH = ("callcenter", "callcenter")


class Peer:
    """A bare ARI application: the events websocket plus REST over it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.n = 0
        self.backlog: list[dict[str, Any]] = []  # events received while waiting for another type

    async def event(self, *types: str, within: float = 30.0) -> dict[str, Any]:
        for message in self.backlog:
            if not types or message["type"] in types:
                self.backlog.remove(message)
                return message
        async with asyncio.timeout(within * SCALE + 1):
            while True:
                message = json.loads(await self.ws.recv())
                if not types or message["type"] in types:
                    return message
                self.backlog.append(message)

    async def rest(self, method: str, uri: str, **query: str) -> dict[str, Any]:
        self.n += 1
        frame: dict[str, Any] = {"type": "RESTRequest", "transaction_id": "t", "request_id": f"r{self.n}",
                                 "method": method, "uri": uri}
        if query:
            frame["query_strings"] = [{"name": k, "value": v} for k, v in query.items()]
        await self.ws.send(json.dumps(frame))
        return await self.event("RESTResponse")


@pytest.fixture
async def sim() -> AsyncIterator[tuple[AriSimulator, AriServer, AriTrafficCheck]]:
    simulator = AriSimulator(clock=ScaledClock(SCALE), media_length=fixed_media_length(2.0))
    check = AriTrafficCheck(simulator.docs)
    simulator.add_observer(check)
    async with AriServer(simulator) as server:
        yield simulator, server, check
    assert check.errors == []


async def connect(server: AriServer, app: str = "callcenter") -> Peer:
    url = server.ari_url.replace("http", "ws") + f"/events?app={app}&api_key=callcenter:callcenter"
    return Peer(await websockets.connect(url))


async def test_rest_needs_credentials_and_serves_the_api_docs(sim) -> None:  # type: ignore[no-untyped-def]
    _, server, _ = sim
    async with httpx.AsyncClient() as http:
        assert (await http.get(server.ari_url + "/asterisk/info")).status_code == 401
        info = await http.get(server.ari_url + "/asterisk/info", auth=AUTH)
        assert info.json()["system"]["version"] == "22.10.1"
        listing = (await http.get(server.ari_url + "/api-docs/resources.json")).json()
        assert listing["basePath"] == server.ari_url
        assert {"path": "/api-docs/channels.{format}", "description": "channels"} in listing["apis"]
        channels = (await http.get(server.ari_url + "/api-docs/channels.json")).json()
        assert channels["basePath"] == server.ari_url and "Channel" in channels["models"]
    with pytest.raises(websockets.exceptions.InvalidStatus):
        await websockets.connect(server.ari_url.replace("http", "ws") + "/events?app=x&api_key=callcenter:wrong")


async def test_stasis_fails_the_call_when_no_application_is_connected(sim) -> None:  # type: ignore[no-untyped-def]
    simulator, _, _ = sim
    chan = simulator.place_call(SimCaller())
    ended = await asyncio.wait_for(simulator.wait_ended(chan.id), 1)
    assert ended.heard[0][1] == "failed" and simulator.failed_no_app == 1


async def test_rest_over_websocket_answers_like_http(sim) -> None:  # type: ignore[no-untyped-def]
    simulator, server, check = sim
    peer = await connect(server)
    simulator.place_call(SimCaller(number="13900001111", args=("main", "x")))
    start = await peer.event("StasisStart")
    assert start["args"] == ["main", "x"] and start["channel"]["state"] == "Ring"
    cid = start["channel"]["id"]
    answer = await peer.rest("POST", f"channels/{cid}/answer")
    assert (answer["status_code"], answer["reason_phrase"], answer["request_id"]) == (204, "No Content", "r1")
    assert "message_body" not in answer
    got = await peer.rest("GET", f"channels/{cid}")
    assert json.loads(got["message_body"])["state"] == "Up"
    missing = await peer.rest("POST", "channels/nope/answer")
    assert missing["status_code"] == 404 and json.loads(missing["message_body"]) == {"message": "Channel not found"}
    bad = await peer.rest("POST", f"channels/{cid}/play")
    assert bad["status_code"] == 400 and "media: required" in bad["message_body"]
    async with httpx.AsyncClient(auth=AUTH) as http:
        assert (await http.put(server.ari_url + "/channels")).status_code == 405
        listed = (await http.get(server.ari_url + "/channels")).json()
    assert [c["id"] for c in listed] == [cid]
    assert check.seen["RESTResponse"] == 4
    await peer.ws.close()


async def test_talk_events_only_after_talk_detect_and_only_for_audio(sim) -> None:  # type: ignore[no-untyped-def]
    simulator, server, _ = sim
    peer = await connect(server)
    simulator.place_call(SimCaller(speech=((0.0, 3.0), (4.0, 1.5)), noise=((9.0, 1.0),), dtmf=((12.0, "5"),)))
    cid = (await peer.event("StasisStart"))["channel"]["id"]
    await peer.rest("POST", f"channels/{cid}/answer")
    await peer.rest("POST", f"channels/{cid}/variable", variable="TALK_DETECT(set)", value="500,160")
    # Detection starts mid-utterance (the caller was already talking when TALK_DETECT was set).
    first = await peer.event("ChannelTalkingStarted", "ChannelDtmfReceived")
    assert first["type"] == "ChannelTalkingStarted"
    await peer.event("ChannelTalkingFinished")
    await peer.event("ChannelTalkingStarted")
    finished = await peer.event("ChannelTalkingFinished")
    assert finished["duration"] == pytest.approx(1500, abs=300)  # the talking time, without the 500 ms tail
    noise = await peer.event("ChannelTalkingStarted", "ChannelDtmfReceived")
    assert noise["type"] == "ChannelTalkingStarted"  # pink noise talks too (docs/design.md)
    digit = await peer.event("ChannelDtmfReceived")
    assert digit["digit"] == "5"
    await peer.ws.close()


async def test_a_silent_caller_or_no_talk_detect_gives_no_talk_events(sim) -> None:  # type: ignore[no-untyped-def]
    simulator, server, check = sim
    peer = await connect(server)
    silent = simulator.place_call(SimCaller(hangup_at=5.0))
    talker = simulator.place_call(SimCaller(speech=((3.0, 1.0),), hangup_at=5.0))
    for _ in range(2):
        cid = (await peer.event("StasisStart"))["channel"]["id"]
        await peer.rest("POST", f"channels/{cid}/answer")
        if cid == silent.id:
            await peer.rest("POST", f"channels/{cid}/variable", variable="TALK_DETECT(set)", value="")
    await asyncio.wait_for(simulator.wait_ended(silent.id), 1)
    await asyncio.wait_for(simulator.wait_ended(talker.id), 1)
    assert "ChannelTalkingStarted" not in check.seen
    assert [kind for _, kind, _ in talker.heard].count("talk") == 1  # it did talk; nobody asked to detect it
    await peer.ws.close()


async def test_agent_answers_during_its_ring_or_never(sim) -> None:  # type: ignore[no-untyped-def]
    simulator, server, _ = sim
    simulator.add_agent(SimAgent("PJSIP/8001", answer_at_ring=2))
    simulator.add_agent(SimAgent("PJSIP/8002", answer_at_ring=None))
    peer = await connect(server)
    t0 = simulator.now()
    ok = await peer.rest("POST", "channels", endpoint="PJSIP/8001", app="callcenter", appArgs="agent,c1,a1",
                         channelId="leg-1", timeout="30")
    assert ok["status_code"] == 200 and json.loads(ok["message_body"])["state"] == "Down"
    start = await peer.event("StasisStart")
    assert start["args"] == ["agent", "c1", "a1"] and start["channel"]["id"] == "leg-1"
    assert 5.5 <= simulator.now() - t0 < 6.5  # ring 2 starts at 5 s; picked up half-way through its tone
    await peer.rest("POST", "channels", endpoint="PJSIP/8002", app="callcenter", channelId="leg-2", timeout="8")
    gone = await peer.event("ChannelDestroyed")
    assert gone["channel"]["id"] == "leg-2" and gone["cause"] == 19
    unknown = await peer.rest("POST", "channels", endpoint="PJSIP/9999", app="callcenter")
    assert unknown["status_code"] == 400
    await peer.ws.close()


async def test_restart_drops_websockets_and_channels_survive(sim) -> None:  # type: ignore[no-untyped-def]
    simulator, server, _ = sim
    peer = await connect(server)
    chan = simulator.place_call(SimCaller())
    await peer.event("StasisStart")
    server.restart(down_for=2.0)
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        await peer.event()
    with pytest.raises(websockets.exceptions.InvalidStatus):
        await connect(server)
    await asyncio.sleep(2.5 * SCALE)
    again = await connect(server)
    response = await again.rest("GET", "channels")
    assert [c["id"] for c in json.loads(response["message_body"])] == [chan.id]
    await again.ws.close()


async def test_bad_scenarios_are_refused() -> None:
    with pytest.raises(SimulatorError, match="not one DTMF digit"):
        SimCaller(dtmf=((1.0, "x"),))
    with pytest.raises(SimulatorError, match="duration > 0"):
        SimCaller(speech=((1.0, 0.0),))
    with pytest.raises(SimulatorError, match="<tech>/<resource>"):
        SimAgent("8001")
    with pytest.raises(SimulatorError, match="loopback"):
        AriServer(AriSimulator(), host="0.0.0.0")
    with pytest.raises(SimulatorError, match="positive"):
        ScaledClock(0)
