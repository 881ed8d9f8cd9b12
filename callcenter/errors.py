"""The root of every error the service reports to a person.

Each package defines its own subclasses (``ScriptError``, ``AGIProtocolError``, ``SLAConfigError`` …); the CLI
prints any of them as one sentence and exits 2, the web layer turns them into a 400 with the same sentence.
"""


class CallcenterError(Exception):
    """A bad input or state, explained in one sentence that names the place (file:line, key, call id)."""
