"""What a caller heard, read from the recording of their side (``MixMonitor r()``), not from our timeline.

A window is the silence between two stretches of sound. Which prompts a stretch is: every prompt file the
service may play is known (the library's recordings and the rendered ones); prompts played back to back
(``ivr.welcome`` then ``ivr.menu``) join into one stretch, with a gap no longer than a pause inside a sentence.
A stretch is read prompt by prompt from its start by the loudness contour (50 ms frames) of each prompt's
head and tail (see :func:`made_of`). Prompts with the same words sound the same
(「您好,请问有什么可以帮助您?」 is both S2 and the reply greeting): such a stretch is heard as either.
"""

from __future__ import annotations

import time
import wave
from dataclasses import dataclass
from pathlib import Path

from pydub import AudioSegment
from pydub.silence import detect_nonsilent

# Softer than this is silence. Asterisk's silence files and a quiet line are far below; prompts far above.
SILENCE_DBFS = -50
# A pause inside a prompt (between clauses) is shorter than this; a listening window is far longer.
MIN_GAP_MS = 400
MATCH_SECONDS = 0.08
FRAME_MS = 50
HEAD_MS, TAIL_MS = 2000, 1000
# A stretch's detected start may be off its prompt's first frame by this much either way (the onset is soft;
# the caller's recording starts a few ms after the answer, so a greeting played at once loses its first frames).
SHIFT_MS = 200
# How closely a stretch's loudness contour must follow the prompts' (Pearson correlation) to be them.
MIN_LIKENESS = 0.6
# Sound left after the last prompt found, shorter than this, is the tail of that prompt.
REST_MS = 300
# What the suite measured, printed at its end (tests/asterisk/conftest.py).
MEASURED: list[str] = []


@dataclass(frozen=True)
class Stretch:
    start: float
    end: float
    # the prompts it is made of, each with its start in seconds since the answer ("a|b": a or b, same audio;
    # "?": sound that is no prompt)
    heard: tuple[tuple[str, float], ...]

    @property
    def prompts(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.heard)

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Heard:
    """One call from the caller's side: when it was placed, answered and hung up (caller's clock) and the
    stretches of sound it heard (seconds since its answer)."""

    placed: float
    answered: float
    hung_up: float
    length: float  # of the recording
    stretches: tuple[Stretch, ...]

    @property
    def ring_seconds(self) -> float:
        return self.answered - self.placed

    def prompts(self) -> list[str | None]:
        """Every prompt heard, in order; None for a stretch that is no prompt (or one cut short)."""
        return [None if key == "?" else key for s in self.stretches for key in (s.prompts or ("?",))]

    def heard_as(self, expected: list[str]) -> bool:
        """The prompts heard are ``expected``, in order (a prompt sounding the same as another counts as it)."""
        heard = self.prompts()
        return len(heard) == len(expected) and all(
            h is not None and key in h.split("|") for h, key in zip(heard, expected, strict=True))

    def started(self, key: str) -> list[float]:
        """When each hearing of this prompt began, seconds since the answer."""
        return [at for s in self.stretches for k, at in s.heard if key in k.split("|")]

    def heard_any(self, key: str) -> bool:
        return any(h is not None and key in h.split("|") for h in self.prompts())

    def windows(self) -> list[float]:
        """Silence between consecutive stretches, then from the last stretch to the end of the recording."""
        gaps = [b.start - a.end for a, b in zip(self.stretches, self.stretches[1:], strict=False)]
        if self.stretches:
            gaps.append(self.length - self.stretches[-1].end)
        return [round(g, 3) for g in gaps]


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / float(w.getframerate())


@dataclass(frozen=True)
class Prompt:
    key: str
    seconds: float
    contour: tuple[float, ...]


def contour(audio: AudioSegment) -> tuple[float, ...]:
    return tuple(float(audio[i:i + FRAME_MS].rms) for i in range(0, len(audio) - FRAME_MS + 1, FRAME_MS))


def known_prompts(sounds: Path, rendered: Path, locale: str = "zh-CN") -> list[Prompt]:
    """Every prompt the service may play (recorded prompts, then rendered ones)."""
    files = [*(sounds / locale).glob("*.wav"), *(rendered / locale).glob("*/*.wav")]
    by_sound: dict[tuple[float, ...], list[str]] = {}
    lengths: dict[tuple[float, ...], float] = {}
    for path in files:
        audio = AudioSegment.from_wav(path)
        shape = contour(audio)
        by_sound.setdefault(shape, []).append(path.name.removesuffix(".wav"))
        lengths[shape] = len(audio) / 1000
    return [Prompt("|".join(sorted(keys)), lengths[shape], shape) for shape, keys in by_sound.items()]


def likeness(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    n = min(len(a), len(b))
    if n < 5:
        return 0.0
    a, b = a[:n], b[:n]
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = sum((x - ma) ** 2 for x in a) ** 0.5
    vb = sum((y - mb) ** 2 for y in b) ** 0.5
    return cov / (va * vb) if va and vb else 0.0


def made_of(audio: AudioSegment, prompts: list[Prompt]) -> tuple[tuple[str, float], ...]:
    """The prompts this stretch (with SHIFT_MS of context before it) is, read from its start. At each point,
    the longest prompt whose head (its first HEAD_MS) and tail (its last TAIL_MS) both follow the heard
    contour (likeness at least MIN_LIKENESS, each laid on within SHIFT_MS: a bridge's mixing drifts a prompt by
    up to 1 %); ``"?"`` for sound that is no prompt (a prompt cut short, music, speech), skipped a frame at a
    time. Each prompt with its start, seconds into the stretch."""
    heard = contour(audio)
    keys: list[tuple[str, float]] = []
    pos = 0
    shifts = range(-SHIFT_MS // FRAME_MS, SHIFT_MS // FRAME_MS + 1)
    while len(heard) - pos - SHIFT_MS // FRAME_MS > REST_MS // FRAME_MS:
        best: tuple[int, int, Prompt] | None = None
        for prompt in prompts:
            n = len(prompt.contour)
            head, tail = prompt.contour[:HEAD_MS // FRAME_MS], prompt.contour[-TAIL_MS // FRAME_MS:]
            at = max(shifts, key=lambda d: likeness(heard[max(0, pos + SHIFT_MS // FRAME_MS + d):], head))
            begin = max(0, pos + SHIFT_MS // FRAME_MS + at)
            if begin + n > len(heard) + SHIFT_MS // FRAME_MS or likeness(heard[begin:], head) < MIN_LIKENESS:
                continue
            end = begin + n - len(tail)
            if max(likeness(heard[max(0, end + d):], tail) for d in shifts) < MIN_LIKENESS:
                continue
            if best is None or n > best[0]:  # the longest: ivr.welcome's words open greeting.standard too
                best = (n, begin, prompt)
        if best is None:
            if not keys or keys[-1][0] != "?":
                keys.append(("?", pos * FRAME_MS / 1000))
            pos += 1
            continue
        n, begin, prompt = best
        keys.append((prompt.key, (begin * FRAME_MS - SHIFT_MS) / 1000))
        pos = begin + n - SHIFT_MS // FRAME_MS
    return tuple(keys)


def wait_until_hung_up(call: Path, timeout: float) -> None:
    clock = call.with_suffix(".clock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if clock.exists() and "hangup" in clock.read_text():
            time.sleep(0.5)  # MixMonitor closes its files after the hang-up handler ran
            return
        time.sleep(0.25)
    raise AssertionError(f"{call.name}: the caller did not hang up within {timeout:.0f} s")


def hear(call: Path, placed: float, prompts: list[Prompt]) -> Heard:
    marks = dict(line.split() for line in call.with_suffix(".clock").read_text().splitlines() if line.strip())
    audio = AudioSegment.from_wav(call.parent / f"{call.name}-heard.wav")
    stretches = tuple(
        Stretch(s / 1000, e / 1000, tuple((key, s / 1000 + at) for key, at in
                                          made_of(audio[max(0, s - SHIFT_MS):e], prompts)))
        for s, e in detect_nonsilent(audio, min_silence_len=MIN_GAP_MS, silence_thresh=SILENCE_DBFS, seek_step=5)
    )
    return Heard(placed, float(marks["answered"]), float(marks["hangup"]), len(audio) / 1000, stretches)
