"""Seat reservations under contention: many reservers at once on one database, each on its own connection.

What the scale test and ``bench/scale.py`` measure of the seats (issue 17): ``workers`` threads (each with its
own connection from the engine's pool, like processes sharing PostgreSQL) reserve seats of one group of
``agents`` for ``calls`` calls, hold each seat a moment and release it. Every reservation is checked against
the seats held at that instant, so a seat rung for two calls at once is counted, never hidden; the result
carries the latency of each reservation (p50, p99).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callcenter.calls.agents import Agent, AgentState
from callcenter.calls.seat_store import SeatStore


@dataclass
class ContentionResult:
    reservations: int = 0  # calls that got a seat
    misses: int = 0  # attempts that found every seat taken (retried until the call got one)
    double_booked: list[tuple[str, str, str]] = field(default_factory=list)  # (agent, call held, call given)
    latencies: list[float] = field(default_factory=list)  # seconds per reserve() call
    seconds: float = 0.0
    per_agent: dict[str, int] = field(default_factory=dict)

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def as_dict(self) -> dict[str, object]:
        return {"reservations": self.reservations, "misses": self.misses, "double_booked": len(self.double_booked),
                "p50_ms": round(self.percentile(50) * 1000, 2), "p99_ms": round(self.percentile(99) * 1000, 2),
                "seconds": round(self.seconds, 3), "per_second": round(self.reservations / self.seconds, 1)
                if self.seconds else 0.0}


def seat_group(store: SeatStore, group: str, agents: int, now: datetime) -> list[str]:
    """``agents`` ready seats in ``group`` (registered if new)."""
    ids = [f"{group}-{n:03d}" for n in range(1, agents + 1)]
    for agent_id in ids:
        store.upsert(Agent(agent_id, f"PJSIP/{agent_id}", agent_id, groups=(group,)), now)
        store.set_state(agent_id, AgentState.READY, reason=None, now=now, by="bench")
    return ids


def reserve_under_contention(
    url: str,
    *,
    agents: int = 10,
    calls: int = 200,
    workers: int = 4,
    group: str = "contention",
    hold_seconds: float = 0.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ContentionResult:
    """Reserve a seat for each of ``calls`` calls from ``workers`` threads at once; see the module's text."""
    store = SeatStore(url)
    seat_group(store, group, agents, now())
    result = ContentionResult()
    held: dict[str, str] = {}
    lock = threading.Lock()
    todo = iter(range(calls))

    def work(worker: int) -> None:
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                return
            call_id = f"{group}-call-{n}"
            while True:
                started = time.perf_counter()
                agent = store.reserve(group, call_id=call_id, holder=f"bench:{worker}", now=now(), lease_seconds=30)
                elapsed = time.perf_counter() - started
                with lock:
                    result.latencies.append(elapsed)
                    if agent is None:
                        result.misses += 1
                    else:
                        other = held.get(agent.id)
                        if other is not None:
                            result.double_booked.append((agent.id, other, call_id))
                        held[agent.id] = call_id
                        result.reservations += 1
                        result.per_agent[agent.id] = result.per_agent.get(agent.id, 0) + 1
                if agent is not None:
                    break
                time.sleep(0.001)  # every seat is taken: another call releases one in a moment
            if hold_seconds:
                time.sleep(hold_seconds)
            with lock:
                if held.get(agent.id) == call_id:
                    del held[agent.id]  # before the release: from then on another call may have it
            store.release(agent.id, AgentState.READY, call_id=call_id, reason=None, now=now(), by="bench")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work, w) for w in range(workers)]:
            future.result()
    result.seconds = time.perf_counter() - started
    return result
