"""QA evidence read from the timeline, and the reviewer's verdict (R-01, R-04, R-15, R-48)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.calls import events as ev
from callcenter.calls.rings import cadence
from callcenter.calls.timeline import TimelineEvent
from callcenter.web import review
from callcenter.web.errors import BadRequest

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CN = cadence("cn")


def call(*steps: tuple[float, str, dict]) -> list[TimelineEvent]:
    return [TimelineEvent("c1", i + 1, kind, T0 + timedelta(seconds=t), t, data, i + 1)
            for i, (t, kind, data) in enumerate(steps)]


def by_key(events: list[TimelineEvent]) -> dict[str, review.Evidence]:
    return {e.key: e for e in review.evidence(events, CN)}


def agent_call(answer_seconds: float, *, hangup_by: str = "caller", disposition: str = "normal",
               greeting: bool = True, windows: int = 0) -> list[TimelineEvent]:
    steps: list[tuple[float, str, dict]] = [
        (0, ev.CALL_OFFERED, {"caller": "13800138000"}),
        (1, ev.QUEUE_ENTERED, {"group": "default"}),
        (1, ev.AGENT_RINGING, {"agent": "agent1", "ring": 1}),
        (1 + answer_seconds, ev.AGENT_ANSWERED, {"agent": "agent1", "seconds": answer_seconds}),
    ]
    t = 2 + answer_seconds
    if greeting:
        steps.append((t, ev.PROMPT_STARTED, {"key": "greeting.standard", "text": "您好,欢迎致电"}))
    for i in range(windows):
        steps.append((t + 5 * (i + 1), ev.SILENCE_WINDOW, {"seconds": 5, "step": i + 1}))
    steps.append((t + 30, ev.HANGUP, {"by": hangup_by, "disposition": disposition}))
    return call(*steps)


def test_answer_at_the_start_of_the_fourth_ring_is_still_within_three_rings() -> None:
    assert by_key(agent_call(15.0))["answered_within_three_rings"].value is True  # 3 periods of 5 s
    late = by_key(agent_call(15.5))["answered_within_three_rings"]
    assert late.value is False and "4 声" in late.detail


def test_the_agent_leg_decides_even_when_the_ivr_answered_first() -> None:
    events = agent_call(16.0)
    ivr = TimelineEvent("c1", 99, ev.IVR_ANSWERED, T0, 0.5, {"rings": 1}, 0)
    item = by_key([events[0], ivr, *events[1:]])["answered_within_three_rings"]
    assert item.value is False and "坐席 agent1" in item.detail


def test_greeting_evidence_quotes_the_words_and_their_time() -> None:
    item = by_key(agent_call(3.0))["greeting_played"]
    assert item.value is True and "您好,欢迎致电" in item.detail and item.at == 5.0
    assert by_key(agent_call(3.0, greeting=False))["greeting_played"].value is False


def test_a_greeting_asterisk_could_not_play_is_not_a_greeting() -> None:
    """A prompt.failed greeting was not heard (R-04): the evidence says so and why."""
    events = agent_call(3.0)
    started = next(e for e in events if e.type == ev.PROMPT_STARTED)
    started.data["playback_id"] = "p1"
    failed = TimelineEvent("c1", 98, ev.PROMPT_FAILED, started.at, started.offset,
                           {"key": "greeting.standard", "playback_id": "p1", "error": "sound:/x: failed"}, 98)
    item = by_key([*events[:-1], failed, events[-1]])["greeting_played"]
    assert item.value is False and "sound:/x: failed" in item.detail
    assert by_key(events)["greeting_played"].value is True


def test_a_call_only_the_ivr_answered_is_greeted_by_its_welcome_but_an_agent_call_is_not() -> None:
    welcome = (0.5, ev.PROMPT_STARTED, {"key": "ivr.welcome", "text": "您好,欢迎致电江南云商客户服务热线。"})
    ivr_only = call((0, ev.CALL_OFFERED, {}), (0.5, ev.IVR_ANSWERED, {"rings": 1}), welcome,
                    (20, ev.HANGUP, {"by": "caller", "disposition": "abandoned"}))
    assert by_key(ivr_only)["greeting_played"].value is True
    agent = agent_call(3.0, greeting=False)
    assert by_key([agent[0], call(welcome)[0], *agent[1:]])["greeting_played"].value is False


def test_silent_protocol_needs_three_windows_and_is_not_applicable_otherwise() -> None:
    assert by_key(agent_call(3, hangup_by="agent", disposition="silent", windows=3))[
        "silent_protocol_followed"].value is True
    assert by_key(agent_call(3, hangup_by="agent", disposition="silent", windows=2))[
        "silent_protocol_followed"].value is False
    assert by_key(agent_call(3))["silent_protocol_followed"].value is None


def test_release_order_caller_first_on_normal_calls_agent_allowed_on_silent() -> None:
    assert by_key(agent_call(3))["release_order"].value is True
    assert by_key(agent_call(3, hangup_by="agent"))["release_order"].value is False
    assert by_key(agent_call(3, hangup_by="agent", disposition="silent", windows=3))["release_order"].value is True


def test_an_unanswered_call_has_nothing_to_score_on_answering() -> None:
    events = call((0, ev.CALL_OFFERED, {}), (4, ev.HANGUP, {"by": "caller", "disposition": "abandoned"}))
    items = by_key(events)
    assert items["answered_within_three_rings"].value is None and items["greeting_played"].value is None


def test_saved_review_scores_applicable_items_and_notes_corrections(sqlite_url: str) -> None:
    shown = review.evidence(agent_call(3), CN)
    same = {e.key: e.value for e in shown}
    saved = review.save_review(sqlite_url, "c1", "qa1", same, shown)
    assert saved["score"] == 100 and saved["corrected"] is False
    corrected = review.save_review(sqlite_url, "c1", "qa1", {**same, "greeting_played": False}, shown, "听不清")
    assert corrected["score"] == 67 and corrected["corrected"] is True
    assert [r["score"] for r in review.reviews_of(sqlite_url, "c1")] == [67]  # revised, not duplicated


@pytest.mark.parametrize(("items", "message"), [
    ({"greeting_played": "yes"}, "items.greeting_played"),
    ({"made_up": True}, "unknown item 'made_up'"),
])
def test_bad_review_items_are_refused(sqlite_url: str, items: dict, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        review.save_review(sqlite_url, "c1", "qa1", items, [])


def test_comments_are_pinned_to_a_time_and_sorted(sqlite_url: str) -> None:
    review.add_comment(sqlite_url, "c1", "qa1", 12.5, "语速太快")
    review.add_comment(sqlite_url, "c1", "qa1", 3.0, "问候语完整")
    assert [(c["at"], c["text"]) for c in review.comments_of(sqlite_url, "c1")] == [(3.0, "问候语完整"),
                                                                                  (12.5, "语速太快")]
    with pytest.raises(BadRequest, match="must not be empty"):
        review.add_comment(sqlite_url, "c1", "qa1", 1.0, "  ")
    with pytest.raises(BadRequest, match="at:"):
        review.add_comment(sqlite_url, "c1", "qa1", -1.0, "x")
