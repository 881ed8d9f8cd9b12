import pytest

from callcenter.calls.agents import Agent, AgentError, AgentPool, AgentState


def pool_of(*ids: str) -> AgentPool:
    pool = AgentPool()
    for n, agent_id in enumerate(ids):
        pool.add(Agent(agent_id, f"PJSIP/{agent_id}", work_number=agent_id))
        pool.set_state(agent_id, AgentState.READY, now=float(n))
    return pool


def test_first_ring_goes_to_the_longest_idle_agent() -> None:
    pool = pool_of("8001", "8002", "8003")
    pool.set_state("8001", AgentState.ON_CALL)
    assert pool.next_free("default").id == "8002"


def test_r02_an_unanswered_seat_overflows_to_its_neighbour_wrapping_round() -> None:
    pool = pool_of("8001", "8002", "8003")
    assert pool.next_free("default", after="8002", tried={"8002"}).id == "8003"
    assert pool.next_free("default", after="8003", tried={"8002", "8003"}).id == "8001"
    assert pool.next_free("default", after="8001", tried={"8001", "8002", "8003"}) is None


def test_busy_neighbours_are_passed_over() -> None:
    pool = pool_of("8001", "8002", "8003")
    pool.set_state("8002", AgentState.AFTER_CALL)
    assert pool.next_free("default", after="8001", tried={"8001"}).id == "8003"


def test_reserve_is_first_come() -> None:
    pool = pool_of("8001")
    assert pool.reserve("8001")
    assert not pool.reserve("8001")
    assert pool.next_free("default") is None


def test_locale_skill_is_preferred() -> None:
    pool = pool_of("8001", "8002")
    pool.get("8002").locales = ("zh-CN", "zh-sichuan")
    assert pool.next_free("default", locale="zh-sichuan").id == "8002"


def test_unknown_group_and_agent_are_clear_errors() -> None:
    pool = pool_of("8001")
    with pytest.raises(AgentError, match="unknown agent group 'vip'"):
        pool.next_free("vip")
    with pytest.raises(AgentError, match="unknown agent '9'"):
        pool.get("9")
