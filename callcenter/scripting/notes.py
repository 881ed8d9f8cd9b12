"""The timeline types of the :class:`~callcenter.scripting.protocol.Note` commands a session emits.

They are the values of ``callcenter/calls/events.py`` (the timeline's one vocabulary), repeated here because
the engine imports nothing from the other packages (docs/design.md); a test checks that they stay the same.
"""

from __future__ import annotations

SCRIPT_STATE = "script.state"  # data: script, state
SCRIPT_ERROR = "script.error"  # data: script, state, message
LISTEN_STARTED = "listen.started"  # data: seconds, state
SILENCE_WINDOW = "silence.window"  # data: seconds, state, step
RELEASE_REFUSED = "release.refused"  # data: by, reason
IVR_ANSWERED = "ivr.answered"  # data: rings, seconds

ALL = frozenset({SCRIPT_STATE, SCRIPT_ERROR, LISTEN_STARTED, SILENCE_WINDOW, RELEASE_REFUSED, IVR_ANSWERED})
