"""Record what a real Asterisk says over ARI around a prompt, as a transcript the simulator must repeat.

:func:`run_probe` is a bare ARI application (REST over the events websocket, as the bridge talks to
Asterisk 22): once a channel enters it, it answers, plays a prompt that does not exist and one that does,
then hangs up in the middle of a third, and keeps the REST statuses and the events of that channel with their
playback states. The same function runs against the real Asterisk (tests/asterisk/test_transcripts.py) and
the simulator (tests/sim/test_sim_transcripts.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets

FIXTURE = Path(__file__).resolve().parents[1] / "sim" / "fixtures" / "ari_asterisk_22.yaml"
APP = "probe"
MISSING = "sound:/nonexistent/prompt/greeting.standard"
PRESENT = "sound:silence/1"
LONG = "sound:silence/10"  # still playing when the channel is hung up


class _App:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.n = 0
        self.events: list[dict[str, Any]] = []

    async def rest(self, method: str, uri: str, **query: str) -> int:
        self.n += 1
        frame: dict[str, Any] = {"type": "RESTRequest", "transaction_id": "t", "request_id": f"r{self.n}",
                                 "method": method, "uri": uri}
        if query:
            frame["query_strings"] = [{"name": k, "value": v} for k, v in query.items()]
        await self.ws.send(json.dumps(frame))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("type") == "RESTResponse" and message.get("request_id") == f"r{self.n}":
                return int(message["status_code"])
            self.events.append(message)

    async def until(self, kind: str, check: Callable[[dict[str, Any]], bool] = lambda _m: True) -> None:
        for message in self.events:
            if message["type"] == kind and check(message):
                return
        while True:
            message = json.loads(await self.ws.recv())
            self.events.append(message)
            if message["type"] == kind and check(message):
                return


async def run_probe(events_url: str, place_call: Callable[[], Awaitable[None]], limit: float = 30.0) -> dict:
    """Connect the probe application at ``events_url`` (…/ari/events?app=probe&api_key=…), let ``place_call``
    bring a channel into it, and return the transcript."""
    async with websockets.connect(events_url) as ws:
        app = _App(ws)
        async with asyncio.timeout(limit):
            await place_call()
            await app.until("StasisStart")
            channel = next(m for m in app.events if m["type"] == "StasisStart")["channel"]["id"]
            statuses = {"answer": await app.rest("POST", f"channels/{channel}/answer")}
            for name, media in (("missing", MISSING), ("present", PRESENT)):
                statuses[f"play {name}"] = await app.rest("POST", f"channels/{channel}/play/{name}", media=media)
                await app.until("PlaybackFinished", lambda m, name=name: m["playback"]["id"] == name)
            statuses["play cut"] = await app.rest("POST", f"channels/{channel}/play/cut", media=LONG)
            await app.until("PlaybackStarted", lambda m: m["playback"]["id"] == "cut")
            statuses["hangup"] = await app.rest("DELETE", f"channels/{channel}")
            await app.until("StasisEnd")
        try:  # the cut prompt's end, if Asterisk reports it after the channel left the application
            async with asyncio.timeout(2.0):
                await app.until("PlaybackFinished", lambda m: m["playback"]["id"] == "cut")
        except TimeoutError:
            pass
    seen = []
    for message in app.events:
        if message.get("channel", {}).get("id") not in (None, channel) and "playback" not in message:
            continue
        entry: dict[str, Any] = {"type": message["type"]}
        if "playback" in message:
            playback = message["playback"]
            entry.update(id=playback["id"], state=playback["state"], media_uri=playback["media_uri"])
        seen.append(entry)
    return {"statuses": statuses, "events": [e for e in seen if e["type"] in KEPT]}


# The events the bridge acts on around a prompt (others, such as ChannelVarset, differ by configuration).
KEPT = ("StasisStart", "PlaybackStarted", "PlaybackFinished", "StasisEnd")
