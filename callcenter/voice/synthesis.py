"""Text to an 8 kHz mono 16-bit WAV (what Asterisk plays without transcoding): espeak-ng, then pydub.

Leading and trailing silence is cut: a listening window starts when a prompt finishes playing (R-15's 5 s),
and espeak-ng ends every sentence with ~0.3 s of silence, which the caller would hear as a 5.3 s window.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from callcenter.errors import CallcenterError

SAMPLE_RATE = 8000
# Changes whenever synthesis makes different audio from the same text: files made before are made again.
SYNTHESIS = "espeak-ng/trimmed"
# Quieter than this (dBFS) at either end of a synthesised prompt is trimmed; words stay whole.
TRIM_THRESHOLD_DBFS = -50.0
# espeak-ng voice per locale; a locale not listed uses its language part (``en-US`` → ``en``).
VOICES = {"zh-CN": "cmn", "zh-sichuan": "cmn", "zh-HK": "yue", "zh-TW": "cmn", "en-US": "en-us"}


class PromptAudioError(CallcenterError):
    """espeak-ng or the conversion failed, or a locale has no catalogue."""


def voice_for(locale: str) -> str:
    return VOICES.get(locale, locale.split("-")[0])


def synthesise(text: str, voice: str, target: Path) -> None:
    """espeak-ng → 8 kHz mono 16-bit WAV at ``target`` (written via a temporary file, never half-written)."""
    from pydub import AudioSegment
    from pydub.silence import detect_leading_silence

    if shutil.which("espeak-ng") is None:
        raise PromptAudioError("espeak-ng is not installed (apt-get install espeak-ng)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        raw = Path(tmp) / "raw.wav"
        try:
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), "--", text],
                           check=True, capture_output=True, timeout=60)
        except subprocess.CalledProcessError as exc:
            message = exc.stderr.decode(errors="replace").strip()
            raise PromptAudioError(f"espeak-ng failed for {target.name}: {message}") from None
        except subprocess.TimeoutExpired:
            raise PromptAudioError(f"espeak-ng took too long for {target.name}") from None
        audio = AudioSegment.from_wav(raw).set_frame_rate(SAMPLE_RATE).set_channels(1).set_sample_width(2)
        start = detect_leading_silence(audio, silence_threshold=TRIM_THRESHOLD_DBFS, chunk_size=5)
        end = len(audio) - detect_leading_silence(audio.reverse(), silence_threshold=TRIM_THRESHOLD_DBFS,
                                                  chunk_size=5)
        if end > start:
            audio = audio[start:end]
        partial = Path(tmp) / "out.wav"
        audio.export(partial, format="wav")
        shutil.move(str(partial), target)
