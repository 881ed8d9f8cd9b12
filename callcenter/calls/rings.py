"""Ring cadence profiles and ring counting (R-01, R-02; docs/design.md "Ring cadence").

A ring period is ``on`` seconds of tone then ``off`` seconds of silence; ring *k* (1-based) starts at
``(k - 1) * period``. "Within three rings" means before the 4th ring starts, so an answer at exactly
``3 * period`` (15 s on the ``cn`` profile) still counts as within three rings, and one a moment later does not.
Metrics, the agent router, the simulators and the panel all count rings with these functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from callcenter.errors import CallcenterError


@dataclass(frozen=True, slots=True)
class RingCadence:
    name: str
    on: float
    off: float

    @property
    def period(self) -> float:
        return self.on + self.off

    def ring_starts(self, ring: int) -> float:
        """When ring number ``ring`` (1-based) starts, in seconds after ringing began."""
        return (ring - 1) * self.period

    def rings_at(self, seconds: float) -> int:
        """How many rings had started strictly before ``seconds`` of ringing (0 at the very start)."""
        if seconds <= 0:
            return 0
        return math.ceil(round(seconds / self.period, 9))

    def within(self, seconds: float, rings: int) -> bool:
        """True when an answer after ``seconds`` of ringing is within ``rings`` rings (R-01: rings=3)."""
        return seconds <= rings * self.period

    def limit(self, rings: int) -> float:
        """The last instant that is still within ``rings`` rings: the start of ring ``rings + 1``."""
        return rings * self.period

    def answer_delay(self, rings: int) -> float:
        """When the IVR answers "after N rings": once the N-th ring's tone has sounded (0 for N = 0)."""
        if rings <= 0:
            return 0.0
        return self.ring_starts(rings) + self.on


CADENCES: dict[str, RingCadence] = {
    # docs/design.md default: the usual Chinese ringback, 1 s on, 4 s off.
    "cn": RingCadence("cn", 1.0, 4.0),
    # North-American ringback, 2 s on, 4 s off; for centres whose PBX plays it.
    "us": RingCadence("us", 2.0, 4.0),
    # UK-style double ring, counted as one 3 s period (0.4+0.2+0.4 on, 2 off).
    "uk": RingCadence("uk", 1.0, 2.0),
}


class CadenceError(CallcenterError):
    pass


def cadence(name: str) -> RingCadence:
    try:
        return CADENCES[name]
    except KeyError:
        raise CadenceError(f"unknown ring cadence {name!r}; known: {', '.join(sorted(CADENCES))}") from None
