"""Fixtures of the recordings tests: real audio made with pydub, a migrated store, fake work-order facts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from pydub import AudioSegment
from pydub.generators import Sine, WhiteNoise

from callcenter.config import Settings
from callcenter.recordings.retention import OrderFacts
from callcenter.recordings.service import RecordingService


class FakeTickets:
    """Stands in for callcenter.tickets.service.linked_order_facts: a dict of order number -> facts."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderFacts] = {}
        self.calls = 0

    def add(self, number: str, accepted_at: datetime, closed_at: datetime | None = None, *,
            complaint: bool = False, confidential: bool = False) -> None:
        self.orders[number] = OrderFacts(number, complaint, accepted_at, closed_at, confidential)

    def __call__(self, _session: object, numbers: Sequence[str]) -> list[OrderFacts]:
        self.calls += 1
        return [self.orders[n] for n in numbers if n in self.orders]


@pytest.fixture
def tickets() -> FakeTickets:
    return FakeTickets()


@pytest.fixture
def rec_settings(settings: Settings, db_url: str) -> Settings:
    """The test settings on the parametrised database (SQLite and PostgreSQL), small sweep batches."""
    return replace(
        settings,
        database=replace(settings.database, url=db_url),
        recordings=replace(settings.recordings, sweep_batch=7, min_free_bytes=1024),
    )


@pytest.fixture
def service(rec_settings: Settings, tickets: FakeTickets) -> RecordingService:
    return RecordingService(rec_settings, order_facts=tickets)


def _call_audio(seconds_talk: float = 2.0, seconds_quiet: float = 2.0, stereo: bool = True) -> AudioSegment:
    """Caller channel: a 440 Hz tone (speech) then digital silence; agent channel: quieter noise throughout."""
    talk = Sine(440).to_audio_segment(duration=int(seconds_talk * 1000), volume=-12.0)
    caller = (talk + AudioSegment.silent(duration=int(seconds_quiet * 1000))).set_frame_rate(8000).set_channels(1)
    caller = caller.set_sample_width(2)
    if not stereo:
        return caller
    agent = WhiteNoise().to_audio_segment(duration=len(caller), volume=-30.0).set_frame_rate(8000)
    agent = agent.set_channels(1).set_sample_width(2)
    return AudioSegment.from_mono_audiosegments(caller, agent)


@pytest.fixture
def make_wav(tmp_path: Path) -> Callable[..., Path]:
    """Write a real WAV call recording (see _call_audio) and return its path."""

    def make(name: str = "call.wav", **kwargs: object) -> Path:
        path = tmp_path / "incoming" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _call_audio(**kwargs).export(path, format="wav").close()  # type: ignore[arg-type]
        return path

    return make


@pytest.fixture
def write_recording(service: RecordingService, make_wav: Callable[..., Path]) -> Callable[..., object]:
    """Telephony-style: register 'started', write the audio where told, register 'finished'."""

    def record(call_id: str, started: datetime, ended: datetime | None = None, *, agent: str = "1001",
               disposition: str = "normal", **audio: object) -> object:
        info = service.register_recording(call_id=call_id, event="started", at=started, agent=agent,
                                          caller="13812345678")
        assert info.file is not None
        src = make_wav(f"{call_id}.wav", **audio)
        info.file.write_bytes(src.read_bytes())
        end = ended or started.replace(second=min(59, started.second + 4))
        return service.register_recording(call_id=call_id, event="finished", at=end, disposition=disposition)

    return record


