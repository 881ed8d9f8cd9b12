"""Typed errors of the simulators (bad scenario, bad resource files); each names the call or the file."""

from __future__ import annotations

from callcenter.errors import CallcenterError


class SimulatorError(CallcenterError):
    """A simulated caller, agent or Asterisk was asked for something it cannot do."""
