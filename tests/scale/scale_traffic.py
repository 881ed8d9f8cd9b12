"""The scale test's callers: a seeded plan of calls spread over a span of simulated time and both Asterisk servers.

Each call's scenario says how it must end, whatever process takes it:

- ``talk``: speaks to the agent and hangs up after a while: answered by an agent, released by the caller;
- ``silent``: says nothing after the agent's greeting: answered, then released by the centre as silent (R-15);
- ``abandon``: hangs up during the IVR's ringing or welcome, before any agent: abandoned, no agent rang.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from callcenter.sim.ari import AriSimulator, SimChannel
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.clock import ScaledClock

MIX = (("talk", 65), ("silent", 10), ("abandon", 25))


@dataclass(frozen=True)
class PlannedCall:
    index: int
    server: str
    at: float  # simulated seconds after the traffic starts
    kind: str
    caller: SimCaller


def plan_calls(count: int, span: float, servers: tuple[str, ...], seed: int = 17) -> list[PlannedCall]:
    """``count`` calls evenly spread over ``span`` simulated seconds (a little jitter), servers in turn."""
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    planned = []
    for i in range(count):
        kind = rng.choices(kinds, weights)[0]
        number = f"139{rng.randint(10_000_000, 99_999_999)}"
        if kind == "talk":
            caller = SimCaller(number=number, args=("hotline",), speech=((8.0, 2.0), (13.0, 2.0), (18.0, 2.0)),
                               hangup_at=rng.uniform(22.0, 28.0))
        elif kind == "silent":
            caller = SimCaller(number=number, args=("hotline",))
        else:
            caller = SimCaller(number=number, args=("hotline",), hangup_at=rng.uniform(0.5, 2.5))
        at = span * i / count + rng.uniform(0.0, span / count / 2)
        planned.append(PlannedCall(i, servers[i % len(servers)], at, kind, caller))
    return planned


async def place_calls(planned: list[PlannedCall], sims: dict[str, AriSimulator], clock: ScaledClock, app: str,
                      placed: dict[str, tuple[PlannedCall, SimChannel]],
                      on_placed: Callable[[], None] | None = None) -> None:
    """Place each call at its time on its server; ``placed`` fills as they go (call id → plan, channel)."""
    start = clock.time()
    for call in planned:
        await clock.sleep(call.at - (clock.time() - start))
        chan = sims[call.server].place_call(call.caller, app=app)
        placed[chan.id] = (call, chan)
        if on_placed is not None:
            on_placed()


async def wait_all_ended(placed: dict[str, tuple[PlannedCall, SimChannel]], sims: dict[str, AriSimulator],
                         limit: float) -> list[str]:
    """Wait at most ``limit`` real seconds for every caller channel to be gone; returns those still up."""
    waits = [asyncio.ensure_future(sims[call.server].wait_ended(cid)) for cid, (call, _) in placed.items()]
    if waits:
        _, pending = await asyncio.wait(waits, timeout=limit)
        for task in pending:
            task.cancel()
    return [cid for cid, (_, chan) in placed.items() if chan.ended_t is None]
