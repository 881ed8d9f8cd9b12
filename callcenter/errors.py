"""The root of every error the service reports to a person.

Each package defines its own subclasses (``AGIProtocolError``, ``SLAConfigError`` …); the CLI prints any of
them as one sentence and exits 2, the web layer turns them into a 400 with the same sentence. The script
engine imports nothing of the project (pyproject.toml, ``[tool.importlinter]``), so its ``ScriptError`` has a
root of its own; :data:`USER_ERRORS` names both for the places that catch them.
"""

from callcenter.scripting.errors import ScriptError


class CallcenterError(Exception):
    """A bad input or state, explained in one sentence that names the place (file:line, key, call id)."""


# What reaches a person as one sentence: the service's errors and the script engine's.
USER_ERRORS: tuple[type[Exception], ...] = (CallcenterError, ScriptError)
