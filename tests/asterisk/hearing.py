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
PIECE_MS = 1000
# A stretch's detected start may be off its prompt's first frame by this much either way (the onset is soft;
# the caller's recording starts a few ms after the answer, so a greeting played at once loses its first frames).
SHIFT_MS = 200
# How closely a stretch's loudness contour must follow the prompts' (Pearson correlation) to be them.
MIN_LIKENESS = 0.65
# ... and every second of it at least this (a pause, a tail of silence, correlates poorly on its own).
MIN_PIECE = 0.3
MIN_SHORT_LIKENESS = 0.85
NEAR = 0.1
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
    """The prompts this stretch (with SHIFT_MS of context before it) is, read from its start: at each point the
    longest prompt that :func:`follows` the heard contour; ``"?"`` for sound that is no prompt (a prompt cut
    short, music, speech), skipped a frame at a time. Each prompt with its start, seconds into the stretch."""
    heard = contour(audio)
    keys: list[tuple[str, float]] = []
    pos = 0
    lead = SHIFT_MS // FRAME_MS
    while len(heard) - pos - lead > REST_MS // FRAME_MS:
        found = [(score, begin, p) for p in prompts
                 for score, begin in [follows(heard, pos, p.contour)] if begin is not None]
        top = max((score for score, _, _ in found), default=0.0)
        # Of those nearly as alike as the best, the longest: ivr.welcome's words open greeting.standard too.
        near = [(len(p.contour), begin, p) for score, begin, p in found if score >= top - NEAR]
        best = max(near, key=lambda item: item[0], default=None)
        if best is None:
            if not keys or keys[-1][0] != "?":
                keys.append(("?", pos * FRAME_MS / 1000))
            pos += 1
            continue
        n, begin, prompt = best
        keys.append((prompt.key, (begin * FRAME_MS - SHIFT_MS) / 1000))
        pos = begin + n - lead
    return tuple(keys)


def follows(heard: tuple[float, ...], pos: int, prompt: tuple[float, ...]) -> tuple[float, int | None]:
    """Where the prompt begins if the heard contour, from about ``pos + SHIFT_MS`` on, is that prompt: each
    second of it laid on within SHIFT_MS of where the seconds before it ended (a bridge's mixing drifts a prompt
    by up to 1 %), like it on average (MIN_LIKENESS) and in every piece (MIN_PIECE); with that average.
    (0.0, None) otherwise."""
    lead = SHIFT_MS // FRAME_MS
    piece = PIECE_MS // FRAME_MS
    if pos + len(prompt) > len(heard) + lead:
        return 0.0, None
    shifts = range(-lead, lead + 1)
    scores = []
    begin = None
    at = pos + lead
    for i in range(0, len(prompt), piece):
        part = prompt[i:i + piece]
        if len(part) < 5:
            break
        score, d = max((likeness(heard[max(0, at + d):at + d + len(part)], part), d) for d in shifts)
        if score < MIN_PIECE:
            return 0.0, None
        scores.append(score)
        if begin is None:
            begin = max(0, at + d)
            shifts = range(-2, 3)  # after the first second: only drift, 100 ms either way per second
        at = at + d + len(part)
    # A contour of a second or two is like many things by chance: a short prompt must be closer.
    needed = MIN_LIKENESS if len(scores) >= 3 else MIN_SHORT_LIKENESS
    if begin is None or sum(scores) / len(scores) < needed:
        return 0.0, None
    return sum(scores) / len(scores), begin


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
