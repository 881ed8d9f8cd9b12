"""Each figure of section 7, asserted exactly on calls written by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hand_timeline import CN, HandCall, summaries_of

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.metrics.figures import DEFINITION_BY_KEY, DEFINITIONS, Tally, figures
from callcenter.metrics.summary import summarise

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def fig(tl: Timeline, agent: str | None = None, sl: float = 20.0) -> dict:
    return figures(summaries_of(tl), sl, 80.0, agent)


def test_a_call_abandoned_during_the_third_ring() -> None:
    tl = Timeline(None)
    # Queue at 8 s; A01's phone rings at 8, 13, 18 s; the caller hangs up at 20 s, 12 s into the leg.
    HandCall(tl, "c1", T0).offered().ivr().at(8, ev.QUEUE_ENTERED, group="default").rings(8, "A01", 3).at(
        20, ev.HANGUP, by="caller", cause="normal", disposition="abandoned"
    )
    (s,) = summaries_of(tl)
    assert (s.abandoned, s.abandoned_ring, s.abandoned_agent, s.abandoned_wait) == ("ringing", 3, "A01", 12.0)
    f = fig(tl)
    assert f["abandoned"] == f["abandoned_while_ringing"] == 1
    assert f["abandoned_while_ringing_by_ring"] == {"3": 1}
    assert f["abandoned_in_queue"] == f["abandoned_in_ivr"] == 0
    assert f["abandon_rate"] == 100.0
    assert (f["transferred_to_agents"], f["answered_by_agents"], f["answer_rate"]) == (1, 0, 0.0)
    assert f["service_level"] == 0.0 and f["service_level_met"] is False
    assert f["average_abandoned_wait"] == 12.0
    # A01 is answerable for it: the caller gave up while A01's phone rang.
    a01 = fig(tl, agent="A01")
    assert (a01["abandoned_while_ringing"], a01["transferred_to_agents"], a01["answer_rate"]) == (1, 1, 0.0)


def test_an_answer_exactly_at_the_three_ring_limit_is_within_and_a_moment_later_is_not() -> None:
    tl = Timeline(None)
    for call_id, seconds in (("exact", 15.0), ("late", 15.001)):
        HandCall(tl, call_id, T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 3).at(
            8 + seconds, ev.AGENT_ANSWERED, agent="A01", group="default", seconds=seconds, wait=seconds
        ).at(60, ev.HANGUP, by="caller", disposition="normal")
    exact, late = summaries_of(tl)
    assert exact.within_three_rings and exact.answer_rings == 3
    assert not late.within_three_rings and late.answer_rings == 4
    f = fig(tl)
    assert f["answered_within_three_rings"] == 1
    assert f["within_three_rings"] == 50.0
    assert f["rings_to_answer"] == {"1": 0, "2": 0, "3": 1, "4+": 1}
    assert f["seconds_to_answer"]["10–15"] == 1 and f["seconds_to_answer"]["15–20"] == 1
    assert f["average_seconds_to_answer"] == 15.0  # (15.0 + 15.001) / 2, rounded to 2 places
    assert CN.within(15.0, 3)  # the same rule as the router's


def test_a_transfer_after_overflow_counts_the_neighbour_seats_answer_and_the_whole_wait() -> None:
    tl = Timeline(None)
    call = HandCall(tl, "c1", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 3)
    call.at(23, ev.AGENT_SKIPPED, agent="A01", group="default", rings=3, seconds=15.0, reason="no_answer")
    call.rings(23, "A02", 2).at(30, ev.AGENT_ANSWERED, agent="A02", group="default", rings=2, seconds=7.0, wait=22.0)
    call.at(30, ev.QUEUE_LEFT, reason="agent").at(90, ev.HANGUP, by="caller", disposition="normal")
    (s,) = summaries_of(tl)
    assert (s.agents_rung, s.skipped_agents, s.agent) == (["A01", "A02"], ["A01"], "A02")
    f = fig(tl)
    assert (f["overflows"], f["answered_by_agents"], f["answer_rate"]) == (1, 1, 100.0)
    assert f["within_three_rings"] == 100.0  # the neighbour seat picked up within three rings
    assert f["average_wait"] == 22.0
    assert f["service_level"] == 0.0  # 22 s > X = 20 s
    assert fig(tl, sl=25.0)["service_level"] == 100.0
    a01, a02 = fig(tl, agent="A01"), fig(tl, agent="A02")
    assert (a01["transferred_to_agents"], a01["answered_by_agents"], a01["overflows"]) == (1, 0, 1)
    assert (a02["transferred_to_agents"], a02["answered_by_agents"], a02["overflows"]) == (1, 1, 0)
    assert a01["abandoned"] == a02["abandoned"] == 0


def test_abandons_are_placed_where_the_caller_was() -> None:
    tl = Timeline(None)
    HandCall(tl, "before-ivr", T0).offered().at(0, ev.IVR_RINGING, ring=1).at(0.5, ev.HANGUP, by="caller")
    HandCall(tl, "in-ivr", T0).offered().ivr().at(6, ev.HANGUP, by="caller", disposition="normal")
    HandCall(tl, "in-queue", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).at(
        38, ev.QUEUE_LEFT, reason="abandoned"
    ).at(38, ev.HANGUP, by="caller", disposition="abandoned")
    HandCall(tl, "served", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 1).at(
        10, ev.AGENT_ANSWERED, agent="A01", seconds=2.0, wait=2.0
    ).at(50, ev.HANGUP, by="caller", disposition="normal")
    by_id = {s.call_id: s for s in summaries_of(tl)}
    assert by_id["before-ivr"].abandoned == "ringing" and by_id["before-ivr"].abandoned_ring == 1
    assert by_id["in-ivr"].abandoned == "ivr"
    assert by_id["in-queue"].abandoned == "queue" and by_id["in-queue"].abandoned_wait == 30.0
    assert by_id["served"].abandoned == ""
    f = fig(tl)
    assert (f["abandoned_while_ringing"], f["abandoned_in_ivr"], f["abandoned_in_queue"]) == (1, 1, 1)
    assert (f["abandoned"], f["calls_offered"], f["abandon_rate"]) == (3, 4, 75.0)
    assert (f["transferred_to_agents"], f["answered_by_agents"], f["answer_rate"]) == (2, 1, 50.0)
    assert f["service_level"] == 50.0 and f["service_level_met"] is False


def test_silent_calls_and_whether_the_r15_sequence_was_followed() -> None:
    tl = Timeline(None)
    full = HandCall(tl, "full", T0).offered().ivr()
    for step, t in ((1, 12), (2, 20), (3, 28)):
        full.at(t, ev.SILENCE_WINDOW, seconds=5.0, step=step)
    full.at(33, ev.HANGUP, by="system", disposition="silent")
    HandCall(tl, "short", T0).offered().ivr().at(12, ev.SILENCE_WINDOW, seconds=5.0, step=1).at(
        13, ev.HANGUP, by="system", disposition="silent"
    )
    HandCall(tl, "talker", T0).offered().ivr().at(30, ev.HANGUP, by="caller", disposition="normal")
    HandCall(tl, "unanswered", T0).offered().at(0.2, ev.HANGUP, by="caller")
    f = fig(tl)
    assert (f["silent_calls"], f["silent_calls_full_sequence"]) == (2, 1)
    assert f["silent_call_rate"] == round(100 * 2 / 3, 2)  # of the 3 answered calls


def test_holds_releases_and_work_orders() -> None:
    tl = Timeline(None)
    a = HandCall(tl, "a", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 1)
    a.at(9, ev.AGENT_ANSWERED, agent="A01", seconds=1.0, wait=1.0).at(20, ev.HOLD_STARTED).at(
        50, ev.HOLD_ENDED, seconds=30.0
    ).at(60, ev.HOLD_STARTED)  # still on hold when the agent releases
    a.at(70, ev.RELEASE_REFUSED, by="A01", reason="caller_first").at(75, ev.WORK_ORDER_CREATED, number="GD1")
    a.at(80, ev.HANGUP, by="agent", disposition="normal")
    b = HandCall(tl, "b", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A02", 1)
    b.at(9, ev.AGENT_ANSWERED, agent="A02", seconds=1.0, wait=1.0).at(40, ev.HANGUP, by="agent", disposition="noise")
    f = fig(tl)
    assert (f["holds"], f["hold_seconds"]) == (2, 50.0)
    assert f["agent_released_first"] == 1  # R-48; the noise script lets the agent end the call
    assert (f["release_refused"], f["work_orders_opened"]) == (1, 1)
    assert fig(tl, agent="A02")["agent_released_first"] == 0


def test_answer_times_come_from_the_clock_when_the_event_does_not_carry_them() -> None:
    tl = Timeline(None)
    HandCall(tl, "c1", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(10, "A01", 2).at(
        16, ev.AGENT_ANSWERED, agent="A01"
    )
    (s,) = summaries_of(tl)
    assert (s.answer_seconds, s.wait, s.answer_rings, s.ended) == (6.0, 8.0, 2, False)


def test_an_empty_window_has_no_rates_rather_than_zero_rates() -> None:
    f = figures([], 20, 80)
    assert f["calls_offered"] == 0
    assert f["answer_rate"] is f["service_level"] is f["service_level_met"] is f["abandon_rate"] is None


def test_merged_tallies_equal_one_tally_over_all_calls() -> None:
    tl = Timeline(None)
    for i in range(6):
        call = HandCall(tl, f"c{i}", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 1 + i % 4)
        if i % 3:
            call.at(8 + 5 * (i % 4) + 1, ev.AGENT_ANSWERED, agent="A01", seconds=5.0 * (i % 4) + 1, wait=i * 6.0)
        call.at(100, ev.HANGUP, by="caller")
    summaries = summaries_of(tl)
    whole = Tally(20, 80).add_all(summaries).figures()
    merged = Tally(20, 80).add_all(summaries[:2]).merge(Tally(20, 80).add_all(summaries[2:])).figures()
    assert merged == whole


def test_every_figure_has_one_definition_with_an_r_number() -> None:
    keys = [d.key for d in DEFINITIONS]
    assert len(keys) == len(set(keys))
    assert all(d.rule.startswith("R-") and d.text for d in DEFINITIONS)
    produced = figures([], 20, 80)
    assert set(keys) <= set(produced)
    assert DEFINITION_BY_KEY["answer_rate"].rule == "R-122"


@pytest.mark.parametrize("events_per_call", [1, 3])
def test_events_no_figure_reads_are_skipped(events_per_call: int) -> None:
    tl = Timeline(None)
    call = HandCall(tl, "c1", T0).offered()
    for i in range(events_per_call):
        call.at(i, ev.PROMPT_STARTED, key="greeting.standard").at(i, ev.COMMAND, command="ANSWER", result="200")
    tl.flush_sync()
    (s,) = summarise(tl.since(0), CN)
    assert s.offered_at == T0 and s.entry == "hotline" and not s.ended


def test_the_database_read_asks_for_exactly_the_types_the_fold_handles() -> None:
    from callcenter.metrics.summary import FOLDED_TYPES, SummaryBuilder

    assert set(SummaryBuilder(CN)._handlers) == FOLDED_TYPES
    assert FOLDED_TYPES <= ev.ALL


def test_every_figure_of_a_small_day_exactly() -> None:
    tl = Timeline(None)
    # 1: answered by A01 after 2 rings (7 s), waited 7 s, 30 s hold, caller hangs up.
    a = HandCall(tl, "a", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 2)
    a.at(15, ev.AGENT_ANSWERED, agent="A01", seconds=7.0, wait=7.0).at(40, ev.HOLD_STARTED).at(
        70, ev.HOLD_ENDED, seconds=30.0
    ).at(100, ev.HANGUP, by="caller", disposition="normal")
    # 2: A01 does not pick up, A02 answers after 1 ring; waited 17 s; agent releases first.
    b = HandCall(tl, "b", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 3)
    b.at(23, ev.AGENT_SKIPPED, agent="A01", seconds=15.0).rings(23, "A02", 1).at(
        25, ev.AGENT_ANSWERED, agent="A02", seconds=2.0, wait=17.0
    ).at(80, ev.WORK_ORDER_CREATED, number="GD1").at(90, ev.HANGUP, by="agent", disposition="normal")
    # 3: silent call handled by the IVR. 4: dialect unresolved after an agent answered at 16 s.
    c = HandCall(tl, "c", T0).offered().ivr()
    for step in (1, 2, 3):
        c.at(5 + 8 * step, ev.SILENCE_WINDOW, step=step)
    c.at(40, ev.HANGUP, by="system", disposition="silent")
    HandCall(tl, "d", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A02", 4).at(
        24, ev.AGENT_ANSWERED, agent="A02", seconds=16.0, wait=16.0
    ).at(400, ev.HANGUP, by="agent", disposition="dialect_unresolved")
    # 5: gave up in the queue after 9 s.
    HandCall(tl, "e", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).at(17, ev.HANGUP, by="caller")
    assert fig(tl) == {
        "calls_offered": 5,
        "transferred_to_agents": 4,
        "answered_by_agents": 3,
        "answer_rate": 75.0,
        "service_level": 75.0,
        "service_level_seconds": 20.0,
        "service_level_target": 80.0,
        "service_level_met": False,
        "answered_within_service_level": 3,
        "answered_within_three_rings": 2,
        "within_three_rings": 66.67,
        "rings_to_answer": {"1": 1, "2": 1, "3": 0, "4+": 1},
        "seconds_to_answer": {"0–5": 1, "5–10": 1, "10–15": 0, "15–20": 1, "20–30": 0, "30–60": 0, "60+": 0},
        "average_seconds_to_answer": 8.33,
        "overflows": 1,
        "abandoned": 1,
        "abandoned_in_ivr": 0,
        "abandoned_in_queue": 1,
        "abandoned_while_ringing": 0,
        "abandoned_while_ringing_by_ring": {},
        "abandon_rate": 20.0,
        "average_wait": 13.33,
        "average_abandoned_wait": 9.0,
        "silent_calls": 1,
        "silent_call_rate": 20.0,
        "silent_calls_full_sequence": 1,
        "dialect_unresolved": 1,
        "holds": 1,
        "hold_seconds": 30.0,
        "agent_released_first": 1,
        "release_refused": 0,
        "work_orders_opened": 1,
    }


def test_a_call_still_waiting_joins_the_answer_rate_only_once_decided() -> None:
    tl = Timeline(None)
    call = HandCall(tl, "c1", T0).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 3)
    call.at(23, ev.AGENT_SKIPPED, agent="A01", seconds=15.0).rings(23, "A02", 1)
    f, a01, a02 = fig(tl), fig(tl, agent="A01"), fig(tl, agent="A02")
    assert (f["transferred_to_agents"], f["answer_rate"]) == (0, None)  # still ringing at A02
    assert (a01["transferred_to_agents"], a01["answer_rate"]) == (1, 0.0)  # A01's leg is over: missed
    assert a02["transferred_to_agents"] == 0  # A02's phone is still ringing
    call.at(27, ev.HANGUP, by="caller")
    f, a02 = fig(tl), fig(tl, agent="A02")
    assert (f["transferred_to_agents"], f["answer_rate"], f["abandoned_while_ringing"]) == (1, 0.0, 1)
    assert (a02["transferred_to_agents"], a02["abandoned_while_ringing"]) == (1, 1)


def test_a_callback_the_centre_dialled_is_not_a_call_that_reached_us() -> None:
    """Section 7's call figures count inbound calls; a callback (回访) has its own figures (R-125, R-126)."""
    tl = Timeline(None)
    HandCall(tl, "in", T0).offered().ivr().at(8, ev.QUEUE_ENTERED, group="default").rings(8, "A01", 1).at(
        9, ev.AGENT_ANSWERED, agent="A01", group="default", rings=1, seconds=1.0, wait=1.0
    ).at(60, ev.HANGUP, by="caller", cause="normal", disposition="normal")
    HandCall(tl, "out", T0).at(0, ev.CALL_OFFERED, entry="outbound", group="default", direction="outbound").at(
        2, ev.HANGUP, by="caller", cause="normal", disposition="normal"
    )
    out = next(s for s in summaries_of(tl) if s.call_id == "out")
    assert out.outbound
    f = fig(tl)
    assert (f["calls_offered"], f["abandoned"], f["answered_by_agents"]) == (1, 0, 1)
