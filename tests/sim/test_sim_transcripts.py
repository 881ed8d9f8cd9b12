"""The simulator answers as a real Asterisk 22 did: transcripts recorded from Asterisk 22.10.1
(tests/asterisk/test_transcripts.py keeps them true) replayed against ``callcenter.sim``."""

from __future__ import annotations

import asyncio

import yaml

from callcenter.sim.agi import AGIPeer
from callcenter.sim.ari import AriSimulator, AriTrafficCheck, fixed_media_length
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from tests.asterisk import ari_probe
from tests.asterisk.agi_probe import FIXTURE, _reply

SCALE = 0.02  # a second of call time is 20 ms: silence/1 plays in 20 ms
REAL_AGI = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
REAL_ARI = yaml.safe_load(ari_probe.FIXTURE.read_text(encoding="utf-8"))


async def _replay(commands: list[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Be the bridge: take the simulated Asterisk's connection, read its agi_ block, send each command and
    read each reply exactly as the probe read the real one."""
    done: asyncio.Future[tuple[list[str], list[tuple[str, list[str]]]]] = asyncio.get_running_loop().create_future()

    async def bridge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines = _AsyncLines(reader)
        keys = []
        while (line := await lines.readline()) not in ("\n", ""):
            keys.append(line.split(":", 1)[0])
        steps = []
        for command in commands:
            writer.write(f"{command}\n".encode())
            await writer.drain()
            steps.append((command, await lines.reply()))
        writer.close()
        done.set_result((keys, steps))

    server = await asyncio.start_server(bridge, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    peer = AGIPeer(SimCaller(args=("probe",)), clock=ScaledClock(SCALE))
    async with server:
        run = asyncio.create_task(peer.run("127.0.0.1", port))
        result = await asyncio.wait_for(done, 10)
        await asyncio.wait_for(run, 10)
    return result


class _AsyncLines:
    """Reads the simulator's lines ahead into a list, so the probe's blocking reader logic can run on them."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    async def readline(self) -> str:
        return (await self.reader.readline()).decode()

    async def reply(self) -> list[str]:
        buffered: list[str] = []
        # _reply reads until a complete reply; feed it lines as it asks for them
        while True:
            try:
                return _reply(_Lines(buffered))
            except _NeedMore:
                buffered.append(await self.readline())


class _NeedMore(Exception):
    pass


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = iter(lines)

    def readline(self) -> str:
        try:
            return next(self.lines)
        except StopIteration:
            raise _NeedMore from None


async def test_the_simulated_fastagi_answers_as_asterisk_22_did() -> None:
    keys, steps = await _replay([step["send"] for step in REAL_AGI["steps"]])
    assert keys == REAL_AGI["env_keys"]
    assert [{"send": c, "reply": r} for c, r in steps] == REAL_AGI["steps"]


async def test_the_simulated_ari_around_a_prompt_is_as_asterisk_22_did() -> None:
    """A play of a file that does not exist: 201, PlaybackStarted (playing), then PlaybackFinished (failed)."""
    sim = AriSimulator(clock=ScaledClock(SCALE), media_length=fixed_media_length(1.0))
    check = AriTrafficCheck(sim.docs)
    sim.add_observer(check)
    async with AriServer(sim) as server:
        url = server.ari_url.replace("http", "ws") + f"/events?app={ari_probe.APP}&api_key=callcenter:callcenter"

        async def place_call() -> None:
            sim.place_call(SimCaller(args=("probe",)), app=ari_probe.APP)

        recorded = await ari_probe.run_probe(url, place_call)
    assert {"asterisk": "Asterisk 22.10.1", **recorded} == REAL_ARI
    assert check.errors == []
