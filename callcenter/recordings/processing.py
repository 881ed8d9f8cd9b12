"""Audio processing with pydub (real ffmpeg): what QA needs to replay and judge a recording.

One decode per recording, then: duration; loudness per channel in dBFS (R-17 low volume shows up as a quiet
caller channel); silence segments (R-15 silent calls show up as one long segment); waveform peaks for the
player; a browser copy (MP3 by default: it plays in every browser including Safari; ``webm`` = Opus in WebM);
and, when configured, a compressed storage copy (``flac`` lossless, or ``opus``) with its measured saving.

A file that cannot be decoded or holds no audio is never an exception out of :func:`process_recording`: it is
a :class:`ProcessingResult` with status ``corrupt`` or ``empty`` and a one-line reason, so one bad file never
stops the pipeline. Files are written to a temporary name and renamed into place, and a write that fails
(disk full) leaves the original untouched and is reported as a warning.
"""

from __future__ import annotations

import math
import os
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydub import AudioSegment
from pydub.exceptions import CouldntDecodeError

from callcenter.logs import get_logger

with warnings.catch_warnings():
    # Deprecated in 3.11, gone in 3.13 (where the audioop-lts package provides it); pydub itself needs it.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

log = get_logger(__name__)

# Analysis frame: 10 ms resolves speech onsets and keeps a one-hour call at 360,000 frames.
FRAME_MS = 10
# pydub export arguments per target format: (container, codec, extension).
_EXPORTS: dict[str, tuple[str, str | None, str]] = {
    "mp3": ("mp3", "libmp3lame", "mp3"),
    "webm": ("webm", "libopus", "webm"),
    "flac": ("flac", "flac", "flac"),
    "opus": ("ogg", "libopus", "opus"),
}
# A compressed copy must decode back to the same length within this tolerance (Opus pads up to 80 ms).
_DURATION_TOLERANCE_S = 0.12

Status = Literal["ready", "corrupt", "empty"]


@dataclass(frozen=True)
class ProcessingOptions:
    """The knobs of :func:`process_recording` (from ``settings.recordings``)."""

    browser_format: str = "mp3"
    browser_bitrate: str = "32k"
    compressed_format: str = ""
    silence_threshold_dbfs: float = -45.0
    silence_min_ms: int = 1000
    waveform_points: int = 800


@dataclass(frozen=True)
class AudioAnalysis:
    """What the QA player shows: duration, per-channel loudness, silence segments (s), waveform peaks (0..1)."""

    duration_seconds: float
    sample_rate: int
    channels: int
    channel_dbfs: tuple[float | None, ...]
    silences: tuple[tuple[float, float], ...]
    silence_ratio: float
    peaks: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (digital silence, -inf dBFS, becomes None)."""
        return {
            "duration_seconds": self.duration_seconds,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "channel_dbfs": list(self.channel_dbfs),
            "silences": [list(s) for s in self.silences],
            "silence_ratio": self.silence_ratio,
            "peaks": list(self.peaks),
        }


@dataclass(frozen=True)
class ProcessingResult:
    """Outcome of one recording's processing; ``reason`` explains ``corrupt``/``empty``."""

    status: Status
    reason: str | None = None
    analysis: AudioAnalysis | None = None
    browser_path: Path | None = None
    compressed_path: Path | None = None
    original_bytes: int = 0
    compressed_bytes: int | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def saving(self) -> float | None:
        """Fraction of the original size saved by the compressed storage format (0.6 = 60 % smaller)."""
        if self.compressed_bytes is None or not self.original_bytes:
            return None
        return round(1 - self.compressed_bytes / self.original_bytes, 4)


class AudioProblem(Exception):
    """Raised inside this module for a file that is corrupt or empty; turned into a result, never escapes."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def load_audio(path: Path) -> AudioSegment:
    """Decode ``path`` with ffmpeg; raise :class:`AudioProblem` for a missing, empty or undecodable file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AudioProblem("corrupt", f"no file at {path.name}") from None
    if size == 0:
        raise AudioProblem("empty", "the file has 0 bytes")
    try:
        segment = AudioSegment.from_file(path)
    except (CouldntDecodeError, IndexError, ValueError, OSError, EOFError) as exc:
        raise AudioProblem("corrupt", f"ffmpeg cannot decode it: {_last_line(str(exc))}") from None
    if len(segment) == 0 or segment.frame_count() < 1:
        raise AudioProblem("empty", "the file holds no audio frames")
    return segment


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("Output")]
    return (lines[-1] if lines else "unknown decoder error")[:200]


def frame_dbfs(segment: AudioSegment, frame_ms: int = FRAME_MS) -> list[float]:
    """RMS level of every ``frame_ms`` frame over all channels, in dBFS (-inf for digital silence)."""
    raw = segment.raw_data
    width = segment.sample_width
    step = max(1, int(segment.frame_rate * frame_ms / 1000)) * segment.frame_width
    full_scale = float(1 << (8 * width - 1))
    levels = []
    for start in range(0, len(raw), step):
        rms = audioop.rms(raw[start : start + step], width)
        levels.append(20 * math.log10(rms / full_scale) if rms else -math.inf)
    return levels


def silence_segments(
    levels: Sequence[float], frame_ms: int, threshold_dbfs: float, min_ms: int
) -> list[tuple[float, float]]:
    """Runs of frames quieter than ``threshold_dbfs`` lasting at least ``min_ms``, as (start, end) seconds."""
    out: list[tuple[float, float]] = []
    run_start: int | None = None
    for i, level in enumerate([*levels, math.inf]):  # the sentinel closes a run at the end
        if level < threshold_dbfs:
            if run_start is None:
                run_start = i
        elif run_start is not None:
            if (i - run_start) * frame_ms >= min_ms:
                out.append((round(run_start * frame_ms / 1000, 3), round(min(i, len(levels)) * frame_ms / 1000, 3)))
            run_start = None
    return out


def waveform_peaks(segment: AudioSegment, points: int) -> list[float]:
    """``points`` absolute peaks (0..1) over equal slices of the audio, all channels together."""
    raw = segment.raw_data
    width = segment.sample_width
    frames = len(raw) // segment.frame_width
    if frames == 0:
        return []
    points = min(points, frames)
    full_scale = float(1 << (8 * width - 1))
    out = []
    for k in range(points):
        a = (k * frames // points) * segment.frame_width
        b = ((k + 1) * frames // points) * segment.frame_width
        out.append(round(min(1.0, audioop.max(raw[a:b], width) / full_scale), 3))
    return out


def analyse(segment: AudioSegment, options: ProcessingOptions) -> AudioAnalysis:
    """Duration, loudness per channel, silence segments and waveform peaks of a decoded recording."""
    duration = round(len(segment) / 1000, 3)
    channel_dbfs = tuple(
        None if math.isinf(ch.dBFS) else round(ch.dBFS, 2)
        for ch in (segment.split_to_mono() if segment.channels > 1 else [segment])
    )
    levels = frame_dbfs(segment, FRAME_MS)
    silences = silence_segments(levels, FRAME_MS, options.silence_threshold_dbfs, options.silence_min_ms)
    silent = sum(end - start for start, end in silences)
    return AudioAnalysis(
        duration_seconds=duration,
        sample_rate=segment.frame_rate,
        channels=segment.channels,
        channel_dbfs=channel_dbfs,
        silences=tuple(silences),
        silence_ratio=round(min(1.0, silent / duration), 4) if duration else 1.0,
        peaks=tuple(waveform_peaks(segment, options.waveform_points)),
    )


def export_audio(segment: AudioSegment, target: Path, fmt: str, bitrate: str | None = None) -> Path:
    """Write ``segment`` to ``target`` in ``fmt`` via a temporary file and an atomic rename."""
    container, codec, _ = _EXPORTS[fmt]
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = segment.export(tmp, format=container, codec=codec, bitrate=bitrate)
        handle.close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def extension_for(fmt: str) -> str:
    """The file extension a target format is stored under (``opus`` → ``.opus`` in an Ogg container)."""
    return _EXPORTS[fmt][2]


def process_recording(
    source: Path,
    options: ProcessingOptions,
    *,
    browser_target: Path | None = None,
    compressed_target: Path | None = None,
) -> ProcessingResult:
    """Decode, analyse and transcode one recording; problems become a result with a reason, never an exception."""
    try:
        segment = load_audio(source)
    except AudioProblem as problem:
        log.warning("recording not processable", file=source.name, status=problem.status, reason=problem.reason)
        return ProcessingResult(status=problem.status, reason=problem.reason, original_bytes=_size(source))
    analysis = analyse(segment, options)
    warnings: list[str] = []
    browser = _try_export(segment, browser_target, options.browser_format, options.browser_bitrate, warnings)
    compressed = None
    compressed_bytes = None
    if compressed_target is not None and options.compressed_format:
        bitrate = "24k" if options.compressed_format == "opus" else None
        compressed = _try_export(segment, compressed_target, options.compressed_format, bitrate, warnings)
        if compressed is not None and not _same_length(compressed, analysis.duration_seconds, warnings):
            compressed.unlink(missing_ok=True)
            compressed = None
        compressed_bytes = compressed.stat().st_size if compressed is not None else None
    return ProcessingResult(
        status="ready",
        analysis=analysis,
        browser_path=browser,
        compressed_path=compressed,
        original_bytes=_size(source),
        compressed_bytes=compressed_bytes,
        warnings=tuple(warnings),
    )


def _try_export(
    segment: AudioSegment, target: Path | None, fmt: str, bitrate: str | None, warnings: list[str]
) -> Path | None:
    if target is None:
        return None
    try:
        return export_audio(segment, target, fmt, bitrate)
    except OSError as exc:  # disk full, permissions: the stored original stays as it is
        warnings.append(f"{fmt} copy not written: {exc.strerror or exc}")
        log.error("recording copy not written", file=target.name, format=fmt, error=str(exc))
        return None


def _same_length(path: Path, duration: float, warnings: list[str]) -> bool:
    try:
        got = len(AudioSegment.from_file(path)) / 1000
    except CouldntDecodeError as exc:
        warnings.append(f"compressed copy does not decode: {_last_line(str(exc))}")
        return False
    if abs(got - duration) > _DURATION_TOLERANCE_S:
        warnings.append(f"compressed copy is {got:.2f} s long, the original {duration:.2f} s: kept the original")
        return False
    return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
