"""The simulated Asterisk (callcenter.sim.agi) answers like Asterisk 22. Driven here by raw lines, not by the
bridge's codec, so a bug shared by the two sides cannot hide (docs/design.md)."""

from __future__ import annotations

import asyncio
import wave

import pytest

from callcenter.sim.agi import AGIPeer, split_args
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.sim.clock import ScaledClock


async def _session(caller: SimCaller, commands: list[str], **options) -> tuple[list[list[str]], object, dict]:
    """Run ``commands`` as the AGI side against one simulated call; returns each command's raw reply lines."""
    replies: list[list[str]] = []
    env: dict[str, str] = {}
    clock = ScaledClock(0.02)

    async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (line := (await reader.readline()).decode().rstrip("\n")) != "":
            key, _, value = line.partition(": ")
            env[key] = value
        for command in commands:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            lines = [(await reader.readline()).decode().rstrip("\n")]
            while lines[-1].startswith("520-") or (lines[0].startswith("520-") and not lines[-1].startswith("520 ")):
                lines.append((await reader.readline()).decode().rstrip("\n"))
            replies.append(lines)
        writer.close()

    server = await asyncio.start_server(app, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await asyncio.wait_for(AGIPeer(caller, clock=clock, **options).run("127.0.0.1", port), 10)
    finally:
        server.close()
        await server.wait_closed()
    return replies, result, env


async def test_environment_block_is_asterisk_s() -> None:
    _, result, env = await _session(SimCaller(args=("main", "vip"), number="13900000000"), [])
    assert list(env)[:4] == ["agi_network", "agi_network_script", "agi_request", "agi_channel"]
    assert env["agi_network"] == "yes" and env["agi_network_script"] == "main"
    assert env["agi_arg_1"] == "vip" and env["agi_callerid"] == "13900000000" and env["agi_version"] == "22.10.1"
    assert env["agi_uniqueid"] == result.uniqueid


async def test_stream_file_digit_and_unknown_commands() -> None:
    caller = SimCaller(dtmf=((2.0, "1"), (3.0, "9")))
    replies, result, _ = await _session(
        caller,
        ["ANSWER", 'STREAM FILE silence/5 "12"', "WAIT FOR DIGIT 3000", "SAY FOOBAR", "STREAM FILE x",
         "EXEC NoSuchApp", 'STREAM FILE /nowhere/missing ""', "GET VARIABLE NOPE"],
    )
    assert replies[0] == ["200 result=0"]
    code, endpos = replies[1][0].split(" endpos=")
    started = result.transcript[1].t  # endpos: 8 kHz samples played until the digit cut the prompt
    assert code == "200 result=49" and int(endpos) == pytest.approx((2.0 - started) * 8000, abs=800)
    assert replies[2] == ["200 result=57"]  # '9' as its ASCII code
    assert replies[3] == ["510 Invalid or unknown command"]
    assert replies[4][0] == "520-Invalid command syntax.  Proper usage follows:" and replies[4][-1].startswith("520 ")
    assert replies[5] == ["200 result=-2"]
    assert replies[6] == ["200 result=-1 endpos=0"]
    assert replies[7] == ["200 result=0"]


async def test_hangup_gives_minus_one_then_hangup_line_then_511() -> None:
    replies, result, _ = await _session(
        SimCaller(hangup_at=0.5), ["ANSWER", 'STREAM FILE silence/3 ""', "GET VARIABLE X", "ANSWER"]
    )
    assert replies[1][0].startswith("200 result=-1 endpos=")
    assert replies[2] == ["HANGUP"]  # the bare line comes first, then GET VARIABLE's own reply…
    started = result.transcript[1].t  # the prompt was cut at the hang-up instant, not at its end (3 s)
    # 1 call second is 20 ms here: a loaded machine's timers fire that late (0.88 was measured beside other test
    # workers), while a prompt played to its end would say 3.
    assert result.hung_up_by == "caller" and result.hangup_at == pytest.approx(max(0.5, started), abs=1.0)


async def test_background_detect_talk_digits_noise_and_no_media() -> None:
    detect = ["ANSWER", "EXEC BackgroundDetect silence/5,500,100", "GET VARIABLE TALK_DETECTED"]
    talk, _, _ = await _session(SimCaller(speech=((3.0, 1.2),)), detect)
    assert talk[1] == ["200 result=0"] and talk[2][0].startswith("200 result=1 (")
    assert int(talk[2][0].split("(")[1].rstrip(")")) == pytest.approx(1200, abs=50)
    digit, _, _ = await _session(SimCaller(dtmf=((1.0, "#"),)), ["ANSWER", "EXEC BackgroundDetect silence/5,500,100"])
    assert digit[1] == ["200 result=35"]
    # Continuous noise never ends a talk token; a caller sending nothing is never detected (docs/design.md).
    for caller in (SimCaller(noise=((0.0, 30.0),)), SimCaller()):
        quiet, _, _ = await _session(caller, detect)
        assert quiet[1:] == [["200 result=0"], ["200 result=0"]]


async def test_dial_rings_on_the_cadence_and_sets_dialstatus(tmp_path) -> None:
    agents = {"PJSIP/8001": SimAgent("PJSIP/8001", answer_at_ring=None),
              "PJSIP/8002": SimAgent("PJSIP/8002", answer_at_ring=2, hangup_after=3.0)}
    target = tmp_path / "2026" / "11" / "23" / "c.wav"
    replies, result, _ = await _session(
        SimCaller(),
        ["ANSWER", f"EXEC MixMonitor {target}", "EXEC Dial PJSIP/8001,15,g", "GET VARIABLE DIALSTATUS",
         "EXEC Dial PJSIP/8002,15,g", "GET VARIABLE DIALSTATUS", "GET VARIABLE ANSWEREDTIME_MS",
         "EXEC Dial PJSIP/9999,15", "GET VARIABLE DIALSTATUS", "HANGUP"],
        agents=agents,
    )
    assert replies[2] == ["200 result=0"] and replies[3] == ["200 result=1 (NOANSWER)"]
    assert replies[4] == ["200 result=0"] and replies[5] == ["200 result=1 (ANSWER)"]
    assert replies[6] == ["200 result=1 (3000)"]
    assert replies[8] == ["200 result=1 (CHANUNAVAIL)"]
    assert replies[9] == ["200 result=1"]
    at = {e.command: e.t for e in result.transcript}
    dial_1, dial_2 = at["EXEC Dial PJSIP/8001,15,g"], at["EXEC Dial PJSIP/8002,15,g"]
    assert dial_2 - dial_1 == pytest.approx(15.0, abs=0.5)  # NOANSWER at the Dial timeout
    assert at["GET VARIABLE ANSWEREDTIME_MS"] - dial_2 == pytest.approx(5.5 + 3.0, abs=0.5)  # ring 2, 3 s talk
    with wave.open(str(target)) as w:
        assert w.getframerate() == 8000 and w.getnframes() / 8000 == pytest.approx(result.hangup_at, abs=0.5)


def test_split_args_reads_quotes_like_res_agi() -> None:
    assert split_args('STREAM FILE "a b" "" 0') == ["STREAM", "FILE", "a b", "", "0"]
    assert split_args('SET VARIABLE X "say \\"hi\\""') == ["SET", "VARIABLE", "X", 'say "hi"']
