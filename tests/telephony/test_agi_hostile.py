"""Hostile or broken peers against the FastAGI server, over real loopback TCP (issue 3): malformed or oversized
environment lines, too many of them, an environment never finished, a socket closed mid-command, a HANGUP line,
511, 520, a peer that never answers, a flood of connections. None may crash the server or leak a task.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from callcenter.telephony.agi import server as agi_server
from callcenter.telephony.agi.server import FastAGIServer
from tests.calls.seats_kit import seat_pool
from tests.telephony.agi_peer import ENV, call_events, running_bridge


def _env(entry: str = "silent", uniqueid: str = "1763900000.77") -> bytes:
    text = ENV.replace("agi_network_script: main", f"agi_network_script: {entry}")
    return text.replace("agi_uniqueid: 1763900000.1", f"agi_uniqueid: {uniqueid}").encode()


class Recorder:
    """A call handler that records each call's environment and, when told, holds the call open."""

    def __init__(self) -> None:
        self.envs: list[dict[str, str]] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self._arrived = asyncio.Condition()

    async def __call__(self, transport, env) -> None:
        async with self._arrived:
            self.envs.append(env)
            self._arrived.notify_all()
        await self.hold.wait()
        await transport.execute("NOOP")

    async def reached(self, calls: int) -> None:
        """Until ``calls`` calls are inside the handler (bounded)."""
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(lambda: len(self.envs) >= calls)


async def _server(settings, handler, **telephony) -> FastAGIServer:
    settings = replace(settings, telephony=replace(settings.telephony, agi_port=0, **telephony))
    server = FastAGIServer(settings, handler)
    await server.start()
    return server


async def _eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server still sends until it closes the connection (bounded)."""
    return await asyncio.wait_for(reader.read(), 5)


def _leftover_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


@pytest.mark.parametrize(
    "block",
    [
        b"this is not agi\n\n",  # malformed line
        b"agi_channel: " + b"x" * 10000 + b"\n\n",  # oversized line
        b"".join(b"agi_arg_%d: x\n" % i for i in range(500)) + b"\n",  # too many lines
        b"\n",  # empty environment
        b"agi_channel: PJSIP/1\n",  # closed before the blank line
    ],
    ids=["malformed", "oversized", "too-many-lines", "empty", "unfinished"],
)
async def test_bad_environment_is_refused_and_the_server_keeps_serving(settings, block: bytes) -> None:
    recorder = Recorder()
    server = await _server(settings, recorder)
    try:
        with capture_logs() as logs:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(block)
            await writer.drain()
            if block.endswith(b"PJSIP/1\n"):
                writer.write_eof()
            assert await _eof(reader) == b""  # closed without a single command
            writer.close()
        assert any(e["event"] == "agi.bad_environment" for e in logs)
        assert recorder.envs == []
        # The next, honest call is served.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_env())
        await writer.drain()
        assert await asyncio.wait_for(reader.readline(), 5) == b"NOOP\n"
        writer.write(b"200 result=0\n")
        await writer.drain()
        assert await _eof(reader) == b""
        writer.close()
        assert recorder.envs[0]["agi_network_script"] == "silent"
    finally:
        await server.close()
    assert server.active == 0 and _leftover_tasks() == []


async def test_environment_never_finished_times_out(settings, monkeypatch) -> None:
    monkeypatch.setattr(agi_server, "ENV_TIMEOUT", 0.2)
    server = await _server(settings, Recorder())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"agi_network: yes\n")  # and then nothing
        await writer.drain()
        assert await _eof(reader) == b""
        writer.close()
    finally:
        await server.close()
    assert _leftover_tasks() == []


async def test_flood_beyond_max_calls_is_refused_with_a_clear_log(settings) -> None:
    recorder = Recorder()
    recorder.hold.clear()
    server = await _server(settings, recorder, agi_max_calls=2)
    held = []
    try:
        for i in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(_env(uniqueid=f"1.{i}"))
            await writer.drain()
            held.append((reader, writer))
        await recorder.reached(2)
        with capture_logs() as logs:
            flood = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(5)]
            for reader, writer in flood:
                assert await _eof(reader) == b""
                writer.close()
        full = [e for e in logs if e["event"] == "agi.full"]
        assert len(full) == 5 and "telephony.agi_max_calls = 2" in full[0]["message"]
        assert server.refused == 5 and server.active == 2
        recorder.hold.set()
        for reader, writer in held:
            assert await asyncio.wait_for(reader.readline(), 5) == b"NOOP\n"
            writer.write(b"200 result=0\n")
            await writer.drain()
            assert await _eof(reader) == b""
            writer.close()
    finally:
        await server.close()
    assert server.active == 0 and _leftover_tasks() == []


async def test_close_cancels_calls_in_progress_without_leaking_tasks(settings) -> None:
    recorder = Recorder()
    recorder.hold.clear()
    server = await _server(settings, recorder)
    conns = []
    for i in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_env(uniqueid=f"2.{i}"))
        await writer.drain()
        conns.append((reader, writer))
    await recorder.reached(3)
    await server.close()
    for reader, writer in conns:
        assert await _eof(reader) == b""
        writer.close()
    assert server.active == 0 and _leftover_tasks() == []


# ---------------------------------------------------------------- mid-call misbehaviour, real script calls


async def _open_call(bridge, entry: str = "silent", uniqueid: str = "1763900000.9"):
    reader, writer = await asyncio.open_connection(bridge["host"], bridge["port"])
    writer.write(_env(entry, uniqueid))
    await writer.drain()
    return reader, writer


async def _expect(reader: asyncio.StreamReader, command: str) -> None:
    assert (await asyncio.wait_for(reader.readline(), 5)).decode().rstrip("\n") == command


async def test_socket_closed_mid_command_ends_the_call(settings) -> None:
    async with running_bridge(settings, seat_pool(settings)) as bridge:
        reader, writer = await _open_call(bridge)
        await _expect(reader, "EXEC Ringing")
        writer.write(b"200 result=0\n")
        await writer.drain()
        await _expect(reader, "ANSWER")
        writer.close()  # gone without a reply
        events = await call_events(bridge["timeline"], "1763900000.9")
    hangup = events[-1]
    assert hangup.type == "call.hangup" and hangup.data["by"] == "caller"
    assert _leftover_tasks() == []


async def test_hangup_line_between_commands_ends_the_call_at_once(settings) -> None:
    async with running_bridge(settings, seat_pool(settings)) as bridge:
        reader, writer = await _open_call(bridge)
        await _expect(reader, "EXEC Ringing")
        writer.write(b"200 result=0\nHANGUP\n")  # the caller hangs up while the IVR is still ringing
        await writer.drain()
        rest = await _eof(reader)  # the bridge closes without answering a dead call
        writer.close()
        events = await call_events(bridge["timeline"], "1763900000.9")
    assert b"ANSWER" not in rest
    hangup = events[-1]
    assert hangup.data["by"] == "caller" and hangup.data["disposition"] == "abandoned" and hangup.offset < 1.0
    assert _leftover_tasks() == []


async def test_511_dead_channel_ends_the_call(settings) -> None:
    async with running_bridge(settings, seat_pool(settings)) as bridge:
        reader, writer = await _open_call(bridge)
        await _expect(reader, "EXEC Ringing")
        writer.write(b"200 result=0\n")
        await writer.drain()
        await _expect(reader, "ANSWER")
        writer.write(b"511 Command Not Permitted on a dead channel or intercept routine\n")
        await writer.drain()
        await _eof(reader)
        writer.close()
        events = await call_events(bridge["timeline"], "1763900000.9")
    assert events[-1].data["by"] == "caller"
    assert any(e.type == "command" and e.data.get("result") == "AGIDeadChannel" for e in events)


async def test_520_usage_reply_is_logged_and_the_call_goes_on(settings) -> None:
    async with running_bridge(settings, seat_pool(settings)) as bridge:
        reader, writer = await _open_call(bridge)
        await _expect(reader, "EXEC Ringing")
        writer.write(
            b"520-Invalid command syntax.  Proper usage follows:\n Usage: EXEC <application> <options>\n"
            b"520 End of proper usage.\n"
        )
        await writer.drain()
        await _expect(reader, "ANSWER")  # the stream stays in step: the next command gets its own reply
        writer.write(b"200 result=0\n")
        await writer.drain()
        writer.close()
        events = await call_events(bridge["timeline"], "1763900000.9")
    assert any(e.type == "command" and e.data.get("result") == "AGIUsageError" for e in events)
    assert any(e.type == "command" and e.data.get("command") == "ANSWER" for e in events)


async def test_peer_that_never_answers_times_out(settings) -> None:
    settings = replace(settings, telephony=replace(settings.telephony, agi_command_timeout_seconds=0.3))
    async with running_bridge(settings, seat_pool(settings)) as bridge:
        reader, writer = await _open_call(bridge)
        await _expect(reader, "EXEC Ringing")  # … and no reply, ever
        assert await _eof(reader) == b""
        writer.close()
        events = await call_events(bridge["timeline"], "1763900000.9")
    hangup = events[-1]
    assert hangup.data["cause"] == "agi_timeout" and hangup.data["by"] == "system"
    assert _leftover_tasks() == []


async def test_one_watchdog_times_out_a_shorter_limit_after_a_longer_one() -> None:
    """The per-connection watchdog is armed for the first command's 2 s; a later 0.1 s limit must still fire
    at 0.1 s (the timer moves earlier), and the connection is closed after it (issue 3)."""
    from callcenter.telephony.agi.codec import AGICommandTimeout
    from tests.telephony.agi_peer import transport_pair

    async with transport_pair("native", command_timeout=2.0) as (conn, reader, writer):
        writer.write(ENV.encode())
        await conn.read_environment()
        answer = asyncio.ensure_future(conn.execute("ANSWER"))
        assert await reader.readline() == b"ANSWER\n"
        writer.write(b"200 result=0\n")
        assert (await answer).result == "0"
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AGICommandTimeout, match=r"no reply to NOOP within 0\.1 s"):
            await conn.execute("NOOP", limit=0.1)
        assert loop.time() - started < 1.0 and conn.closed


async def test_watchdog_fired_for_an_old_deadline_does_not_time_out_the_next_command() -> None:
    """A 0.05 s command answered at once leaves the watchdog armed for 0.05 s; the next command (2 s limit),
    still waiting then, must not be failed by it: the watchdog re-arms for the current deadline."""
    from tests.telephony.agi_peer import transport_pair

    async with transport_pair("native", command_timeout=2.0) as (conn, reader, writer):
        writer.write(ENV.encode())
        await conn.read_environment()
        first = asyncio.ensure_future(conn.execute("ANSWER", limit=0.05))
        assert await reader.readline() == b"ANSWER\n"
        writer.write(b"200 result=0\n")
        await first
        second = asyncio.ensure_future(conn.execute("NOOP"))
        assert await reader.readline() == b"NOOP\n"
        await asyncio.sleep(0.15)  # past the first command's deadline: the watchdog has fired and re-armed
        assert not second.done()
        writer.write(b"200 result=0\n")
        assert (await second).result == "0" and not conn.closed
