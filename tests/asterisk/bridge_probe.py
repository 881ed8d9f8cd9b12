"""What Asterisk does when a channel already in a Stasis bridge is added to another: the same sequence against a
real Asterisk (tests/asterisk/test_transfers.py) and the simulator (tests/sim/test_sim_bridge_move.py), with the
same expected facts (:data:`EXPECTED`). The transfers (callcenter/telephony/ari/transfer.py) stand on it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import websockets

APP = "probe-transfer"
# A, in cc-probe with B, added to cs-probe: it leaves cc-probe by itself; added back: it leaves cs-probe.
EXPECTED = {
    "statuses": [204, 204],
    "after_move": {"cc-probe": ["B"], "cs-probe": ["A"]},
    "after_back": {"cc-probe": ["A", "B"], "cs-probe": []},
    "moves_of_a": [("ChannelEnteredBridge", "cc-probe"), ("ChannelLeftBridge", "cc-probe"),
                   ("ChannelEnteredBridge", "cs-probe"), ("ChannelLeftBridge", "cs-probe"),
                   ("ChannelEnteredBridge", "cc-probe")],
}


class _App:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.n = 0
        self.events: list[dict[str, Any]] = []

    async def rest(self, method: str, uri: str, **query: str) -> tuple[int, Any]:
        self.n += 1
        frame: dict[str, Any] = {"type": "RESTRequest", "transaction_id": "t", "request_id": f"r{self.n}",
                                 "method": method, "uri": uri,
                                 "query_strings": [{"name": k, "value": v} for k, v in query.items()]}
        await self.ws.send(json.dumps(frame))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("type") == "RESTResponse" and message.get("request_id") == f"r{self.n}":
                body = message.get("message_body")
                return int(message["status_code"]), json.loads(body) if body else None
            self.events.append(message)

    async def until(self, kind: str, count: int = 1) -> list[dict[str, Any]]:
        while sum(1 for m in self.events if m["type"] == kind) < count:
            self.events.append(json.loads(await self.ws.recv()))
        return [m for m in self.events if m["type"] == kind]


async def run_bridge_move(events_url: str, place_two: Callable[[], Awaitable[None]],
                          limit: float = 30.0) -> dict[str, Any]:
    """Connect the probe application, let ``place_two`` bring two channels into it, move one between bridges,
    and return what was seen, with the channels named A and B."""
    async with websockets.connect(events_url) as ws:
        app = _App(ws)
        async with asyncio.timeout(limit):
            await place_two()
            a, b = (m["channel"]["id"] for m in (await app.until("StasisStart", 2))[:2])
            for channel in (a, b):
                await app.rest("POST", f"channels/{channel}/answer")
            for bridge_id in ("cc-probe", "cs-probe"):
                await app.rest("POST", "bridges", type="mixing", bridgeId=bridge_id)
            await app.rest("POST", "bridges/cc-probe/addChannel", channel=f"{a},{b}")
            await app.until("ChannelEnteredBridge", 2)
            moved, _ = await app.rest("POST", "bridges/cs-probe/addChannel", channel=a)
            await app.until("ChannelEnteredBridge", 3)
            after_move = {i: (await app.rest("GET", f"bridges/{i}"))[1]["channels"] for i in ("cc-probe", "cs-probe")}
            back, _ = await app.rest("POST", "bridges/cc-probe/addChannel", channel=a)
            await app.until("ChannelEnteredBridge", 4)
            after_back = {i: (await app.rest("GET", f"bridges/{i}"))[1]["channels"] for i in ("cc-probe", "cs-probe")}
            for channel in (a, b):
                await app.rest("DELETE", f"channels/{channel}")
            for bridge_id in ("cc-probe", "cs-probe"):
                await app.rest("DELETE", f"bridges/{bridge_id}")
    name = {a: "A", b: "B"}
    return {
        "statuses": [moved, back],
        "after_move": {k: sorted(name[c] for c in v) for k, v in after_move.items()},
        "after_back": {k: sorted(name[c] for c in v) for k, v in after_back.items()},
        "moves_of_a": [(m["type"], m["bridge"]["id"]) for m in app.events
                       if m["type"] in ("ChannelEnteredBridge", "ChannelLeftBridge") and m["channel"]["id"] == a][:5],
    }
