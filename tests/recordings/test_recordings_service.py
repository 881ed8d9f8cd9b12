"""The service API: register started/finished, processing into the row, full disk, listing, import, links."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.recordings.access import Actor
from callcenter.recordings.errors import RecordingError, RecordingNotFound, RecordingRefused, UnsafePathError
from callcenter.recordings.models import Recording
from callcenter.recordings.service import RecordingFilter, RecordingService
from callcenter.store import session_scope

T0 = datetime(2026, 1, 10, 7, 0, tzinfo=UTC)  # 15:00 in Shanghai
ADMIN = Actor("root", "admin")
QA = Actor("qa1", "qa")
SUPERVISOR = Actor("boss", "supervisor")
Usage = namedtuple("Usage", "total used free")


def test_started_then_finished_fills_the_row(service: RecordingService, write_recording: Callable[..., Any],
                                             rec_settings: Settings) -> None:
    info = write_recording("1700000000.1", T0, T0 + timedelta(seconds=4))
    assert info.status == "ready" and info.status_reason is None
    assert info.path == "2026/01/10/1700000000.1.wav"
    assert info.file == (rec_settings.recordings.root / info.path).resolve()
    assert info.duration_seconds == pytest.approx(4.0, abs=0.01)
    assert info.bytes == info.file.stat().st_size and len(info.sha256) == 64
    assert info.browser_format == "mp3"
    assert (rec_settings.recordings.root / "2026/01/10/1700000000.1.mp3").is_file()
    assert len(info.analysis["channel_dbfs"]) == 2 and len(info.analysis["peaks"]) == 800
    # Floor: Jan 10 (local) + 183 days → purge allowed from Jul 13 00:00 +08:00 = Jul 12 16:00 UTC.
    assert info.retain_until == datetime(2026, 7, 12, 16, 0, tzinfo=UTC)
    again = service.register_recording(call_id="1700000000.1", event="finished", at=T0)
    assert again.sha256 == info.sha256  # a retried "finished" changes nothing


def test_corrupt_audio_is_stored_with_its_reason(service: RecordingService) -> None:
    info = service.register_recording(call_id="bad-1", event="started", at=T0, agent="1001")
    info.file.write_bytes(b"RIFF....garbage" * 50)
    done = service.register_recording(call_id="bad-1", event="finished", at=T0 + timedelta(seconds=3))
    assert done.status == "corrupt" and done.status_reason.startswith("ffmpeg cannot decode it")
    assert done.sha256 is not None and done.browser_format is None
    assert "corrupt" in done.flags
    assert done.retain_until is not None  # a failed recording is evidence too: same retention floor


def test_recording_never_written_is_empty_not_a_crash(service: RecordingService) -> None:
    service.register_recording(call_id="never", event="started", at=T0)
    done = service.register_recording(call_id="never", event="finished", at=T0 + timedelta(seconds=1))
    assert (done.status, done.status_reason) == ("corrupt", "no file at never.wav")


def test_full_disk_refuses_with_an_alert_event_and_keeps_what_is_stored(
    rec_settings: Settings, tickets: Any, write_recording: Callable[..., Any]
) -> None:
    kept = write_recording("kept-1", T0)
    timeline = Timeline(None)
    full = RecordingService(rec_settings, order_facts=tickets, timeline=timeline,
                            disk_usage=lambda _p: Usage(10**9, 10**9 - 100, 100))
    refused = r"recording of call full-1 refused: 100 bytes free .*recordings.min_free_bytes"
    with pytest.raises(RecordingRefused, match=refused):
        full.register_recording(call_id="full-1", event="started", at=T0)
    [alert] = timeline.flush_sync()
    assert alert.type == ev.RECORDING_REFUSED and alert.call_id == "full-1"
    assert alert.data["free_bytes"] == 100 and alert.data["min_free_bytes"] == 1024
    assert kept.file.is_file() and full.get(ADMIN, kept.id).status == "ready"
    with pytest.raises(RecordingNotFound):
        full.get_by_call(ADMIN, "full-1")


def test_low_disk_at_finish_skips_the_replay_copy_but_keeps_the_recording(
    rec_settings: Settings, tickets: Any, make_wav: Callable[..., Path]
) -> None:
    free = {"bytes": 10**9}
    svc = RecordingService(rec_settings, order_facts=tickets,
                           disk_usage=lambda _p: Usage(10**10, 0, free["bytes"]))
    info = svc.register_recording(call_id="low-1", event="started", at=T0)
    info.file.write_bytes(make_wav().read_bytes())
    free["bytes"] = 10
    done = svc.register_recording(call_id="low-1", event="finished", at=T0 + timedelta(seconds=4))
    assert done.status == "ready" and done.browser_format is None
    assert "disk below recordings.min_free_bytes" in done.status_reason
    assert done.file.is_file() and done.duration_seconds == pytest.approx(4.0, abs=0.01)


def test_duplicate_call_and_unsafe_ids_are_refused(service: RecordingService) -> None:
    service.register_recording(call_id="dup", event="started", at=T0)
    with pytest.raises(RecordingError, match="call dup already has a recording"):
        service.register_recording(call_id="dup", event="started", at=T0)
    with pytest.raises(UnsafePathError):
        service.register_recording(call_id="../../etc/passwd", event="started", at=T0)
    with pytest.raises(RecordingError, match="expected 'started' or 'finished'"):
        service.register_recording(call_id="x", event="paused", at=T0)  # type: ignore[arg-type]
    with pytest.raises(RecordingError, match="must carry a time zone"):
        service.register_recording(call_id="naive", event="started", at=datetime(2026, 1, 1))


def test_import_copies_never_overwrites_and_links(service: RecordingService, make_wav: Callable[..., Path],
                                                 rec_settings: Settings) -> None:
    src = make_wav("imp.wav")
    info = service.import_recording(src, call_id="imp-1", started_at=T0, order_numbers=["GD1"])
    assert src.exists() and info.file.read_bytes() == src.read_bytes()
    assert info.work_orders == ("GD1",) and info.ended_at == T0 + timedelta(seconds=4)
    with pytest.raises(RecordingError, match="already has a recording"):
        service.import_recording(src, call_id="imp-1", started_at=T0)
    # A stray file already at the target path is never replaced.
    stray = rec_settings.recordings.root / "2026/01/10/imp-2.wav"
    stray.write_bytes(b"someone else's")
    with pytest.raises(RecordingError, match="not overwritten"):
        service.import_recording(src, call_id="imp-2", started_at=T0)
    assert stray.read_bytes() == b"someone else's"
    with pytest.raises(RecordingError, match="no such audio file"):
        service.import_recording(src.with_name("missing.wav"), call_id="imp-3")
    with pytest.raises(UnsafePathError):
        service.import_recording(src.rename(src.with_suffix(".txt")), call_id="imp-4")
    with pytest.raises(RecordingError, match="work order number"):
        service.import_recording(make_wav("x.wav"), call_id="imp-5", order_numbers=["../x"])


def test_compressed_storage_replaces_the_original_after_verification(
    rec_settings: Settings, tickets: Any, make_wav: Callable[..., Path]
) -> None:
    s = replace(rec_settings, recordings=replace(rec_settings.recordings, compressed_format="flac"))
    svc = RecordingService(s, order_facts=tickets)
    info = svc.import_recording(make_wav(seconds_talk=3, seconds_quiet=3), call_id="z-1", started_at=T0)
    assert info.format == "flac" and info.path.endswith("z-1.flac")
    assert info.original_bytes > info.bytes and 0.2 < info.saving < 1
    assert not (s.recordings.root / "2026/01/10/z-1.wav").exists()
    assert info.file.stat().st_size == info.bytes and info.duration_seconds == pytest.approx(6.0, abs=0.01)


def test_list_filters_and_pages(service: RecordingService, write_recording: Callable[..., Any]) -> None:
    for i in range(5):
        write_recording(f"c{i}", T0 + timedelta(hours=i), agent="1001" if i % 2 else "1002",
                        disposition="silent" if i == 4 else "normal", seconds_talk=0.5 if i == 4 else 2.0,
                        seconds_quiet=8.0 if i == 4 else 2.0, stereo=i != 4)
    service.link_call("c1", "GD7", by="tickets")
    service.place_hold(ADMIN, service.get_by_call(ADMIN, "c3").id, reason="court request")
    page = service.list(QA, per_page=2)
    assert page.total == 5 and [i.call_id for i in page.items] == ["c4", "c3"]
    assert [i.call_id for i in service.list(QA, per_page=2, page=3).items] == ["c0"]
    assert {i.call_id for i in service.list(QA, RecordingFilter(agent="1001")).items} == {"c1", "c3"}
    assert [i.call_id for i in service.list(QA, RecordingFilter(work_order="GD7")).items] == ["c1"]
    assert [i.call_id for i in service.list(QA, RecordingFilter(disposition="silent")).items] == ["c4"]
    assert [i.call_id for i in service.list(QA, RecordingFilter(flags=frozenset({"held"}))).items] == ["c3"]
    assert [i.call_id for i in service.list(QA, RecordingFilter(flags=frozenset({"silent"}))).items] == ["c4"]
    window = RecordingFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
    assert {i.call_id for i in service.list(QA, window).items} == {"c1", "c2"}
    assert {i.call_id for i in service.list(Actor("1002", "agent")).items} == {"c0", "c2", "c4"}
    with pytest.raises(RecordingError, match="unknown flag"):
        service.list(QA, RecordingFilter(flags=frozenset({"spicy"})))
    with pytest.raises(RecordingError, match="per_page"):
        service.list(QA, per_page=0)


def test_tampered_stored_path_is_refused_at_playback(service: RecordingService, write_recording: Callable[..., Any],
                                                     rec_settings: Settings) -> None:
    info = write_recording("c-tamper", T0)
    with session_scope(rec_settings.database.url) as s:
        s.execute(update(Recording).where(Recording.id == info.id)
                  .values(path="../../../etc/passwd", browser_path="2026/01/10/../../../../etc/passwd.mp3"))
    approval = service.requests.file(SUPERVISOR, action="download", purpose="audit", recording_ids=[info.id])
    service.requests.decide(ADMIN, approval.id, approve=True, reason="audit",
                            valid_until=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(UnsafePathError):
        service.open_for_playback(SUPERVISOR, info.id, purpose="review", download=True, approval_id=approval.id)
    with pytest.raises(UnsafePathError):
        service.open_for_playback(ADMIN, info.id, purpose="review")
