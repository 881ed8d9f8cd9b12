"""Typed errors of the script engine; each names its place as ``file:line:col`` where there is one.

The engine imports nothing of the project, so :class:`ScriptError` is a root of its own rather than a
:class:`callcenter.errors.CallcenterError`; the edge (the CLI, the web pages) treats the two alike
(``callcenter.errors.USER_ERRORS``).
"""

from __future__ import annotations


class ScriptError(Exception):
    """A script or prompt is wrong. ``path``/``line``/``col`` (1-based) point at the offending YAML node."""

    def __init__(self, message: str, path: str | None = None, line: int = 0, col: int = 0) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.col = col
        super().__init__(self.located())

    def located(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class ScriptLoadError(ScriptError):
    """A script or catalogue file cannot be loaded (malformed YAML, unknown state, bad template …)."""


class RenderError(ScriptError):
    """A prompt cannot be rendered for this call (undefined variable at render time, unknown key or locale)."""
