"""pydub + real ffmpeg processing: browser copy, duration, per-channel dBFS, silences, peaks, compression."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pydub import AudioSegment

from callcenter.recordings.processing import ProcessingOptions, frame_dbfs, process_recording, silence_segments


def test_stereo_call_is_analysed_and_transcoded_for_the_browser(make_wav: Callable[..., Path], tmp_path: Path) -> None:
    src = make_wav(seconds_talk=2.0, seconds_quiet=3.0)
    out = tmp_path / "out" / "c.mp3"
    result = process_recording(src, ProcessingOptions(waveform_points=100), browser_target=out)
    assert result.status == "ready" and result.reason is None
    a = result.analysis
    assert a is not None
    assert a.duration_seconds == pytest.approx(5.0, abs=0.01)
    assert (a.channels, a.sample_rate) == (2, 8000)
    caller_db, agent_db = a.channel_dbfs
    # A -12 dBFS sine over 2 of 5 s: -12 - 3 (sine RMS) + 10·log10(2/5) ≈ -19 dBFS; noise at -30 dBFS peak.
    assert caller_db == pytest.approx(-19.0, abs=0.5)
    assert agent_db is not None and -45 < agent_db < -30
    # The agent channel's noise keeps the call from being "silent" in the combined level.
    assert a.silences == ()
    assert len(a.peaks) == 100 and max(a.peaks) == pytest.approx(0.25, abs=0.02) and min(a.peaks) > 0
    decoded = AudioSegment.from_file(out)
    assert out.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    assert len(decoded) / 1000 == pytest.approx(5.0, abs=0.1)


def test_mono_silence_segments_and_silence_ratio(make_wav: Callable[..., Path]) -> None:
    src = make_wav("mono.wav", seconds_talk=1.0, seconds_quiet=4.0, stereo=False)
    result = process_recording(src, ProcessingOptions(silence_min_ms=1000))
    a = result.analysis
    assert a is not None and a.channel_dbfs[0] is not None
    assert a.silences == ((1.0, 5.0),)
    assert a.silence_ratio == pytest.approx(0.8)


def test_short_pauses_are_not_silence_segments() -> None:
    levels = [-20.0] * 10 + [-90.0] * 50 + [-20.0] * 10 + [-90.0] * 150
    assert silence_segments(levels, 10, -45.0, 1000) == [(0.7, 2.2)]


def test_digital_silence_has_no_dbfs_value(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    AudioSegment.silent(duration=1500, frame_rate=8000).export(path, format="wav").close()
    result = process_recording(path, ProcessingOptions())
    assert result.analysis is not None
    assert result.analysis.channel_dbfs == (None,)
    assert result.analysis.silence_ratio == 1.0
    assert frame_dbfs(AudioSegment.silent(duration=30, frame_rate=8000))[0] == float("-inf")


def test_sox_made_file_and_webm_browser_format(tmp_path: Path) -> None:
    src = tmp_path / "sox.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(src), "synth", "3", "sine", "300",
                    "vol", "0.5"], check=True)
    out = tmp_path / "c.webm"
    result = process_recording(src, ProcessingOptions(browser_format="webm"), browser_target=out)
    assert result.status == "ready"
    assert result.analysis is not None and result.analysis.duration_seconds == pytest.approx(3.0, abs=0.01)
    assert out.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # EBML magic of WebM


@pytest.mark.parametrize(("fmt", "ext", "min_saving"), [("flac", "flac", 0.2), ("opus", "opus", 0.8)])
def test_compressed_storage_reports_measured_saving(make_wav: Callable[..., Path], tmp_path: Path, fmt: str,
                                                    ext: str, min_saving: float) -> None:
    src = make_wav(seconds_talk=3, seconds_quiet=3)
    target = tmp_path / f"c.{ext}"
    result = process_recording(src, ProcessingOptions(compressed_format=fmt), compressed_target=target)
    assert result.compressed_path == target and target.exists()
    assert result.compressed_bytes == target.stat().st_size
    assert result.saving == pytest.approx(1 - target.stat().st_size / src.stat().st_size, abs=1e-4)
    assert result.saving is not None and result.saving > min_saving


def test_empty_file_is_recorded_as_empty_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "e.wav"
    path.write_bytes(b"")
    result = process_recording(path, ProcessingOptions(), browser_target=tmp_path / "e.mp3")
    assert (result.status, result.reason) == ("empty", "the file has 0 bytes")
    assert not (tmp_path / "e.mp3").exists()


def test_header_only_wav_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "h.wav"
    AudioSegment.silent(duration=0, frame_rate=8000).export(path, format="wav").close()
    result = process_recording(path, ProcessingOptions())
    assert (result.status, result.reason) == ("empty", "the file holds no audio frames")


def test_garbage_is_corrupt_with_ffmpegs_reason(tmp_path: Path) -> None:
    path = tmp_path / "g.wav"
    path.write_bytes(b"RIFF\x00\x00not really audio" * 20)
    result = process_recording(path, ProcessingOptions())
    assert result.status == "corrupt"
    assert result.reason is not None and result.reason.startswith("ffmpeg cannot decode it:")


def test_missing_file_is_corrupt_not_a_crash(tmp_path: Path) -> None:
    result = process_recording(tmp_path / "nope.wav", ProcessingOptions())
    assert (result.status, result.reason) == ("corrupt", "no file at nope.wav")


def test_failed_copy_write_keeps_the_original_and_warns(make_wav: Callable[..., Path], tmp_path: Path) -> None:
    src = make_wav()
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where a folder should be")
    result = process_recording(src, ProcessingOptions(), browser_target=blocker / "c.mp3")
    assert result.status == "ready" and result.browser_path is None
    assert result.warnings and result.warnings[0].startswith("mp3 copy not written")
    assert src.exists()
