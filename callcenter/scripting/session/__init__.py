"""One call's script session: events in, commands out, no clock and no socket (docs/design.md, the engine).

A session is driven by :meth:`ScriptSession.start` and :meth:`ScriptSession.handle`; every wait is a
:class:`~callcenter.scripting.protocol.StartTimer` the driver turns into a
:class:`~callcenter.scripting.protocol.TimerFired`. The rules of the service it enforces, and where:

- R-01: an IVR entry rings, answers after the configured rings (a timer), records (R-numbers of section 6),
  then runs the script's first state (``machine``).
- R-15 (docs/design.md): a listening window starts when the last prompt has *finished*; caller speech or a
  digit in the window cancels its timer and takes the ``speech``/``dtmf`` branch; so does speech or a digit
  while a listening state's prompt is still playing (``listening``).
- R-23, R-48: who may release the call and when; a script error never leaves the call hanging (``ending``).

The parts, one concern each: ``config`` (SessionConfig, phases), ``state`` (the fields they share),
``machine`` (ScriptSession: driving, states, targets), ``prompts`` (what is said, playback finished),
``listening`` (windows, caller input), ``handover`` (transfer results, scripts started mid-call), ``ending``
(release, hang-up, the safe path).
"""

from callcenter.scripting.session.config import ANSWER_TIMER, FALLBACK_KEY, FALLBACK_TEXT, SessionConfig
from callcenter.scripting.session.machine import ScriptSession

__all__ = ["ANSWER_TIMER", "FALLBACK_KEY", "FALLBACK_TEXT", "ScriptSession", "SessionConfig"]
