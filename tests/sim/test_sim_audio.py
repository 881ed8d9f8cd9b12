"""Simulated recordings carry what happened on the call (callcenter/sim/audio.py): prompts (their real files
when there are any), the caller's speech or noise, music on hold, silence elsewhere. Both simulators are driven
on a virtual clock, so every interval is exact and no test sleeps."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
import wave
from array import array
from collections.abc import Callable
from pathlib import Path

import pytest

from callcenter.sim.agi import AGIPeer
from callcenter.sim.ari import AriSimulator, fixed_media_length
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.audio import SAMPLE_RATE, Segment, Sound, caller_segments, render, write_recording
from callcenter.sim.errors import SimulatorError

Spans = list[tuple[float, float]]


class _Timer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """The clock both simulators read (time, call_later, sleep, real), advanced by the test (ARI) or jumping
    to the end of each sleep (one AGI call: its commands are the only sleepers)."""

    def __init__(self) -> None:
        self.t = 0.0
        self._due: list[tuple[float, int, _Timer, Callable[[], None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.t

    def call_later(self, delay: float, fn: Callable[[], None]) -> _Timer:
        timer = _Timer()
        heapq.heappush(self._due, (self.t + max(0.0, delay), next(self._seq), timer, fn))
        return timer

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)

    def real(self, seconds: float) -> float:
        return seconds * 0.01

    def advance(self, to: float) -> None:
        while self._due and self._due[0][0] <= to:
            at, _, timer, fn = heapq.heappop(self._due)
            self.t = max(self.t, at)
            if not timer.cancelled:
                fn()
        self.t = to


class _App:
    def deliver(self, text: str) -> None:
        pass

    def drop(self) -> None:
        pass


def _samples(path: Path) -> array:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return array("h", w.readframes(w.getnframes()))


def _loud_spans(samples: array) -> Spans:
    """Where the recording is not silent: runs of non-zero 10 ms windows, in seconds."""
    win = SAMPLE_RATE // 100
    spans: Spans = []
    for i in range(0, len(samples), win):
        if any(samples[i:i + win]):
            t = i / SAMPLE_RATE
            if spans and abs(spans[-1][1] - t) < 1e-9:
                spans[-1] = (spans[-1][0], t + win / SAMPLE_RATE)
            else:
                spans.append((t, t + win / SAMPLE_RATE))
    return spans


def _inside(spans: Spans, allowed: Spans, slack: float = 0.011) -> bool:
    return all(any(a - slack <= s and e <= b + slack for a, b in allowed) for s, e in spans)


def _coverage(samples: array, a: float, b: float) -> float:
    """Share of the 100 ms windows in a..b that hold sound (speech has pauses; a flat line has none)."""
    win = SAMPLE_RATE // 10
    starts = range(round(a * SAMPLE_RATE), round(b * SAMPLE_RATE) - win + 1, win)
    return sum(1 for i in starts if any(samples[i:i + win])) / max(1, len(starts))


def _tone_file(path: Path, seconds: float, rate: int = SAMPLE_RATE) -> array:
    """A prompt file with a signal no synthetic voice makes: a 1 kHz square wave at 1234."""
    samples = array("h", (1234 if (i * 1000 * 2 // rate) % 2 else -1234 for i in range(int(seconds * rate))))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return samples


# ---------------------------------------------------------------------- ARI: the bridge recording


async def _ari_call(tmp_path: Path, caller: SimCaller, *, moh: tuple[float, float] | None = None) -> Path:
    """One call on the ARI simulator, driven like the adapter drives it: answer, bridge, record from t=0,
    prompts on the bridge at 1 s (greet: a real file, 3 s), 8 s (menu: no file, 2 s) and 12 s (bye, stopped
    at 13 s), optional bridge music on hold, caller hangs up at 20 s, then the bridge is destroyed."""
    clock = VirtualClock()
    sounds = tmp_path / "sounds"
    sim = AriSimulator(clock=clock, recordings_dir=tmp_path / "rec", sounds_dir=sounds,  # type: ignore[arg-type]
                       media_length=fixed_media_length(3.0, {"menu": 2.0}))
    sim.connect_app(["callcenter"], _App())
    chan = sim.place_call(caller)

    def ok(method: str, path: str, **query: str) -> object:
        status, body = sim.handle(method, path, query)
        assert status < 300, (path, body)
        return body

    ok("POST", f"/channels/{chan.id}/answer")
    ok("POST", "/bridges", type="mixing", bridgeId="b1")
    ok("POST", "/bridges/b1/addChannel", channel=chan.id)
    ok("POST", "/bridges/b1/record", name="2026/11/23/call", format="wav")
    steps: list[tuple[float, Callable[[], object]]] = [
        (1.0, lambda: ok("POST", "/bridges/b1/play/p1", media="sound:greet", lang="zh-CN")),
        (8.0, lambda: ok("POST", "/bridges/b1/play/p2", media="sound:menu", lang="zh-CN")),
        (12.0, lambda: ok("POST", "/bridges/b1/play/p3", media="sound:bye", lang="zh-CN")),
        (13.0, lambda: ok("DELETE", "/playbacks/p3")),
    ]
    if moh is not None:
        steps += [(moh[0], lambda: ok("POST", "/bridges/b1/moh", mohClass="default")),
                  (moh[1], lambda: ok("DELETE", "/bridges/b1/moh"))]
    for at, step in sorted(steps, key=lambda s: s[0]):
        clock.advance(at)
        step()
    clock.advance(20.0)
    sim.caller_hangs_up(chan.id)
    ok("DELETE", "/bridges/b1")
    return tmp_path / "rec" / "2026" / "11" / "23" / "call.wav"


PROMPTS: Spans = [(1.0, 4.0), (8.0, 10.0), (12.0, 13.0)]


async def test_a_silent_calls_recording_holds_only_the_prompts_and_the_real_prompt_audio(tmp_path) -> None:
    greet = _tone_file(tmp_path / "sounds" / "zh-CN" / "greet.wav", 3.0)
    path = await _ari_call(tmp_path, SimCaller(hangup_at=30.0))
    samples = _samples(path)
    assert len(samples) == 20 * SAMPLE_RATE  # recorded from the record request to the bridge's end
    assert _inside(_loud_spans(samples), PROMPTS)  # a silent caller adds nothing
    assert samples[1 * SAMPLE_RATE:4 * SAMPLE_RATE] == greet  # the prompt's own file, sample for sample
    assert _coverage(samples, 8.0, 10.0) > 0.4  # no file for "menu": a synthetic voice of its length
    assert _coverage(samples, 12.0, 13.0) > 0.3  # "bye" until it was stopped
    assert not any(samples[13 * SAMPLE_RATE + 80:])


async def test_a_speaking_caller_and_music_on_hold_add_sound_where_they_happened(tmp_path) -> None:
    caller = SimCaller(speech=((4.5, 3.0),), noise=((14.0, 1.5),), hangup_at=30.0)
    path = await _ari_call(tmp_path, caller, moh=(16.0, 19.0))
    samples = _samples(path)
    spans = _loud_spans(samples)
    assert _inside(spans, [*PROMPTS, (4.5, 7.5), (14.0, 15.5), (16.0, 19.0)])
    assert _coverage(samples, 4.5, 7.5) > 0.5  # the caller's words
    assert _coverage(samples, 14.0, 15.5) > 0.9  # line noise is continuous
    assert _coverage(samples, 16.0, 19.0) > 0.9  # music on hold
    silent = _samples(await _ari_call(tmp_path / "silent", SimCaller(hangup_at=30.0)))
    assert samples[8 * SAMPLE_RATE:10 * SAMPLE_RATE] == silent[8 * SAMPLE_RATE:10 * SAMPLE_RATE]  # same prompt
    assert samples[5 * SAMPLE_RATE:7 * SAMPLE_RATE] != silent[5 * SAMPLE_RATE:7 * SAMPLE_RATE]


async def test_ari_recordings_are_deterministic(tmp_path) -> None:
    caller = SimCaller(speech=((4.5, 3.0),), noise=((14.0, 1.5),), hangup_at=30.0)
    first = (await _ari_call(tmp_path / "a", caller, moh=(16.0, 19.0))).read_bytes()
    second = (await _ari_call(tmp_path / "b", caller, moh=(16.0, 19.0))).read_bytes()
    assert first == second


# ---------------------------------------------------------------------- AGI: MixMonitor's file


async def _agi_call(caller: SimCaller, commands: list[str], **options: object) -> tuple[AGIPeer, object]:
    async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass
        for command in commands:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            await reader.readline()
        writer.close()

    server = await asyncio.start_server(app, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        peer = AGIPeer(caller, clock=VirtualClock(), **options)  # type: ignore[arg-type]
        result = await asyncio.wait_for(peer.run("127.0.0.1", port), 10)
    finally:
        server.close()
        await server.wait_closed()
    return peer, result


async def test_mixmonitor_file_holds_prompts_caller_speech_and_music(tmp_path) -> None:
    greet = _tone_file(tmp_path / "sounds" / "zh-CN" / "greet.wav", 2.0)
    target = tmp_path / "rec" / "c.wav"
    commands = ["ANSWER", f"EXEC MixMonitor {target}",
                f'STREAM FILE {tmp_path}/sounds/zh-CN/greet ""',  # 0-2: the real file
                f'STREAM FILE {tmp_path}/sounds/zh-CN/missing ""',  # fails at once: nothing played
                'STREAM FILE prompts/hello ""',  # 2-3.5: known length, no file: synthetic voice
                "EXEC Wait 2",  # 3.5-5.5: the caller talks 4-5
                'STREAM FILE silence/1 ""',  # 5.5-6.5: Asterisk's silence file is silence
                "EXEC StartMusicOnHold", "EXEC Wait 2", "EXEC StopMusicOnHold",  # 6.5-8.5
                "EXEC Wait 1", "HANGUP"]  # hang-up at 9.5
    _, result = await _agi_call(SimCaller(speech=((4.0, 1.0),)), commands, sounds={"prompts/hello": 1.5})
    assert result.hangup_at == pytest.approx(9.5)  # type: ignore[attr-defined]
    samples = _samples(target)
    assert len(samples) == int(9.5 * SAMPLE_RATE)
    assert samples[:2 * SAMPLE_RATE] == greet
    assert _inside(_loud_spans(samples), [(0.0, 2.0), (2.0, 3.5), (4.0, 5.0), (6.5, 8.5)])
    assert _coverage(samples, 2.0, 3.5) > 0.4 and _coverage(samples, 4.0, 5.0) > 0.4
    assert _coverage(samples, 6.5, 8.5) > 0.9


async def test_mixmonitor_of_a_silent_caller_without_prompts_is_silence(tmp_path) -> None:
    target = tmp_path / "c.wav"
    await _agi_call(SimCaller(), ["ANSWER", f"EXEC MixMonitor {target}", "EXEC Wait 3", "HANGUP"])
    samples = _samples(target)
    assert len(samples) == 3 * SAMPLE_RATE and not any(samples)


# ---------------------------------------------------------------------- the signal module itself


def test_render_places_mixes_and_is_deterministic(tmp_path) -> None:
    segments = [Segment(0.5, 1.5, Sound.PROMPT), Segment(1.0, 2.0, Sound.SPEECH), Segment(3.0, 3.5, Sound.NOISE)]
    out = render(segments, 4.0)
    assert len(out) == 4 * SAMPLE_RATE and out == render(list(reversed(segments)), 4.0)
    assert _inside(_loud_spans(out), [(0.5, 2.0), (3.0, 3.5)])
    alone = render([Segment(1.0, 2.0, Sound.SPEECH)], 4.0)
    prompt = render([Segment(0.5, 1.5, Sound.PROMPT)], 4.0)
    i = int(1.2 * SAMPLE_RATE)  # where prompt and caller overlap, the file holds their sum
    assert out[i:i + 400] == array("h", (a + b for a, b in zip(alone[i:i + 400], prompt[i:i + 400], strict=True)))
    assert render([Segment(0.0, 1.0, Sound.MUSIC)], 0.5) == render([Segment(0.0, 1.0, Sound.MUSIC)], 0.5)
    write_recording(tmp_path / "x" / "r.wav", segments, 4.0)
    assert _samples(tmp_path / "x" / "r.wav") == out


def test_prompt_files_in_other_formats_are_converted_and_bad_ones_fall_back(tmp_path) -> None:
    wide = tmp_path / "wide.wav"
    _tone_file(wide, 1.0, rate=16000)
    out = render([Segment(0.0, 1.0, Sound.PROMPT, wide)], 1.0)
    assert max(out) > 1000 and _coverage(out, 0.0, 1.0) == 1.0
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not a wav file")
    fallback = render([Segment(0.0, 1.0, Sound.PROMPT, broken)], 1.0)
    assert fallback == render([Segment(0.0, 1.0, Sound.PROMPT, tmp_path / "absent.wav")], 1.0)
    assert fallback == render([Segment(0.0, 1.0, Sound.PROMPT)], 1.0) and any(fallback)
    short = tmp_path / "short.wav"
    _tone_file(short, 0.5)
    padded = render([Segment(0.0, 1.0, Sound.PROMPT, short)], 1.0)  # a file shorter than its playback
    assert any(padded[:4000]) and not any(padded[4000:])
    loud = tmp_path / "loud.wav"
    with wave.open(str(loud), "wb") as w:  # a full-scale prompt under caller noise: the sum is clipped
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(array("h", [32000] * SAMPLE_RATE).tobytes())
    mixed = render([Segment(0.0, 1.0, Sound.PROMPT, loud), Segment(0.0, 1.0, Sound.NOISE)], 1.0)
    assert max(mixed) == 32767 and min(mixed) < 32000


def test_caller_segments_follow_the_scenario_and_the_recording_window() -> None:
    caller = SimCaller(speech=((1.0, 2.0), (10.0, 5.0)), noise=((4.0, 1.0),))
    got = caller_segments(caller, 2.0, 11.0)  # recording started at call second 2, caller left at rec. 11
    assert got == [Segment(0.0, 1.0, Sound.SPEECH), Segment(8.0, 11.0, Sound.SPEECH), Segment(2.0, 3.0, Sound.NOISE)]
    assert caller_segments(SimCaller(), 0.0, 60.0) == []


@pytest.mark.parametrize(("start", "end"), [(-1.0, 1.0), (2.0, 1.0), (0.0, math.inf), (math.nan, 1.0)])
def test_bad_segments_are_refused(start: float, end: float) -> None:
    with pytest.raises(SimulatorError, match="recording segment"):
        Segment(start, end, Sound.SPEECH)


@pytest.mark.parametrize("seconds", [-1.0, math.nan, math.inf])
def test_bad_lengths_are_refused(tmp_path, seconds: float) -> None:
    with pytest.raises(SimulatorError, match="recording length"):
        write_recording(tmp_path / "r.wav", [], seconds)


def test_a_busy_minute_is_written_in_well_under_50_ms(tmp_path) -> None:
    segments = [Segment(t, t + 2.5, Sound.PROMPT) for t in range(0, 60, 6)]
    segments += [Segment(t + 2.0, t + 5.0, Sound.SPEECH) for t in range(0, 60, 6)]  # overlapping barge-ins
    segments += [Segment(40.0, 50.0, Sound.MUSIC), Segment(50.0, 60.0, Sound.NOISE)]
    write_recording(tmp_path / "warm.wav", segments, 60.0)  # the signal loops are made once per process
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        write_recording(tmp_path / "r.wav", segments, 60.0)
        best = min(best, time.perf_counter() - started)
    assert best < 0.05, f"{best * 1000:.1f} ms"
