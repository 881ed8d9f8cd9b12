"""The live board folds the timeline into what the agent panel shows (R-01 ring count, R-02 overflow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from callcenter.calls import events as ev
from callcenter.calls.timeline import TimelineEvent
from callcenter.web.live import LiveBoard
from callcenter.web.monitor_pages import live_calls

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def feed(board: LiveBoard, call_id: str, steps: list[tuple[float, str, dict]], first_id: int = 1) -> None:
    for i, (t, kind, data) in enumerate(steps):
        board.feed(TimelineEvent(call_id, i + 1, kind, T0 + timedelta(seconds=t), t, data, first_id + i))


def test_ringing_overflow_answer_and_hangup() -> None:
    board = LiveBoard()
    feed(board, "c1", [
        (0, ev.CALL_OFFERED, {"caller": "13800138000", "locale": "zh-CN"}),
        (1, ev.QUEUE_ENTERED, {"group": "default"}),
        (1, ev.AGENT_RINGING, {"agent": "a1", "ring": 1}),
        (6, ev.AGENT_RINGING, {"agent": "a1", "ring": 2}),
    ])
    call = board.for_agent("a1")
    assert call is not None and (call.phase, call.ring, call.caller) == ("ringing", 2, "13800138000")
    assert board.waiting() == 1
    feed(board, "c1", [(16, ev.AGENT_SKIPPED, {"agent": "a1"}), (16, ev.AGENT_RINGING, {"agent": "a2", "ring": 1}),
                       (21, ev.AGENT_ANSWERED, {"agent": "a2", "rings": 2})], first_id=5)
    assert board.for_agent("a2").phase == "talking" and board.for_agent("a2").answer_rings == 2
    assert board.waiting() == 0
    feed(board, "c1", [(40, ev.HANGUP, {"by": "caller", "disposition": "normal"})], first_id=8)
    ended = board.for_agent("a2")
    assert (ended.phase, ended.ended_by) == ("ended", "caller") and board.live() == []


def test_script_state_prompt_and_replayed_events_are_folded_once() -> None:
    board = LiveBoard()
    steps = [
        (0, ev.CALL_OFFERED, {}),
        (1, ev.AGENT_ANSWERED, {"agent": "a1", "rings": 1}),
        (2, ev.SCRIPT_REQUESTED, {"script": "silent_call", "by": "a1"}),
        (2, ev.SCRIPT_STATE, {"script": "silent_call", "state": "retry"}),
        (2, ev.PROMPT_STARTED, {"key": "silent.s2", "text": "您好,请问有什么可以帮助您?"}),
        (7, ev.SILENCE_WINDOW, {"seconds": 5}),
    ]
    feed(board, "c1", steps)
    feed(board, "c1", steps)  # a resubscribe replays the same ids: nothing changes
    call = board.get("c1")
    assert (call.script, call.script_state, call.prompt_key, call.silence_windows) == (
        "silent_call", "retry", "silent.s2", 1)


def test_a_monitoring_held_by_another_process_is_on_the_board_but_not_on_the_agents_call() -> None:
    """Issue 17: the wallboard of every process lists who listens in, whichever process holds the call; the
    agent's panel (LiveCall.as_dict) never carries it."""
    board = LiveBoard()
    who = {"supervisor": "lead", "mode": "listen", "purpose": "质检抽查"}
    feed(board, "c1", [(0, ev.CALL_OFFERED, {}), (1, ev.AGENT_ANSWERED, {"agent": "a1", "rings": 1}),
                       (5, ev.SUPERVISION_STARTED, who)])
    assert board.monitors == {"c1": {"call_id": "c1", **who}}
    assert "lead" not in str(board.get("c1").as_dict())
    # A web-only process (no ARI application, nothing monitored here) lists it on its wallboard.
    (row,) = live_calls(SimpleNamespace(board=board, monitoring=None))  # type: ignore[arg-type]
    assert row["monitor"] == {"call_id": "c1", **who}
    feed(board, "c1", [(9, ev.SUPERVISION_SWITCHED, {**who, "mode": "whisper", "from_mode": "listen"})], first_id=4)
    assert board.monitors["c1"]["mode"] == "whisper"
    feed(board, "c1", [(12, ev.SUPERVISION_ENDED, {**who, "mode": "whisper", "reason": "stopped"})], first_id=5)
    assert board.monitors == {}
    feed(board, "c2", [(0, ev.CALL_OFFERED, {}), (3, ev.SUPERVISION_STARTED, who), (8, ev.HANGUP, {"by": "caller"})],
         first_id=6)
    assert board.monitors == {}  # the call ended with its monitoring
