"""One conformance suite, two paths: every AGI transcript under fixtures/agi/ runs through the native FastAGI
codec (AGIConnection) and through pyst2 (ClassicTransport), over real loopback sockets.

Each step says what goes on the wire, what Asterisk answers (raw lines) and what the bridge must make of it;
``pyst2:`` in a step records a documented loss of the pyst2 path (never a different verdict on success,
failure or hang-up).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from callcenter.telephony.agi.codec import (
    AGICommandTimeout,
    AGIDeadChannel,
    AGIHangup,
    AGIInvalidCommand,
    AGIProtocolError,
    AGIUsageError,
    Reply,
)
from tests.telephony.agi_peer import ENV, PATHS, transport_pair

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "agi").glob("*.yaml"))
ERRORS = {
    AGIDeadChannel: "dead_channel",
    AGIHangup: "hangup",
    AGIInvalidCommand: "invalid_command",
    AGIUsageError: "usage",
    AGICommandTimeout: "timeout",
}


def _load(fixture: Path) -> dict[str, Any]:
    return yaml.safe_load(fixture.read_text(encoding="utf-8"))


def _error_kind(exc: AGIProtocolError) -> str:
    for cls, kind in ERRORS.items():
        if isinstance(exc, cls):
            return kind
    return "protocol"


def _outcome(reply: Reply, hung_up: bool) -> dict[str, Any]:
    return {
        "code": reply.code,
        "result": reply.result,
        "data": reply.data,
        "endpos": reply.endpos,
        "digit": reply.digit,
        "hung_up": hung_up,
    }


async def _peer(steps: list[dict[str, Any]], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list:
    """The scripted Asterisk: compares each command line with the transcript and writes the raw reply."""
    seen = []
    writer.write(ENV.encode())
    await writer.drain()
    for step in steps:
        line = (await asyncio.wait_for(reader.readline(), 5)).decode().rstrip("\n")
        seen.append(line)
        if step.get("close"):
            writer.close()
            return seen
        if step.get("silent"):
            continue
        writer.write("".join(f"{r}\n" for r in step["reply"]).encode())
        await writer.drain()
    return seen


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
async def test_transcript(fixture: Path, path: str) -> None:
    script = _load(fixture)
    steps = script["steps"]
    async with transport_pair(path) as (transport, peer_reader, peer_writer):
        peer = asyncio.create_task(_peer(steps, peer_reader, peer_writer))
        env = await transport.read_environment(2.0)
        assert env["agi_network_script"] == "main" and env["agi_accountcode"] == ""
        transport.start()
        for i, step in enumerate(steps):
            name, *args = step["send"]
            expect = dict(step["expect"])
            if path == "pyst2" and "pyst2" in step:
                expect = dict(step["pyst2"])
            try:
                reply = await transport.execute(name, *args, limit=step.get("limit", 2.0))
            except AGIProtocolError as exc:
                got: dict[str, Any] = {"error": _error_kind(exc)}
            else:
                got = _outcome(reply, transport.hung_up)
            assert {k: got.get(k) for k in expect} == expect, f"{fixture.stem} step {i + 1} ({path})"
            if "error" in expect and expect["error"] in ("hangup", "timeout"):
                break
        seen = await asyncio.wait_for(peer, 5)
    assert seen == [s["wire"] for s in steps][: len(seen)]
    assert len(seen) == len(steps)


@pytest.mark.parametrize("path", PATHS)
async def test_oversized_reply_line_is_a_protocol_error(path: str) -> None:
    async with transport_pair(path) as (transport, peer_reader, peer_writer):
        peer_writer.write(ENV.encode())
        await peer_writer.drain()
        await transport.read_environment(2.0)
        transport.start()

        async def flood() -> None:
            await peer_reader.readline()
            peer_writer.write(b"200 result=1 (" + b"x" * 20000 + b")\n")
            await peer_writer.drain()

        task = asyncio.create_task(flood())
        with pytest.raises(AGIProtocolError):
            await transport.execute("GET VARIABLE", "X", limit=2.0)
        await task
