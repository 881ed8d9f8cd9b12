"""Typed errors of the script engine; each names its place as ``file:line:col`` where there is one."""

from __future__ import annotations

from callcenter.errors import CallcenterError


class ScriptError(CallcenterError):
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
