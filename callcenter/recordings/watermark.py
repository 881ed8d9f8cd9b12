"""The watermark of a downloaded or exported recording (R-112: export only with approval + watermark and log).

The copy handed out carries who took it, when, and under which approval as the audio file's own comment tag
(an ID3 COMM frame in MP3, a LIST/INFO ICMT chunk in WAV, a Vorbis comment in FLAC/Opus), written by ffmpeg
without re-encoding; the same text goes into the access ledger, so a copy found later names its taker.
An export is always a 16-bit PCM WAV (what outside parties can play); a download keeps the stored format.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from callcenter.recordings.errors import RecordingError

FFMPEG_SECONDS = 120.0


def watermark_text(actor: str, at: datetime, approval_id: int) -> str:
    """The tag's text: the taker, the UTC instant, the approval (kept short: some players show it)."""
    return f"callcenter 调阅人 {actor} 时间 {at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} 审批 #{approval_id}"


def stamp(source: Path, text: str, *, export: bool, call_id: str) -> Path:
    """A new copy of ``source`` tagged with ``text`` in a private temporary folder (the caller removes it)."""
    ext = "wav" if export else source.suffix.lstrip(".")
    folder = Path(tempfile.mkdtemp(prefix="callcenter-export-"))
    target = folder / f"{call_id}.{ext}"
    codec = ["-c:a", "pcm_s16le"] if export else ["-c", "copy"]
    command = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(source), "-map", "0:a", *codec,
               "-map_metadata", "-1", "-metadata", f"comment={text}", str(target)]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=FFMPEG_SECONDS)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        target.unlink(missing_ok=True)
        folder.rmdir()
        detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) \
            else str(exc)
        raise RecordingError(f"the watermarked copy of call {call_id} could not be made: {detail}") from None
    return target


def read_watermark(path: Path) -> str | None:
    """The comment tag of an audio file as ffprobe reads it (None when it has none)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of", "json",
                          str(path)], check=True, capture_output=True, timeout=FFMPEG_SECONDS).stdout
    tags = json.loads(out).get("format", {}).get("tags", {})
    comment = tags.get("comment") or tags.get("COMMENT")
    return str(comment) if comment else None
