"""The ARI client: REST over the websocket on Asterisk that has it, HTTP otherwise; reconnect; typed errors."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from callcenter.sim.ari import AriSimulator, AriTrafficCheck, LocalLink
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from callcenter.telephony.ari import (
    AriClient,
    AriConnectionLost,
    AriRequestError,
    AriUnavailable,
    Backoff,
    supports_rest_over_websocket,
)

FAST = Backoff(first=0.001, cap=0.005, jitter=0.0)


@pytest.mark.parametrize(
    ("version", "expected"),
    [("22.10.1", True), ("22.4.0", True), ("22.3.0", False), ("21.9.0", True), ("21.8.2", False),
     ("20.14.1", True), ("20.13.0", False), ("23.0.0", True), ("18.26.0", False), ("certified-20.7-cert5", False),
     ("", False)],
)
def test_rest_over_websocket_follows_the_asterisk_release_notes(version: str, expected: bool) -> None:
    assert supports_rest_over_websocket(version) is expected


async def run_client(client: AriClient) -> asyncio.Task[None]:
    task = asyncio.create_task(client.run())
    async with asyncio.timeout(3):
        await client.wait_connected()
    return task


async def stop(client: AriClient, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.close()


async def test_in_process_link_carries_rest_and_events_without_sockets() -> None:
    sim = AriSimulator(clock=ScaledClock(0.01))
    events: list[dict[str, Any]] = []

    async def link() -> LocalLink:
        return LocalLink(sim, "callcenter")

    client = AriClient("http://unused/ari", "u", "p", "callcenter", link_factory=link, use_http=False)
    client.on_event = events.append
    task = await run_client(client)
    try:
        assert client.rest_over_websocket and client.asterisk_version == "22.10.1"
        chan = sim.place_call(SimCaller())
        await asyncio.sleep(0)
        assert events[-1]["type"] == "StasisStart"
        await client.request("POST", f"channels/{chan.id}/answer")
        assert (await client.request("GET", f"channels/{chan.id}"))["state"] == "Up"
        with pytest.raises(AriRequestError) as err:
            await client.request("POST", "channels/missing/answer")
        assert err.value.status == 404 and "Channel not found" in str(err.value)
    finally:
        await stop(client, task)


async def test_old_asterisk_gets_its_rest_over_http() -> None:
    sim = AriSimulator(clock=ScaledClock(0.01), version="20.5.0")
    check = AriTrafficCheck(sim.docs)
    sim.add_observer(check)
    async with AriServer(sim) as server:
        client = AriClient(server.ari_url, "callcenter", "callcenter", "callcenter", backoff=FAST)
        task = await run_client(client)
        try:
            assert client.rest_over_websocket is False
            assert await client.request("GET", "channels") == []
            assert "RESTResponse" not in check.seen and check.seen["GET /channels"] == 1
        finally:
            await stop(client, task)
    assert check.errors == []


async def test_reconnects_with_backoff_until_asterisk_is_there() -> None:
    sim = AriSimulator(clock=ScaledClock(0.01))
    attempts = 0

    async def flaky() -> LocalLink:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionRefusedError("asterisk is starting")
        return LocalLink(sim, "callcenter")

    client = AriClient("http://unused/ari", "u", "p", "callcenter", link_factory=flaky, use_http=False, backoff=FAST)
    task = await run_client(client)
    try:
        assert attempts == 3 and client.connections == 1
        sim.drop_websockets()
        for _ in range(2000):  # the drop is noticed, then the link is re-made
            if client.connections >= 2 and client.connected:
                break
            await asyncio.sleep(0.001)
        assert attempts == 4
    finally:
        await stop(client, task)


class _SilentLink:
    """A websocket that takes requests and never answers, until it is dropped."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed = asyncio.Event()

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def recv(self) -> str:
        await self.closed.wait()
        raise ConnectionError("dropped")

    async def close(self) -> None:
        self.closed.set()


async def test_a_request_in_flight_when_the_websocket_drops_fails_as_connection_lost() -> None:
    link = _SilentLink()

    async def factory() -> _SilentLink:
        return link

    client = AriClient("http://unused/ari", "u", "p", "app", link_factory=factory, use_http=False,
                       rest_over_websocket=True, request_timeout=5)
    client._link = link  # as if connected: the request goes out over this websocket
    pending = asyncio.create_task(client.request("POST", "channels/1/play/p1", {"media": "sound:x"}))
    await asyncio.sleep(0.01)
    assert '"uri": "channels/1/play/p1"' in link.sent[0] and '"name": "media"' in link.sent[0]
    client._lost(link)
    with pytest.raises(AriConnectionLost):
        await pending


async def test_unreachable_asterisk_is_a_typed_error_after_the_deadline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AriClient(f"http://127.0.0.1:{port}/ari", "u", "p", "app", backoff=FAST, request_timeout=0.05)
    try:
        with pytest.raises(AriUnavailable, match="unreachable"):
            await client.request("GET", "channels")
    finally:
        await client.close()


async def test_websocket_requests_without_a_response_fail_at_their_own_deadline() -> None:
    """One watchdog timer serves every request's deadline: each fails request_timeout after it was sent."""
    link = _SilentLink()
    client = AriClient("http://unused/ari", "u", "p", "app", use_http=False, rest_over_websocket=True,
                       request_timeout=0.05)
    client._link = link
    loop = asyncio.get_running_loop()

    async def waited(delay: float) -> float:
        await asyncio.sleep(delay)
        sent = loop.time()
        with pytest.raises(AriUnavailable, match=r"no RESTResponse within 0\.05 s"):
            await client.request("POST", "channels/1/answer")
        return loop.time() - sent

    took = await asyncio.gather(waited(0), waited(0.02), waited(0.08))
    assert all(0.05 <= t < 0.5 for t in took)
    assert not client._pending and not client._deadlines and client._watchdog is None
