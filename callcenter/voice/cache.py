"""The prompt audio a call plays: the centre's recording when there is one, else its own text rendered once.

Rendered files are kept under ``scripts.rendered_audio_directory/<locale>/<digest of voice and text>/<key>.wav``
(the last part names the prompt, as a recording's does, for whoever reads a media URI or a folder listing):
the same words are synthesised once per process lifetime of the folder (a restart finds them on disk), the
synthesis runs in a worker thread (espeak-ng and ffmpeg are subprocesses: ~30-60 ms a sentence here), and
calls that need the same new text at the same moment wait for one synthesis, not one each.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from callcenter.config import ScriptSettings
from callcenter.scripting.protocol import Play
from callcenter.voice.synthesis import SYNTHESIS, PromptAudioError, synthesise, voice_for

# A sentence with the tones and digits a greeting has: what the start-up check renders.
CHECK_TEXT = "您好,客服代表1001号很高兴为您服务。"


class VoiceUnavailable(PromptAudioError):
    """Prompts without a recording cannot be rendered here (espeak-ng or ffmpeg missing or failing)."""


class PromptVoice:
    """Where each :class:`Play` finds its audio: ``media(play)`` is the file's path without extension (how
    Asterisk names sound files), absolute, so ``STREAM FILE`` and ARI's ``sound:`` open it directly."""

    def __init__(
        self,
        sounds: Path,
        rendered: Path,
        *,
        render: Callable[[str, str, Path], None] = synthesise,
    ) -> None:
        self.sounds = sounds.resolve()
        self.rendered = rendered.resolve()
        self._render = render
        self._ready: set[Path] = set()
        self._pending: dict[Path, asyncio.Future[None]] = {}

    @classmethod
    def of(cls, settings: ScriptSettings) -> PromptVoice:
        """The centre's voice: its library's ``sounds/`` folder and its folder of rendered prompts."""
        return cls(settings.directory / "sounds", settings.rendered_audio_directory)

    def recorded(self, locale: str, audio: str) -> Path:
        return self.sounds / locale / audio

    def rendered_path(self, locale: str, key: str, text: str) -> Path:
        voice = voice_for(locale)
        digest = hashlib.sha256(f"{SYNTHESIS}\n{voice}\n{text}".encode()).hexdigest()[:24]
        return self.rendered / locale / digest / key

    async def media(self, play: Play) -> Path:
        """The sound file for this prompt; renders the call's own text when no recording exists. Raises
        :class:`PromptAudioError` (with the reason) when it cannot be had."""
        if play.audio is not None:
            return self.recorded(play.locale, play.audio)
        stem = self.rendered_path(play.locale, play.key, play.text)
        if stem in self._ready:
            return stem
        wav = stem.parent / f"{stem.name}.wav"  # not with_suffix: keys hold dots (greeting.standard)
        pending = self._pending.get(stem)
        if pending is None:
            if await asyncio.to_thread(wav.is_file):
                self._ready.add(stem)
                return stem
            pending = asyncio.ensure_future(asyncio.to_thread(self._render_safely, play.text, play.locale, wav))
            self._pending[stem] = pending
            pending.add_done_callback(lambda _done: self._pending.pop(stem, None))
        await asyncio.shield(pending)
        self._ready.add(stem)
        return stem

    def _render_safely(self, text: str, locale: str, wav: Path) -> None:
        try:
            self._render(text, voice_for(locale), wav)
        except PromptAudioError:
            raise
        except Exception as exc:  # no folder, no ffmpeg, a bad file: every failure is "not played", with why
            raise PromptAudioError(f"rendering {wav.name}: {exc}") from None

    def check(self) -> None:
        """Render one sentence into a scratch folder: proves that prompts without a recording can be heard."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                self._render(CHECK_TEXT, voice_for("zh-CN"), Path(tmp) / "check.wav")
            except PromptAudioError as exc:
                raise VoiceUnavailable(str(exc)) from None
            except OSError as exc:  # ffmpeg missing: pydub cannot convert
                raise VoiceUnavailable(f"prompt rendering failed: {exc}") from None
