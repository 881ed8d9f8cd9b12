"""Test helpers shared by the AGI tests: a scripted "Asterisk" on loopback TCP and both transports under test.

The transport side listens (as the FastAGI server does); the scripted peer connects, sends an ``agi_`` block
and answers each command from a transcript. Nothing here parses AGI the way the bridge does: the peer compares
raw lines and writes raw lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from callcenter.telephony.agi.classic import ClassicTransport
from callcenter.telephony.agi.connection import AGIConnection

ENV = (
    "agi_network: yes\nagi_network_script: main\nagi_request: agi://127.0.0.1:4573/main\n"
    "agi_channel: PJSIP/13800138000-00000001\nagi_language: zh\nagi_type: PJSIP\nagi_uniqueid: 1763900000.1\n"
    "agi_version: 22.10.1\nagi_callerid: 13800138000\nagi_calleridname: unknown\nagi_callingpres: 0\n"
    "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: 95000\nagi_rdnis: unknown\n"
    "agi_context: callcenter\nagi_extension: 95000\nagi_priority: 2\nagi_enhanced: 0.0\nagi_accountcode: \n"
    "agi_threadid: 140000000001\n\n"
)

PATHS = ("native", "pyst2")


@contextlib.asynccontextmanager
async def transport_pair(path: str, command_timeout: float = 2.0) -> AsyncIterator[tuple]:
    """(transport under test, peer reader, peer writer) over a real loopback TCP connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    port = listener.getsockname()[1]
    accept = asyncio.ensure_future(loop.sock_accept(listener))
    peer_reader, peer_writer = await asyncio.open_connection("127.0.0.1", port)
    conn, _ = await accept
    listener.close()
    files = []
    if path == "native":
        transport = AGIConnection(command_timeout=command_timeout)
        await loop.connect_accepted_socket(lambda: transport, sock=conn)
    else:
        conn.setblocking(True)
        rfile, wfile = conn.makefile("rb"), conn.makefile("wb", buffering=0)
        files = [rfile, wfile]
        transport = ClassicTransport(rfile, wfile, command_timeout=command_timeout)
    try:
        yield transport, peer_reader, peer_writer
    finally:
        peer_writer.close()
        with contextlib.suppress(Exception):
            await peer_writer.wait_closed()
        await transport.close()
        for f in files:
            with contextlib.suppress(Exception):
                f.close()
        conn.close()


# ---------------------------------------------------------------- a running bridge for end-to-end tests

SCALE = 0.05  # 1 call second = 50 ms: a whole silent call (~37 s) runs in about 2 s


@contextlib.asynccontextmanager
async def running_bridge(settings, pool, *, scale: float = SCALE, recordings=None) -> AsyncIterator[dict]:
    """The real FastAGI server (script runner included) on an ephemeral port, a scaled clock, a memory timeline."""
    from dataclasses import replace

    from callcenter.calls.timeline import Timeline
    from callcenter.scripting.library import load_library
    from callcenter.sim.clock import ScaledClock
    from callcenter.telephony.agi.server import serve_fastagi

    settings = replace(settings, telephony=replace(settings.telephony, agi_port=0))
    load_library(settings.scripts.directory, settings.scripts)  # parsed once, before the clock matters
    clock = ScaledClock(scale)
    clock.time()
    timeline = Timeline(None)
    started: asyncio.Future = asyncio.get_running_loop().create_future()
    if recordings is not None:
        recordings = recordings(settings, timeline)
    task = asyncio.create_task(
        serve_fastagi(settings, timeline, pool, clock=clock, started=started, recordings=recordings)
    )
    host, port = await asyncio.wait_for(started, 5)
    try:
        yield {"host": host, "port": port, "clock": clock, "timeline": timeline, "settings": settings}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def call_events(timeline, call_id: str, limit: float = 5.0) -> list:
    """The call's flushed timeline once the bridge has written its ``call.hangup`` (a condition, not a delay)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        await timeline.flush()
        events = timeline.events(call_id)
        if any(e.type == "call.hangup" for e in events):
            return events
        if loop.time() > deadline:
            raise AssertionError(f"call {call_id} never ended on the bridge: {[e.type for e in events]}")
        await asyncio.sleep(0.01)
