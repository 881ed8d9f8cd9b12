"""The real-clock driver, with a fake in-memory channel and a hand-cranked clock: no sleeping, exact offsets."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.calls import events as ev
from callcenter.calls.runner import CallOutcome, open_session, run_call, session_config
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.library import load_library
from callcenter.scripting.protocol import (
    Command,
    Event,
    Hangup,
    HungUp,
    Listen,
    Play,
    PlaybackFinished,
    ReleaseRequested,
    SpeechStarted,
    StartRecording,
)

FIXTURES = Path(__file__).parent.parent / "scripting" / "fixtures" / "library"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class ManualClock:
    """A clock that moves only when told; due callbacks run in order as it passes them."""

    def __init__(self) -> None:
        self.now = 100.0  # any origin: the runner only uses differences
        self._heap: list[tuple[float, int, list]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Handle:
        entry = [callback]
        heapq.heappush(self._heap, (self.now + delay, next(self._seq), entry))
        return _Handle(entry)

    def advance_to(self, offset: float) -> None:
        target = 100.0 + offset
        while self._heap and self._heap[0][0] <= target:
            due, _, entry = heapq.heappop(self._heap)
            self.now = due
            if entry[0] is not None:
                entry[0]()
        self.now = target

    @property
    def pending(self) -> int:
        return sum(1 for _, _, entry in self._heap if entry[0] is not None)


class _Handle:
    def __init__(self, entry: list) -> None:
        self._entry = entry

    def cancel(self) -> None:
        self._entry[0] = None


class FakeChannel:
    call_id = "call-1"

    def __init__(self, *, fail_on: type | None = None, broken: bool = False) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.performed: list[Command] = []
        self.closed = False
        self.fail_on = fail_on
        self.broken = broken

    async def perform(self, command: Command) -> None:
        self.performed.append(command)
        if self.fail_on is not None and isinstance(command, self.fail_on):
            raise RuntimeError("510 Invalid or unknown command")

    async def next_event(self) -> Event:
        if self.broken:
            raise ConnectionResetError("socket closed")
        return await self.events.get()

    async def close(self) -> None:
        self.closed = True

    def last_play(self) -> Play:
        return [c for c in self.performed if isinstance(c, Play)][-1]


async def settle() -> None:
    """Let the runner's tasks take every step they can without time passing."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def timeline() -> Timeline:
    return Timeline(None)


def start(channel: FakeChannel, settings: Settings, timeline: Timeline, clock: ManualClock, script: str, **kw):  # type: ignore[no-untyped-def]
    library = load_library(FIXTURES, settings.scripts)
    variables = prompt_variables(settings.service, agent={"work_number": "1001"})
    session = open_session(library, settings, script, call_id=channel.call_id, variables=variables)
    return asyncio.create_task(run_call(channel, session, timeline, started_at=START, clock=clock, **kw))


async def finish_prompt(channel: FakeChannel, clock: ManualClock, at: float) -> None:
    clock.advance_to(at)
    channel.events.put_nowait(PlaybackFinished(channel.last_play().playback_id))
    await settle()


def recorded(timeline: Timeline, call_id: str = "call-1") -> list[tuple[str, float, dict]]:
    timeline.flush_sync()
    return [(e.type, e.offset, e.data) for e in timeline.events(call_id)]


async def test_a_silent_call_runs_on_the_clock_and_lands_on_the_timeline(
    settings: Settings, timeline: Timeline
) -> None:
    channel, clock = FakeChannel(), ManualClock()
    task = start(channel, settings, timeline, clock, "silent", answered=True, offered={"entry": "silent"})
    await settle()
    await finish_prompt(channel, clock, 3.5)
    assert isinstance(channel.performed[-1], Listen)
    clock.advance_to(8.5)  # the window's timer fires: S2
    await settle()
    assert channel.last_play().key == "silent.s2"
    await finish_prompt(channel, clock, 12.0)
    clock.advance_to(17.0)
    await settle()
    await finish_prompt(channel, clock, 24.75)
    clock.advance_to(29.75)
    outcome = await asyncio.wait_for(task, 1)
    assert outcome == CallOutcome("call-1", "silent", "system", 29.75)
    assert channel.performed[-1] == Hangup("silent") and channel.closed
    events = recorded(timeline)
    assert events[0] == (ev.CALL_OFFERED, 0.0, {"entry": "silent"})
    windows = [(offset, data["step"]) for kind, offset, data in events if kind == ev.SILENCE_WINDOW]
    assert windows == [(8.5, 1), (17.0, 2), (29.75, 3)]
    prompts = [(kind, offset, data["key"]) for kind, offset, data in events if kind.startswith("prompt.")]
    assert prompts == [
        (ev.PROMPT_STARTED, 0.0, "silent.s1"),
        (ev.PROMPT_FINISHED, 3.5, "silent.s1"),
        (ev.PROMPT_STARTED, 8.5, "silent.s2"),
        (ev.PROMPT_FINISHED, 12.0, "silent.s2"),
        (ev.PROMPT_STARTED, 17.0, "silent.s3"),
        (ev.PROMPT_FINISHED, 24.75, "silent.s3"),
    ]
    assert events[-1] == (ev.HANGUP, 29.75, {"by": "system", "cause": "normal", "disposition": "silent"})
    hangup = timeline.events("call-1")[-1]
    assert hangup.at == START + timedelta(seconds=29.75)
    assert clock.pending == 0


async def test_an_inbound_call_rings_then_answers_after_the_configured_rings(
    settings: Settings, timeline: Timeline
) -> None:
    channel, clock = FakeChannel(), ManualClock()
    task = start(channel, settings, timeline, clock, "ivr")
    await settle()
    assert [type(c).__name__ for c in channel.performed] == ["Ring"]
    delay = session_config(settings).answer_delay
    assert delay == 1.0  # cn cadence, answer after 1 ring: once its 1 s tone has sounded
    clock.advance_to(delay)
    await settle()
    assert [type(c).__name__ for c in channel.performed] == ["Ring", "Answer", "StartRecording", "Play"]
    clock.advance_to(2.0)
    channel.events.put_nowait(HungUp(by="caller"))
    outcome = await asyncio.wait_for(task, 1)
    assert outcome == CallOutcome("call-1", "abandoned", "caller", 2.0)
    kinds = [kind for kind, _, _ in recorded(timeline)]
    assert kinds[:3] == [ev.IVR_RINGING, ev.COMMAND, ev.COMMAND]  # ring, its command, the answer timer
    assert ev.IVR_ANSWERED in kinds and kinds[-1] == ev.HANGUP
    assert StartRecording() in channel.performed


async def test_a_caller_hang_up_leaves_no_timer_and_no_task(settings: Settings, timeline: Timeline) -> None:
    channel, clock = FakeChannel(), ManualClock()
    before = asyncio.all_tasks()
    task = start(channel, settings, timeline, clock, "silent", answered=True)
    await settle()
    await finish_prompt(channel, clock, 3.5)
    assert clock.pending == 1  # the 5 s window
    clock.advance_to(4.0)
    channel.events.put_nowait(HungUp(by="caller", cause="normal"))
    outcome = await asyncio.wait_for(task, 1)
    assert outcome.by == "caller" and outcome.duration == 4.0
    assert clock.pending == 0 and channel.closed
    await settle()
    assert asyncio.all_tasks() == before


async def test_speech_cancels_the_window_and_is_on_the_timeline(settings: Settings, timeline: Timeline) -> None:
    channel, clock = FakeChannel(), ManualClock()
    task = start(channel, settings, timeline, clock, "silent", answered=True)
    await settle()
    await finish_prompt(channel, clock, 3.5)
    clock.advance_to(6.0)
    channel.events.put_nowait(SpeechStarted())
    await settle()
    assert clock.pending == 0  # the window's timer is gone
    clock.advance_to(60.0)
    channel.events.put_nowait(ReleaseRequested(by="agent"))
    await settle()
    channel.events.put_nowait(HungUp(by="caller"))
    outcome = await asyncio.wait_for(task, 1)
    assert outcome.disposition == "normal"
    events = recorded(timeline)
    assert (ev.SPEECH_STARTED, 6.0, {}) in events
    refused = [(offset, data["reason"][:4]) for kind, offset, data in events if kind == ev.RELEASE_REFUSED]
    assert refused == [(60.0, "R-48")]


async def test_a_broken_channel_ends_the_call_cleanly(settings: Settings, timeline: Timeline) -> None:
    channel, clock = FakeChannel(broken=True), ManualClock()
    outcome = await asyncio.wait_for(start(channel, settings, timeline, clock, "silent", answered=True), 1)
    assert (outcome.by, channel.closed) == ("system", True)
    assert recorded(timeline)[-1][2]["cause"] == "channel_error"


async def test_a_failing_command_is_recorded_and_the_call_goes_on(settings: Settings, timeline: Timeline) -> None:
    channel, clock = FakeChannel(fail_on=Listen), ManualClock()
    task = start(channel, settings, timeline, clock, "silent", answered=True)
    await settle()
    await finish_prompt(channel, clock, 3.5)
    clock.advance_to(8.5)
    await settle()
    assert channel.last_play().key == "silent.s2"  # the window still ran on the runner's own timer
    channel.events.put_nowait(HungUp(by="caller"))
    await asyncio.wait_for(task, 1)
    results = [d["result"] for kind, _, d in recorded(timeline) if kind == ev.COMMAND and d["command"] == "listen"]
    assert results == ["error: 510 Invalid or unknown command"]


async def test_the_default_clock_is_the_running_loop(settings: Settings, timeline: Timeline) -> None:
    channel = FakeChannel()
    library = load_library(FIXTURES, settings.scripts)
    session = open_session(library, settings, "silent", call_id="call-1", variables=prompt_variables(settings.service))
    task = asyncio.create_task(run_call(channel, session, timeline, answered=True))
    await settle()
    channel.events.put_nowait(HungUp(by="caller"))
    outcome = await asyncio.wait_for(task, 1)
    assert outcome.by == "caller" and 0 <= outcome.duration < 1


async def test_an_agent_runs_the_closing_then_releases(settings: Settings, timeline: Timeline) -> None:
    from callcenter.scripting.protocol import ScriptRequested

    channel, clock = FakeChannel(), ManualClock()
    task = start(channel, settings, timeline, clock, "silent", answered=True)
    await settle()
    clock.advance_to(2.0)
    channel.events.put_nowait(SpeechStarted())  # the caller talks: the silent-call watch is over
    await settle()
    clock.advance_to(90.0)
    channel.events.put_nowait(ScriptRequested("closing", by="agent"))
    await settle()
    assert channel.last_play().text == "谢谢,欢迎再次拨打,再见!"
    await finish_prompt(channel, clock, 93.25)
    clock.advance_to(95.0)
    channel.events.put_nowait(ReleaseRequested(by="agent"))
    outcome = await asyncio.wait_for(task, 1)
    assert outcome == CallOutcome("call-1", "normal", "agent", 95.0)
    events = recorded(timeline)
    assert (ev.SCRIPT_REQUESTED, 90.0, {"script": "closing", "by": "agent"}) in events
    assert events[-1] == (ev.HANGUP, 95.0, {"by": "agent", "cause": "normal", "disposition": "normal"})
    assert clock.pending == 0
