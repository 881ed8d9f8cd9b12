"""What a simulated recording sounds like: the call's prompts, the caller's voice or noise, music on hold.

Both simulators (:mod:`callcenter.sim.ari` for the bridge recording, :mod:`callcenter.sim.agi` for MixMonitor)
know what happened on a call but carry no media. To give the QA page's waveform (peaks of
:mod:`callcenter.recordings.processing`) something true to look at, they describe the recording as
:class:`Segment` s in recording seconds and :func:`write_recording` renders them as a real recording would hold
them: 8 kHz, 16-bit mono WAV (what MixMonitor and a bridge record write for ``wav``), silence wherever
nothing was heard, overlapping sounds mixed.

- A prompt is its real sound file when there is one (any WAV; pydub converts other rates), else a synthetic
  "voice": a few harmonics of a gliding pitch under a syllable-rate envelope, with pauses between words.
- Caller speech is a second, lower voice; caller noise is band-limited noise; music on hold a soft tune.

Everything is deterministic (fixed seeds) and fast: each synthetic signal is computed once per process as a
few seconds of loop, and a recording is built by slicing those loops into one ``array('h')`` with C-level
slice copies; only overlapping sounds are mixed sample by sample.
"""

from __future__ import annotations

import math
import operator
import random
import sys
import wave
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path

from callcenter.logs import get_logger
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.errors import SimulatorError

log = get_logger(__name__)

SAMPLE_RATE = 8000
_LOOP_SECONDS = 7.0  # long enough that a repeated voice pattern does not show in a waveform
# Peak levels kept low enough that the four synthetic kinds together cannot clip (sum < 32767).
_PROMPT_PEAK, _CALLER_PEAK, _NOISE_PEAK, _MUSIC_PEAK = 14000, 10000, 4500, 4000


class Sound(StrEnum):
    PROMPT = "prompt"  # a prompt played to the call (its file, or a synthetic voice)
    SPEECH = "speech"  # the caller talking
    NOISE = "noise"  # line noise from the caller's side
    MUSIC = "music"  # music on hold


@dataclass(frozen=True)
class Segment:
    """One sound in a recording, ``start``..``end`` in seconds from the recording's first sample."""

    start: float
    end: float
    sound: Sound
    file: Path | None = None  # PROMPT only: its audio file; None or unreadable → the synthetic voice

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.start < 0 or self.end < self.start:
            raise SimulatorError(f"recording segment {self.sound} ({self.start}, {self.end}) needs "
                                 "0 <= start <= end, both finite")


def clip(segments: Iterable[Segment], start: float, end: float) -> list[Segment]:
    """The segments cut to ``start..end`` (the part a recording could hold); empty ones dropped. A prompt cut
    at its beginning keeps its file (the recording then holds the file's first part: good enough for a sim)."""
    out = []
    for seg in segments:
        a, b = max(seg.start, start), min(seg.end, end)
        if b > a:
            out.append(Segment(a, b, seg.sound, seg.file))
    return out


def caller_segments(caller: SimCaller, shift: float, end: float) -> list[Segment]:
    """The caller's speech and noise bursts (call seconds) as segments of a recording that started at call
    second ``shift`` and covers this caller until recording second ``end``. A silent caller has none."""
    out: list[Segment] = []
    for bursts, sound in ((caller.speech, Sound.SPEECH), (caller.noise, Sound.NOISE)):
        for at, duration in bursts:
            start, stop = max(0.0, at - shift), min(end, at + duration - shift)
            if stop > start:
                out.append(Segment(start, stop, sound))
    return out


def render(segments: Iterable[Segment], seconds: float) -> array[int]:
    """The recording's samples (signed 16-bit, native order): ``seconds`` long, the segments in place."""
    if not math.isfinite(seconds) or seconds < 0:
        raise SimulatorError(f"recording length {seconds!r} must be a finite number of seconds >= 0")
    total = int(seconds * SAMPLE_RATE)
    buf = array("h", bytes(2 * total))
    placed: list[tuple[int, int]] = []
    for seg in sorted(segments, key=lambda s: (s.start, s.end, s.sound)):
        a, b = round(seg.start * SAMPLE_RATE), min(total, round(seg.end * SAMPLE_RATE))
        if b <= a:
            continue
        _place(buf, a, _samples(seg, a, b - a), placed)
        placed.append((a, b))
    return buf


def write_recording(path: Path, segments: Iterable[Segment], seconds: float) -> None:
    """Write ``path`` as an 8 kHz 16-bit mono WAV of ``seconds`` holding ``segments`` (folders created)."""
    samples = render(segments, seconds)
    if sys.byteorder == "big":  # WAV is little-endian
        samples.byteswap()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())


# ---------------------------------------------------------------------- placing and mixing


def _place(buf: array[int], at: int, samples: array[int], placed: list[tuple[int, int]]) -> None:
    """Copy ``samples`` into ``buf`` at ``at``; where an earlier segment already sounds, add (clipped)."""
    end = at + len(samples)
    overlaps = sorted((max(a, at), min(b, end)) for a, b in placed if a < end and b > at)
    cursor = at
    for a, b in _union(overlaps):
        if a > cursor:
            buf[cursor:a] = samples[cursor - at:a - at]
        mixed = list(map(operator.add, buf[a:b], samples[a - at:b - at]))
        try:  # the synthetic levels cannot overflow together; a loud prompt file can, and is clipped
            buf[a:b] = array("h", mixed)
        except OverflowError:
            buf[a:b] = array("h", (32767 if v > 32767 else -32768 if v < -32768 else v for v in mixed))
        cursor = b
    if end > cursor:
        buf[cursor:end] = samples[cursor - at:]


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _samples(seg: Segment, at: int, count: int) -> array[int]:
    """``count`` samples of the segment's sound. Synthetic loops start at a point given by the segment's
    position, so two utterances of one call do not begin identically (still deterministic)."""
    if seg.sound is Sound.PROMPT and seg.file is not None:
        audio = _prompt_file(seg.file)
        if audio is not None:
            out = audio[:count]
            return out if len(out) == count else out + array("h", bytes(2 * (count - len(out))))
    loop = _loop(seg.sound)
    offset = (at * 7919) % len(loop)
    reps = (offset + count) // len(loop) + 1
    return (loop * reps)[offset:offset + count] if reps > 1 else loop[offset:offset + count]


def _prompt_file(path: Path) -> array[int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return _read_prompt(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _read_prompt(path: Path, _mtime_ns: int, _size: int) -> array[int] | None:
    """A prompt file as 8 kHz mono 16-bit samples (cached per file version); None if it is no readable WAV."""
    try:
        with wave.open(str(path), "rb") as w:
            params = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            frames = w.readframes(w.getnframes())
        if params != (SAMPLE_RATE, 1, 2):
            from pydub import AudioSegment  # only for prompt files not already in the recording's format

            frames = (AudioSegment.from_wav(str(path)).set_frame_rate(SAMPLE_RATE).set_channels(1)
                      .set_sample_width(2).raw_data)
    except (OSError, EOFError, wave.Error) as exc:
        log.warning("sim prompt file unreadable, synthetic voice used", path=str(path), error=str(exc))
        return None
    samples = array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


# ---------------------------------------------------------------------- synthetic signals (computed once)


@cache
def _loop(sound: Sound) -> array[int]:
    if sound is Sound.PROMPT:
        return _voice(seed=11, pitch=215.0, syllables_per_second=4.5, peak=_PROMPT_PEAK)
    if sound is Sound.SPEECH:
        return _voice(seed=23, pitch=125.0, syllables_per_second=3.5, peak=_CALLER_PEAK)
    if sound is Sound.NOISE:
        return _noise(seed=37, peak=_NOISE_PEAK)
    return _music(peak=_MUSIC_PEAK)


def _voice(*, seed: int, pitch: float, syllables_per_second: float, peak: int) -> array[int]:
    """Speech-like: words of 1-5 syllables, each a voiced tone (harmonics 1-4, vowel-like weights) whose
    pitch glides, under a rise-and-fall envelope; short gaps between syllables, longer ones between words."""
    rng = random.Random(seed)
    total = int(_LOOP_SECONDS * SAMPLE_RATE)
    out = array("h", bytes(2 * total))
    weights = (1.0, 0.55, 0.35, 0.18)
    # One period of the harmonic tone and the syllable envelope as tables: a lookup per sample, not 5 sin().
    size = 1024
    wave_table = [peak / sum(weights) * sum(w * math.sin(2 * math.pi * h * j / size)
                                            for h, w in enumerate(weights, start=1)) for j in range(size)]
    env_table = [math.sin(math.pi * j / size) ** 0.6 for j in range(size + 1)]
    i, phase = 0, 0.0
    while i < total:
        for _ in range(rng.randint(1, 5)):
            n = int(rng.uniform(0.6, 1.4) * SAMPLE_RATE / syllables_per_second)
            f0, f1 = pitch * rng.uniform(0.85, 1.2), pitch * rng.uniform(0.8, 1.15)
            loud = rng.uniform(0.55, 1.0)
            step0, glide = f0 * size / SAMPLE_RATE, (f1 - f0) * size / SAMPLE_RATE / n
            for k in range(min(n, total - i)):
                phase = (phase + step0 + glide * k) % size
                out[i + k] = int(loud * env_table[k * size // n] * wave_table[int(phase)])
            i += n + int(rng.uniform(0.02, 0.08) * SAMPLE_RATE)
            if i >= total:
                break
        i += int(rng.uniform(0.15, 0.45) * SAMPLE_RATE)
    return out


def _noise(*, seed: int, peak: int) -> array[int]:
    """Band-limited noise (~300-3000 Hz, a telephone line's band): white noise through a one-pole low-pass
    and a one-pole high-pass, with a slow level wander so it is not a flat block."""
    rng = random.Random(seed)
    total = int(3.0 * SAMPLE_RATE)
    lp_a = math.exp(-2 * math.pi * 3000 / SAMPLE_RATE)
    hp_a = math.exp(-2 * math.pi * 300 / SAMPLE_RATE)
    low = prev = high = 0.0
    values = []
    for n in range(total):
        low = (1 - lp_a) * rng.gauss(0.0, 1.0) + lp_a * low
        high = hp_a * (high + low - prev)
        prev = low
        values.append(high * (0.75 + 0.25 * math.sin(2 * math.pi * n / total)))  # one wander per loop
    top = max(abs(v) for v in values) or 1.0
    return array("h", (int(v * peak / top) for v in values))


def _music(*, peak: int) -> array[int]:
    """A soft tune for music on hold: a repeating phrase of notes, each a tone with its octave, faded in/out."""
    notes = (523.25, 659.25, 783.99, 659.25, 587.33, 698.46, 880.0, 698.46)  # C5 E5 G5 E5 D5 F5 A5 F5
    length = int(0.4 * SAMPLE_RATE)
    out = array("h")
    for freq in notes:
        for k in range(length):
            x = k / length
            env = min(1.0, x * 10) * min(1.0, (1 - x) * 5)
            t = k / SAMPLE_RATE
            out.append(int(peak * env * (0.8 * math.sin(2 * math.pi * freq * t)
                                         + 0.2 * math.sin(4 * math.pi * freq * t))))
    return out
