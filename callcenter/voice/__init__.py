"""Prompt audio: every prompt a caller can reach is heard, recorded by the centre or rendered from its text.

A centre records the fixed prompts (``scripts/sounds/<locale>/<key>.wav``); ``callcenter prompts build``
synthesises the ones it has not recorded. A prompt whose words depend on the call (the agent's label, the
caller's surname, the time of day, R-04) cannot be recorded ahead: :class:`PromptVoice` renders the call's own
text when it is first needed, off the event loop, and keeps the file by its text, so a greeting is synthesised
once per agent, not once per call.
"""

from callcenter.voice.cache import PromptVoice, VoiceUnavailable
from callcenter.voice.synthesis import PromptAudioError, synthesise, voice_for

__all__ = ["PromptAudioError", "PromptVoice", "VoiceUnavailable", "synthesise", "voice_for"]
