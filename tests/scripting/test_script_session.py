"""The session on the virtual clock: exact wording, exact times (R-15, R-01, R-23, R-48), and the safe path.

Prompt durations are len(text) / 4 s (no audio in the fixture library): silent.s1 and s2 are 14 characters
(3.5 s), silent.s3 is 31 (7.75 s), ivr.welcome 12 (3 s), ivr.menu 14 (3.5 s), ivr.transfer 4 (1 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog
from script_fixtures import WriteLibrary

from callcenter.config import Settings
from callcenter.scripting.library import ScriptLibrary, load_library
from callcenter.scripting.protocol import (
    Answer,
    CancelTimer,
    Hangup,
    Listen,
    Note,
    Play,
    PlaybackFinished,
    ReleaseRequested,
    Ring,
    SpeechStarted,
    StartRecording,
    StartTimer,
    StopPlayback,
    TimerFired,
    Transfer,
    TransferResult,
)
from callcenter.scripting.session import ScriptSession, SessionConfig
from callcenter.scripting.simulate import SimulationError, parse_caller, simulate

S3 = "对不起,您的电话没有声音,请您换一部电话再次打来,好吗?再见!"
ENTRY = SessionConfig(answer_delay=1.0, rings=1)  # cn cadence: the IVR answers once the first ring has sounded


def run(library: ScriptLibrary, name: str, *specs: str, **kwargs: Any) -> list[dict[str, Any]]:
    return simulate(library, name, specs or ("silent",), **kwargs)


def brief(timeline: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    """(t, type, the one detail that matters) per event."""
    detail = {"say": "key", "state": "state", "hangup": "disposition", "transfer": "group", "dtmf": "digit",
              "listen": "seconds", "silence": "step", "stop": "key", "agent": "status", "error": "message"}
    return [(e["t"], e["type"], str(e.get(detail.get(e["type"], ""), ""))) for e in timeline]


# ---------------------------------------------------------------- the silent call


def test_a_silent_caller_hears_three_prompts_and_is_released_5_s_after_the_closing_prompt(
    library: ScriptLibrary,
) -> None:
    timeline = run(library, "silent")
    assert brief(timeline) == [
        (0.0, "state", "s1"),
        (0.0, "say", "silent.s1"),
        (3.5, "listen", "5.0"),
        (8.5, "silence", "1"),
        (8.5, "state", "s2"),
        (8.5, "say", "silent.s2"),
        (12.0, "listen", "5.0"),
        (17.0, "silence", "2"),
        (17.0, "state", "s3"),
        (17.0, "say", "silent.s3"),
        (24.75, "listen", "5.0"),
        (29.75, "silence", "3"),
        (29.75, "state", "release"),
        (29.75, "hangup", "silent"),
    ]
    closing = next(e for e in timeline if e["type"] == "say" and e["key"] == "silent.s3")
    assert closing["text"] == S3 and closing["duration"] == 7.75
    hangup = timeline[-1]
    assert hangup["t"] == closing["t"] + closing["duration"] + 5.0  # exactly 5 s after the closing prompt ends
    assert hangup["by"] == "system"


@pytest.mark.parametrize("at", [0.0, 1.0, 3.5, 6.0, 8.5, 10.0, 12.0, 16.99, 17.0, 20.0, 24.75, 29.0, 29.74])
@pytest.mark.parametrize("spec", ["speech@{t}", "speech@{t}+3", "dtmf:5@{t}"])
def test_speech_or_a_digit_at_any_point_ends_the_sequence(library: ScriptLibrary, at: float, spec: str) -> None:
    timeline = run(library, "silent", spec.format(t=at))
    types = [e["type"] for e in timeline]
    assert "hangup" not in types
    assert timeline[-1] == {"t": at, "type": "end"}
    said = [e for e in timeline if e["type"] == "say"]
    assert all(e["t"] <= at for e in said)
    # A prompt still playing is stopped at once (barge-in), never left talking over the caller.
    # At the very instant a prompt ends the caller still comes first, so that prompt is stopped too.
    playing = [e for e in said if e["t"] <= at <= e["t"] + e["duration"]]
    assert ("stop" in types) == bool(playing)


def test_speech_at_the_instant_a_window_elapses_wins(library: ScriptLibrary) -> None:
    # At the same instant the caller's action comes first: the window at 8.5 s never elapses.
    timeline = run(library, "silent", "speech@8.5")
    assert [e["type"] for e in timeline if e["t"] == 8.5] == ["speech", "end"]


def test_a_caller_who_hangs_up_ends_the_call_at_once(library: ScriptLibrary) -> None:
    timeline = run(library, "silent", "hangup@10")
    assert timeline[-1] == {"t": 10.0, "type": "hangup", "disposition": "normal", "by": "caller"}
    assert not [e for e in timeline if e["t"] > 10]


def test_session_commands_for_a_window(library: ScriptLibrary) -> None:
    # The same sequence at the level of the protocol: the window's timer starts when the prompt finished.
    session = ScriptSession(library, "silent", call_id="c1")
    first = session.start(answered=True, at=0.0)
    assert isinstance(first[0], Note) and first[0].data == {"script": "silent", "state": "s1"}
    play = first[1]
    assert isinstance(play, Play) and play.text == "您好!请问有什么可以帮助您?" and play.duration == 3.5
    assert play.escape_digits == "0123456789*#"
    window = session.handle(PlaybackFinished(play.playback_id, at=3.5))
    assert window[:2] == [Listen(5.0, True), StartTimer(window[1].name, 5.0)]
    assert window[2] == Note("listen.started", {"seconds": 5.0, "state": "s1"})
    stale = session.handle(PlaybackFinished("p-unknown", at=4.0))
    assert stale == []
    spoken = session.handle(SpeechStarted(at=6.0))
    assert spoken == [CancelTimer(window[1].name)]
    assert session.handle(TimerFired(window[1].name, at=8.5)) == []  # a cancelled window never elapses


# ---------------------------------------------------------------- an IVR entry


def test_an_entry_rings_answers_after_the_configured_rings_records_then_speaks(library: ScriptLibrary) -> None:
    timeline = run(library, "ivr", "dtmf:0@6", config=ENTRY)
    assert brief(timeline)[:6] == [
        (0.0, "ring", ""),
        (1.0, "answer", ""),
        (1.0, "record", ""),
        (1.0, "state", "welcome"),
        (1.0, "say", "ivr.welcome"),
        (4.0, "state", "menu"),
    ]
    assert brief(timeline)[6:] == [
        (4.0, "say", "ivr.menu"),
        (6.0, "dtmf", "0"),
        (6.0, "stop", "ivr.menu"),  # the digit interrupts the menu (escape digit)
        (6.0, "state", "agent"),
        (6.0, "say", "ivr.transfer"),
        (7.0, "transfer", "default"),
        (7.0, "agent", "answered"),
        (7.0, "state", "hello"),
        (7.0, "say", "greeting.agent"),
        (11.75, "listen", "5.0"),
        (16.75, "silence", "1"),
        (16.75, "state", "s1"),  # script:silent, the R-15 watch after the agent's greeting
        (16.75, "say", "silent.s1"),
        (20.25, "listen", "5.0"),
        (25.25, "silence", "2"),
        (25.25, "state", "s2"),
        (25.25, "say", "silent.s2"),
        (28.75, "listen", "5.0"),
        (33.75, "silence", "3"),
        (33.75, "state", "s3"),
        (33.75, "say", "silent.s3"),
        (41.5, "listen", "5.0"),
        (46.5, "silence", "4"),
        (46.5, "state", "release"),
        (46.5, "hangup", "silent"),
    ]
    greeting = next(e for e in timeline if e["type"] == "say" and e["key"] == "greeting.agent")
    assert greeting["text"] == "您好,客服代表1001很高兴为您服务。"  # the answering agent's work number


def test_a_menu_nobody_answers_is_bounded_by_max_visits(library: ScriptLibrary) -> None:
    timeline = run(library, "ivr", "speech@60", config=ENTRY)
    menus = [e["t"] for e in timeline if e["type"] == "say" and e["key"] == "ivr.menu"]
    assert menus == [4.0, 11.5, 19.0]  # 3.5 s of menu + 4 s of window, three visits
    assert (26.5, "state", "agent") in brief(timeline)


def test_one_digit_branch_wins_over_any_digit(library: ScriptLibrary) -> None:
    consult = brief(run(library, "ivr", "dtmf:1@8", config=ENTRY))
    assert (8.0, "state", "consult") in consult and (9.0, "transfer", "consult") in consult
    again = brief(run(library, "ivr", "dtmf:7@8", "hangup@9", config=ENTRY))
    assert (8.0, "state", "menu") in again


def test_no_agent_follows_the_no_agent_branch(library: ScriptLibrary) -> None:
    timeline = brief(run(library, "ivr", "dtmf:1@8", "no_agent", config=ENTRY))
    assert [e for e in timeline if e[1] in ("transfer", "agent")] == [
        (9.0, "transfer", "consult"),
        (9.0, "agent", "no_agent"),
        (10.0, "transfer", "default"),
        (10.0, "agent", "no_agent"),
    ]
    assert timeline[-1] == (10.0, "agent", "no_agent")  # no branch: the caller stays queued for the group


def test_a_dialect_locale_speaks_its_own_prompts_and_falls_back_for_the_rest(library: ScriptLibrary) -> None:
    timeline = run(library, "ivr", "hangup@5", config=ENTRY, locale="zh-sichuan")
    said = {e["key"]: e["text"] for e in timeline if e["type"] == "say"}
    assert said == {"ivr.welcome": "您好,欢迎致电江南云商。", "ivr.menu": "咨询请按1,人工请按0。"}


def test_situation_scripts_start_answered_entries_ring(library: ScriptLibrary) -> None:
    assert run(library, "silent")[0]["type"] == "state"
    assert run(library, "ivr", "hangup@0.5", config=ENTRY)[0]["type"] == "ring"


# ---------------------------------------------------------------- who may release


def test_release_is_refused_while_a_script_forbids_direct_hangup(library: ScriptLibrary) -> None:
    timeline = run(library, "silent", "release@10")
    refused = [e for e in timeline if e["type"] == "release_refused"]
    assert refused == [{"t": 10.0, "type": "release_refused", "reason": "R-23: silent must not be hung up directly"}]
    assert timeline[-1]["type"] == "hangup" and timeline[-1]["t"] == 29.75  # the sequence went on


def test_release_before_the_closing_phrase_is_refused_then_allowed_after_it(library: ScriptLibrary) -> None:
    timeline = run(library, "closing", "release@1", "release@4")
    assert brief(timeline) == [
        (0.0, "state", "farewell"),
        (0.0, "say", "closing.thanks"),
        (1.0, "release", ""),
        (1.0, "release_refused", ""),
        (3.25, "listen", "30.0"),
        (4.0, "release", ""),
        (4.0, "hangup", "normal"),
    ]
    assert timeline[3]["reason"].startswith("R-48")
    assert timeline[-1]["by"] == "agent"


def test_after_the_farewell_the_line_waits_for_the_caller(library: ScriptLibrary) -> None:
    waited = run(library, "closing")
    assert waited[-1] == {"t": 33.25, "type": "hangup", "disposition": "normal", "by": "system"}
    caller_first = run(library, "closing", "hangup@5")
    assert caller_first[-1] == {"t": 5.0, "type": "hangup", "disposition": "normal", "by": "caller"}


def test_an_agent_requested_script_replaces_what_runs(library: ScriptLibrary) -> None:
    timeline = brief(run(library, "silent", "script:closing@10"))
    assert timeline[6:9] == [(10.0, "script", ""), (10.0, "stop", "silent.s2"), (10.0, "state", "farewell")]
    assert timeline[-1] == (43.25, "hangup", "normal")


# ---------------------------------------------------------------- the safe path


def test_a_script_error_falls_back_to_an_apology_and_a_transfer(library: ScriptLibrary) -> None:
    # greet needs agent.label; on an IVR call with no agent yet it cannot be rendered.
    with structlog.testing.capture_logs() as logs:
        timeline = run(library, "greet", config=ENTRY, answered=False, call_id="call-42")
    assert brief(timeline)[:4] == [(0.0, "ring", ""), (1.0, "answer", ""), (1.0, "record", ""), (1.0, "state", "hello")]
    error, apology, transfer = timeline[4:7]
    assert error["type"] == "error" and "'agent' is undefined" in error["message"]
    assert error["message"].startswith(f"{Path(library.directory) / 'prompts' / 'zh-CN.yaml'}:5:17:")
    assert apology == {"t": 1.0, "type": "say", "key": "fallback.apology", "text": "对不起,请稍等", "duration": 1.75}
    assert transfer == {"t": 2.75, "type": "transfer", "group": "default"}
    assert [(log["event"], log["call_id"], log["log_level"]) for log in logs] == [("script.error", "call-42", "error")]


def test_the_fallback_notes_the_error_on_the_timeline(library: ScriptLibrary) -> None:
    session = ScriptSession(library, "greet", call_id="c2")
    commands = session.start(answered=True)
    notes = [c for c in commands if isinstance(c, Note)]
    assert [n.type for n in notes] == ["script.state", "script.error"]
    assert notes[1].data["script"] == "greet" and notes[1].data["state"] == "hello"
    assert isinstance(commands[-1], Play) and commands[-1].key == "fallback.apology"
    assert Answer() not in commands  # already answered
    assert session.handle(PlaybackFinished(commands[-1].playback_id, at=1.75)) == [Transfer("default")]


def test_a_failure_half_way_keeps_what_was_decided(settings: Settings, write_library: WriteLibrary) -> None:
    root = write_library(
        {
            "a.yaml": "name: a\nstates:\n  w: {say: k.ok, listen: 5s, on: {speech: 'script:nope', silence: done}}\n",
            "prompts/zh-CN.yaml": "k.ok: 您好。\nfallback.apology: 对不起,请稍等。\n",
        }
    )
    session = ScriptSession(load_library(root, settings.scripts), "a", call_id="c3")
    play = session.start(answered=True)[1]
    timer = session.handle(PlaybackFinished(play.playback_id, at=0.75))[1]
    commands = session.handle(SpeechStarted(at=2.0))
    assert commands[0] == CancelTimer(timer.name)  # decided before the failure, still sent
    assert commands[1].type == "script.error" and "unknown script 'nope'" in commands[1].data["message"]
    assert isinstance(commands[2], Play) and commands[2].text == "对不起,请稍等。"  # the catalogue's own apology


def test_an_entry_that_fails_before_answering_still_answers(settings: Settings, write_library: WriteLibrary) -> None:
    root = write_library(
        {
            "a.yaml": "name: a\nkind: entry\nstates:\n  s: {say: k.who, end: true}\n",
            "prompts/zh-CN.yaml": "k.who: '{{ agent.name }}'\n",
        }
    )
    session = ScriptSession(load_library(root, settings.scripts), "a", call_id="c4", config=ENTRY)
    assert session.start() == [Ring(), StartTimer("answer", 1.0)]
    commands = session.handle(TimerFired("answer", at=1.0))
    assert commands[0] == Answer() and StartRecording() in commands
    assert isinstance(commands[-1], Play) and commands[-1].key == "fallback.apology"


def test_a_finished_entry_hands_the_caller_to_the_group(settings: Settings, write_library: WriteLibrary) -> None:
    root = write_library(
        {
            "e.yaml": "name: e\nkind: entry\nstates:\n  a: {say: k.hi, listen: 5s, on: {speech: done, silence: done}}",
            "prompts/zh-CN.yaml": "k.hi: 您好。\n",
        }
    )
    timeline = brief(simulate(load_library(root, settings.scripts), "e", ["speech@3"], config=ENTRY))
    assert timeline[-3:] == [(3.0, "end", ""), (3.0, "transfer", "default"), (3.0, "agent", "answered")]


# ---------------------------------------------------------------- loop bounds


def test_max_time_bounds_a_loop_by_time(settings: Settings, write_library: WriteLibrary) -> None:
    root = write_library(
        {
            "loop.yaml": """
                name: loop
                states:
                  wait:
                    hold: true
                    listen: 10s
                    on: {speech: back, silence: recheck}
                    max_time: 25s
                    on_max: give_up
                  recheck: {unhold: true, say: k.sorry, goto: wait}
                  back: {unhold: true, end: true}
                  give_up: {unhold: true, say: k.sorry, listen: 5s, on: {silence: bye}}
                  bye: {hangup: dialect_unresolved}
            """,
            "prompts/zh-CN.yaml": "k.sorry: 对不起,让您久等了。\n",
        }
    )
    timeline = brief(simulate(load_library(root, settings.scripts), "loop", ["silent"]))
    # wait at 0, 12.5 (10 s + 2.5 s prompt), 25 → 25 s since the first entry: on_max.
    assert [e[0] for e in timeline if e[1:] == ("state", "wait")] == [0.0, 12.5]
    assert (25.0, "state", "give_up") in timeline and timeline[-1] == (32.5, "hangup", "dialect_unresolved")


def test_bad_caller_specs_are_clear_errors() -> None:
    with pytest.raises(SimulationError, match=r"bad caller spec 'speech at 3'; expected silent, speech@T"):
        parse_caller(["speech at 3"])
    plan = parse_caller(["speech@3+2", "dtmf:#@1", "hangup@9"])
    assert [type(e).__name__ for e in plan.events] == ["Digit", "SpeechStarted", "SpeechStopped", "HungUp"]


def test_a_release_that_is_allowed_stops_what_plays(library: ScriptLibrary) -> None:
    session = ScriptSession(library, "closing", call_id="c6")
    play = session.start(answered=True)[1]
    timer = session.handle(PlaybackFinished(play.playback_id, at=3.25))[1]
    assert session.handle(ReleaseRequested(at=5.0)) == [CancelTimer(timer.name), Hangup("normal")]
    assert session.finished and session.released_by == "agent"
    assert session.handle(SpeechStarted(at=6.0)) == []


def test_a_closing_phrase_that_was_not_played_is_not_counted_as_said(library: ScriptLibrary) -> None:
    """R-48: the agent may release after the closing phrase; a prompt Asterisk could not play was not heard."""
    failed = ScriptSession(library, "closing", call_id="c8")
    play = failed.start(answered=True)[1]
    failed.handle(PlaybackFinished(play.playback_id, at=0.1, error="sound:/x/closing.thanks: failed"))
    played = ScriptSession(library, "closing", call_id="c9")
    play = played.start(answered=True)[1]
    played.handle(PlaybackFinished(play.playback_id, at=3.25))
    assert (failed.closing_said, played.closing_said) == (False, True)


def test_a_release_while_a_prompt_plays_stops_it(library: ScriptLibrary) -> None:
    session = ScriptSession(library, "closing", call_id="c7")
    session.closing_said = True  # as if an earlier closing run had been spoken
    play = session.start(answered=True)[1]
    assert session.handle(ReleaseRequested(at=1.0)) == [StopPlayback(play.playback_id), Hangup("normal")]


def test_the_session_notes_are_timeline_event_types() -> None:
    from callcenter.calls import events
    from callcenter.scripting import notes

    names = ("SCRIPT_STATE", "SCRIPT_ERROR", "LISTEN_STARTED", "SILENCE_WINDOW", "RELEASE_REFUSED", "IVR_ANSWERED")
    assert {n: getattr(notes, n) for n in names} == {n: getattr(events, n) for n in names}
    assert notes.ALL <= events.ALL


def test_variables_changed_mid_call_are_spoken(library: ScriptLibrary, settings: Settings) -> None:
    from callcenter.scripting.catalogue import prompt_variables

    session = ScriptSession(library, "named", call_id="c8", variables=prompt_variables(settings.service))
    assert session.start(answered=True)[1].text == "先生(女士),请问有什么可以帮助您?"
    named = prompt_variables(settings.service, caller={"surname": "王", "honorific": "先生"})
    session.set_variables(caller=named["caller"])
    assert session.start(answered=True)[1].text == "王先生,请问有什么可以帮助您?"  # not the cached text


def test_a_script_started_during_hold_takes_the_caller_off_hold(
    settings: Settings, write_library: WriteLibrary
) -> None:
    root = write_library(
        {
            "wait.yaml": "name: wait\nstates:\n  w: {hold: true, listen: 30s, on: {speech: done, silence: w}}\n",
            "other.yaml": "name: other\nstates:\n  o: {say: k.hi, end: true}\n",
            "prompts/zh-CN.yaml": "k.hi: 您好。\n",
        }
    )
    timeline = brief(simulate(load_library(root, settings.scripts), "wait", ["script:other@40", "hangup@50"]))
    held = [e for e in timeline if e[1] in ("hold", "unhold")]
    assert held == [(0.0, "hold", ""), (30.0, "hold", ""), (40.0, "unhold", "")]


def test_an_unknown_locale_fails_before_the_call_is_answered(library: ScriptLibrary) -> None:
    from callcenter.scripting.errors import RenderError

    with pytest.raises(RenderError, match="unknown locale 'fr-FR'"):
        ScriptSession(library, "ivr", call_id="c9", locale="fr-FR")


def test_the_session_never_reads_a_clock(library: ScriptLibrary, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    def no_clock() -> float:
        raise AssertionError("the session read a clock")

    for name in ("time", "monotonic", "perf_counter", "time_ns", "monotonic_ns"):
        monkeypatch.setattr(time, name, no_clock)
    timeline = run(library, "ivr", "dtmf:1@8", "speech@20", config=ENTRY)
    assert timeline[-1] == {"t": 20.0, "type": "end"}


def test_transfer_default_is_the_calls_own_group_and_a_named_group_is_that_group(
    settings: Settings, write_library: WriteLibrary
) -> None:
    """An entry of group 「vip」 (or a callback of its campaign's group): ``transfer: default`` rings that group, as
    the session's own fallbacks do; ``transfer: billing`` rings billing whatever the call's group."""
    root = write_library(
        {
            "q.yaml": "name: q\nstates:\n  r: {transfer: default, on: {answered: done, no_agent: b}}\n"
                      "  b: {transfer: billing, on: {answered: done, no_agent: done}}\n",
            "prompts/zh-CN.yaml": "k.hi: 您好。\n",
        }
    )
    library = load_library(root, settings.scripts)
    session = ScriptSession(library, "q", call_id="c5", config=SessionConfig(default_group="vip"))
    assert Transfer("vip") in session.start(answered=True)
    assert Transfer("billing") in session.handle(TransferResult("no_agent", at=30.0))
    plain = ScriptSession(library, "q", call_id="c6")
    assert Transfer("default") in plain.start(answered=True)
