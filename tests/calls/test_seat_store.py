"""The centre's seats in the database (issue 17) on SQLite and PostgreSQL: who is reserved, atomically, under
contention; leases; states with reason codes and the wrap-up maximum (issue 15), on an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentError, AgentState
from callcenter.calls.seat_contention import reserve_under_contention
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def tick(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


async def seats(url: str, clock: Clock, *ids: str, holder: str = "proc-a:1", timeline: Timeline | None = None,
                locales: dict[str, tuple[str, ...]] | None = None, **kwargs: object) -> SeatPool:
    """Ready seats in the order given, each ready one second after the one before (so the first waited longest)."""
    pool = SeatPool(url, holder=holder, now=clock, timeline=timeline, **kwargs)  # type: ignore[arg-type]
    for agent_id in ids:
        await pool.ensure(Agent(agent_id, f"PJSIP/{agent_id}", agent_id,
                                locales=(locales or {}).get(agent_id, ("zh-CN",))))
        await pool.set_state(agent_id, AgentState.READY)
        clock.tick(1)
    return pool


async def test_the_longest_idle_ready_agent_is_reserved_first_and_only_once(db_url: str) -> None:
    clock = Clock()
    pool = await seats(db_url, clock, "8001", "8002", "8003")
    first = await pool.reserve("default", call_id="c1")
    assert first is not None and first.id == "8001" and first.state is AgentState.RINGING
    second = await pool.reserve("default", call_id="c2")
    assert second is not None and second.id == "8002"
    await pool.release("8001", AgentState.READY, call_id="c1")  # 8001 is now the one who waited least
    assert (await pool.reserve("default", call_id="c3")).id == "8003"  # type: ignore[union-attr]
    assert (await pool.reserve("default", call_id="c4")).id == "8001"  # type: ignore[union-attr]
    assert await pool.reserve("default", call_id="c5") is None
    await pool.refresh()
    assert pool.counts()["ringing"] == 3 and pool.get("8003").call_id == "c3"


async def test_r02_the_neighbour_seat_rings_next_wrapping_round_and_skipping_the_tried(db_url: str) -> None:
    clock = Clock()
    pool = await seats(db_url, clock, "8001", "8002", "8003", "8004")
    await pool.set_state("8004", AgentState.NOT_READY, reason="break")
    got = await pool.reserve("default", call_id="c", after="8002", tried=["8002"])
    assert got is not None and got.id == "8003"
    await pool.release("8003", AgentState.NOT_READY, call_id="c", reason="no_answer")
    # 8004 is on a break and 8002, 8003 were tried: round the row to 8001.
    got = await pool.reserve("default", call_id="c", after="8003", tried=["8002", "8003"])
    assert got is not None and got.id == "8001"
    assert await pool.reserve("default", call_id="c", after="8001", tried=["8001", "8002", "8003"]) is None


async def test_an_agent_with_the_callers_locale_is_preferred(db_url: str) -> None:
    clock = Clock()
    pool = await seats(db_url, clock, "8001", "8002", locales={"8002": ("zh-CN", "zh-sichuan")})
    got = await pool.reserve("default", call_id="c1", locale="zh-sichuan")
    assert got is not None and got.id == "8002"
    got = await pool.reserve("default", call_id="c2", locale="zh-sichuan")  # nobody skilled left: anyone
    assert got is not None and got.id == "8001"


async def test_a_named_agent_first_and_unknown_groups_are_one_line(db_url: str) -> None:
    clock = Clock()
    pool = await seats(db_url, clock, "8001", "8002")
    got = await pool.reserve("default", call_id="c1", wanted="8002")
    assert got is not None and got.id == "8002"
    assert await pool.reserve_agent("8002", call_id="c2") is None  # already ringing for c1
    with pytest.raises(AgentError, match="unknown agent group 'vip'"):
        await pool.reserve("vip", call_id="c3")


async def test_two_processes_never_ring_one_agent_for_two_calls(db_url: str) -> None:
    """Two holders (two processes' pools) reserve 3 seats for 12 calls at once; each keeps what it got."""
    clock = Clock()
    a = await seats(db_url, clock, "8001", "8002", "8003", holder="host-a:1")
    b = SeatPool(db_url, holder="host-b:2", now=clock)
    got = await asyncio.gather(*[(a if n % 2 else b).reserve("default", call_id=f"c{n}") for n in range(12)])
    taken = [g.id for g in got if g is not None]
    assert sorted(taken) == ["8001", "8002", "8003"]  # each seat once, and no call left while one was free


def test_reservations_under_contention_book_no_agent_twice(db_url: str) -> None:
    """Six threads, each on its own connection, reserve and release 5 seats for 150 calls."""
    result = reserve_under_contention(db_url, agents=5, calls=150, workers=6)
    assert result.double_booked == []
    assert result.reservations == 150 and sum(result.per_agent.values()) == 150
    assert len(result.per_agent) == 5  # every seat took calls
    assert result.percentile(99) >= result.percentile(50) > 0


async def test_a_dead_processes_seats_are_released_when_its_lease_runs_out(db_url: str) -> None:
    clock = Clock()
    timeline = Timeline(None)
    dead = await seats(db_url, clock, "8001", "8002", holder="host-a:1", lease_seconds=30)
    alive = SeatPool(db_url, holder="host-b:2", now=clock, timeline=timeline, lease_seconds=30)
    await dead.reserve("default", call_id="ringing-call")
    await dead.reserve("default", call_id="talking-call")
    await dead.answered("8002", "talking-call")
    clock.tick(20)
    await dead.upkeep()  # the holder renews while it lives
    clock.tick(20)
    assert await alive.upkeep() == []  # 20 s after the renewal: still held
    clock.tick(11)  # the holder died after its last renewal; 31 s later its lease is over
    changes = {c.agent: c for c in await alive.upkeep()}
    assert changes["8001"].state is AgentState.READY and changes["8001"].by == "lease"
    assert changes["8002"].state is AgentState.AFTER_CALL and changes["8002"].reason == "lease_expired"
    assert await alive.upkeep() == []  # released once
    assert (await alive.reserve("default", call_id="next")).id == "8001"  # type: ignore[union-attr]
    await timeline.flush()
    states = [e.data for e in timeline.between(T0 - timedelta(1), clock() + timedelta(1)) if e.type == ev.AGENT_STATE]
    assert {"agent": "8001", "state": "ready", "reason": None, "by": "lease", "from": "ringing",
            "call_id": "ringing-call"} in states


async def test_a_late_release_does_not_free_another_calls_reservation(db_url: str) -> None:
    clock = Clock()
    pool = await seats(db_url, clock, "8001")
    await pool.reserve("default", call_id="old")
    clock.tick(60)
    await SeatPool(db_url, holder="other:9", now=clock).upkeep()  # old's lease ran out: released
    await pool.reserve("default", call_id="new")
    await pool.release("8001", AgentState.AFTER_CALL, call_id="old")  # the old call's clean-up, late
    await pool.refresh()
    assert pool.get("8001").state is AgentState.RINGING and pool.get("8001").call_id == "new"


async def test_not_ready_reason_codes_standard_and_configured(db_url: str) -> None:
    clock = Clock()
    timeline = Timeline(None)
    pool = await seats(db_url, clock, "8001", timeline=timeline, reason_codes={"coaching": "辅导"})
    for reason in ("break", "meal", "training", "meeting", "coaching"):
        agent = await pool.set_state("8001", AgentState.NOT_READY, reason=reason)
        assert agent.reason == reason
    with pytest.raises(AgentError, match="reason: unknown reason code 'nap'"):
        await pool.set_state("8001", AgentState.NOT_READY, reason="nap")
    with pytest.raises(AgentError, match="only not_ready takes a reason code"):
        await pool.set_state("8001", AgentState.READY, reason="meal")
    await pool.set_state("8001", AgentState.READY)
    await pool.reserve("default", call_id="c")
    with pytest.raises(AgentError, match="seat 8001 is ringing"):
        await pool.set_state("8001", AgentState.NOT_READY, reason="meal")
    await timeline.flush()
    meal = [e.data for e in timeline.between(T0 - timedelta(1), clock() + timedelta(1))
            if e.type == ev.AGENT_STATE and e.data["reason"] == "meal"]
    assert meal == [{"agent": "8001", "state": "not_ready", "reason": "meal", "by": "8001", "from": "not_ready"}]


@pytest.mark.parametrize("overdue", ["ready", "flag"])
async def test_wrap_up_ends_at_its_maximum_made_ready_or_flagged(db_url: str, overdue: str) -> None:
    clock = Clock()
    pool = await seats(db_url, clock, "8001", wrap_up_max_seconds=120, wrap_up_overdue=overdue)
    await pool.reserve("default", call_id="c")
    await pool.answered("8001", "c")
    clock.tick(300)
    await pool.release("8001", AgentState.AFTER_CALL, call_id="c")
    clock.tick(119)
    assert await pool.upkeep() == []
    clock.tick(1)
    (change,) = await pool.upkeep()
    assert change.by == "wrap_up_max"
    if overdue == "ready":
        assert change.state is AgentState.READY and pool.get("8001").state is AgentState.READY
    else:
        assert change.state is AgentState.AFTER_CALL and change.reason == "wrap_up_overdue"
        assert pool.get("8001").reason == "wrap_up_overdue"
        clock.tick(600)
        assert await pool.upkeep() == []  # flagged once
        assert await pool.reserve("default", call_id="d") is None  # still in wrap-up: not offered calls


async def test_a_call_taken_over_frees_the_dead_processes_seats_at_once(db_url: str) -> None:
    """The process that adopts a dead one's call hangs its agent legs up and frees their seats (no lease wait);
    its own new reservation for the same call stays."""
    clock = Clock()
    dead = await seats(db_url, clock, "8001", "8002", "8003", holder="host-a:1")
    await dead.reserve("default", call_id="c1")  # 8001 talking
    await dead.answered("8001", "c1")
    await dead.reserve("default", call_id="c1", tried=["8001"])  # 8002 ringing (a consult leg)
    taker = SeatPool(db_url, holder="host-b:2", now=clock)
    mine = await taker.reserve("default", call_id="c1", tried=["8001", "8002"])
    assert mine is not None and mine.id == "8003"
    await taker.release_call("c1")
    await taker.refresh()
    assert taker.get("8001").state is AgentState.AFTER_CALL
    assert taker.get("8002").state is AgentState.READY
    assert taker.get("8003").state is AgentState.RINGING  # the taker's own


async def test_a_reservation_whose_call_gave_up_meanwhile_is_given_back(db_url: str) -> None:
    """The caller hangs up while the seat is being reserved: the reservation, written after, is undone."""
    clock = Clock()
    timeline = Timeline(None)
    pool = await seats(db_url, clock, "8001", timeline=timeline)
    task = asyncio.get_running_loop().create_task(pool.reserve("default", call_id="gone"))
    await asyncio.sleep(0)  # the reservation is on its way to the database
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    def given_back() -> bool:
        return any(e.type == ev.AGENT_STATE and e.data.get("call_id") == "gone" and e.data["state"] == "ready"
                   for e in timeline.between(T0 - timedelta(1), clock() + timedelta(1)))

    async with asyncio.timeout(5):
        while not given_back():  # the give-back follows the write it undoes, in a worker thread
            await pool.settle()
            await timeline.flush()
            await asyncio.sleep(0.01)
    await pool.refresh()
    assert pool.get("8001").state is AgentState.READY and pool.get("8001").call_id is None


def test_processes_starting_together_add_the_same_seats_once(db_url: str) -> None:
    # Three serve processes started at once upsert every account's seat: the inserts race (seen by the scale test
    # as a duplicate key that stopped a process).
    import threading

    from callcenter.calls.seat_store import SeatStore

    SeatStore(db_url).snapshot()  # the schema, before the race
    ids = [f"90{i:02d}" for i in range(12)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        store = SeatStore(db_url)
        barrier.wait()
        for agent_id in ids:
            try:
                store.upsert(Agent(agent_id, f"PJSIP/{agent_id}", agent_id, groups=("default", "vip")), T0)
            except BaseException as exc:  # collected: a thread's error would otherwise be lost
                errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    agents, groups = SeatStore(db_url).snapshot()
    assert sorted(a.id for a in agents) == ids
    assert sorted(groups["default"]) == ids and sorted(groups["vip"]) == ids
