"""A call clock that runs faster than the wall: tests hear a 15-second ring in 150 ms without sleeping.

The runner, the ARI adapter and the simulators all read time through the same two calls asyncio's loop
already offers (``time()`` and ``call_later()``, :class:`callcenter.calls.runner.Clock`), plus ``sleep``.
:class:`ScaledClock` maps one simulated second to ``scale`` real seconds on the running loop, so a whole
silent call (R-15: three 5 s windows) takes well under a second in a test and every offset written to the
timeline is still in the call's own seconds. ``scale=1`` is the real clock (the demo, the benchmark).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.sim.errors import SimulatorError


@dataclass
class ScaledClock:
    """Simulated seconds on the running event loop; ``scale`` real seconds per simulated second."""

    scale: float = 1.0
    _origin: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise SimulatorError(f"clock scale must be positive, got {self.scale!r}")

    def _loop_time(self) -> float:
        loop = asyncio.get_running_loop()
        if self._origin is None:
            self._origin = loop.time()
        return loop.time() - self._origin

    def time(self) -> float:
        """Simulated seconds since the clock was first read."""
        return self._loop_time() / self.scale

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        self._loop_time()
        return asyncio.get_running_loop().call_later(max(0.0, delay) * self.scale, callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) * self.scale)

    def real(self, seconds: float) -> float:
        """The real seconds ``seconds`` of simulated time take (for timeouts in tests)."""
        return seconds * self.scale
