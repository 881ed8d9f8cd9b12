"""The linter: each rule of docs/design.md with a failing and a passing case."""

from __future__ import annotations

from pathlib import Path

import pytest
from script_fixtures import FIXTURES, WriteLibrary, settings_for

from callcenter.config import Settings
from callcenter.scripting.library import load_library
from callcenter.scripting.linter import Problem, lint

PROMPTS = """
    ok.hello: 您好,请问有什么可以帮助您?
    ok.sorry: 对不起,您的电话没有声音,请您换一部电话再次打来,好吗?再见!
    ok.bye: 谢谢,欢迎再次拨打,再见!
    ok.agent: 客服代表{{ agent.label }}为您服务。
"""


def problems(settings: Settings, root: Path, **scripts: object) -> list[Problem]:
    s = settings_for(settings, root, **scripts)
    return lint(load_library(root, s.scripts, strict=False), s.service)


def rules(found: list[Problem]) -> set[str]:
    return {p.rule for p in found}


def one_script(write_library: WriteLibrary, body: str, prompts: str = PROMPTS) -> Path:
    return write_library({"x.yaml": "name: x\n" + body, "prompts/zh-CN.yaml": prompts})


def test_the_fixture_library_is_clean(settings: Settings) -> None:
    assert problems(settings, FIXTURES) == []


def test_problems_print_as_file_line_col_message() -> None:
    problem = Problem("scripts/x.yaml", 3, 7, "unknown prompt key 'a'")
    assert str(problem) == "scripts/x.yaml:3:7: unknown prompt key 'a'"


def test_load_errors_are_problems_too(settings: Settings, write_library: WriteLibrary) -> None:
    root = write_library({"x.yaml": "name: x\nstates:\n  a: {say: ok.hello, listen: 5s\n"})
    found = problems(settings, root)
    assert rules(found) == {"load"} and found[0].path.endswith("x.yaml")
    assert (found[0].line, found[0].col) == (4, 1) and "malformed YAML: expected ',' or '}'" in found[0].message


@pytest.mark.parametrize(
    ("key", "expected"), [("ok.hello", set()), ("ok.helo", {"unknown-prompt"})]
)
def test_unknown_prompt_keys(settings: Settings, write_library: WriteLibrary, key: str, expected: set[str]) -> None:
    root = one_script(write_library, f"states:\n  a: {{say: {key}, end: true}}\n")
    found = problems(settings, root)
    assert rules(found) == expected
    if expected:
        assert (found[0].line, found[0].col, found[0].message) == (3, 12, "unknown prompt key 'ok.helo' (not in zh-CN)")


@pytest.mark.parametrize(("target", "expected"), [("script:x", set()), ("script:y", {"unknown-script"})])
def test_unknown_script_targets(settings: Settings, write_library: WriteLibrary, target: str, expected: set) -> None:
    root = one_script(write_library, f"states:\n  a: {{say: ok.hello, listen: 5s, on: {{silence: '{target}'}}}}\n")
    assert rules(problems(settings, root)) == expected


def test_unreachable_states(settings: Settings, write_library: WriteLibrary) -> None:
    root = one_script(write_library, "states:\n  a: {say: ok.hello, end: true}\n  b: {say: ok.hello, end: true}\n")
    found = problems(settings, root)
    assert [(p.rule, p.line, p.message) for p in found] == [("unreachable", 4, "state 'b' is unreachable from 'a'")]
    fixed = one_script(write_library, "states:\n  a: {say: ok.hello, goto: b}\n  b: {say: ok.hello, end: true}\n")
    assert problems(settings, fixed) == []


def test_dead_end_states(settings: Settings, write_library: WriteLibrary) -> None:
    loop = "states:\n  a: {say: ok.hello, goto: b}\n  b: {say: ok.hello, listen: 5s, on: {silence: a}}\n"
    found = problems(settings, one_script(write_library, loop))
    assert [(p.rule, p.line) for p in found] == [("dead-end", 3), ("dead-end", 4)]
    way_out = loop.replace("{silence: a}", "{silence: a, speech: done}")
    assert problems(settings, one_script(write_library, way_out)) == []


def test_listen_without_a_silence_branch(settings: Settings, write_library: WriteLibrary) -> None:
    root = one_script(write_library, "states:\n  a: {say: ok.hello, listen: 5s, on: {speech: done}}\n")
    found = problems(settings, root)
    assert "listen-silence" in rules(found)
    assert any(p.message == "state 'a': listen without a silence branch (R-15)" for p in found)
    fixed = one_script(write_library, "states:\n  a: {say: ok.hello, listen: 5s, on: {speech: done, silence: done}}\n")
    assert problems(settings, fixed) == []


GUARDED = "states:\n  a: {say: ok.sorry, listen: 5s, on: {speech: done, silence: b}}\n  b: {hangup: silent}\n"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("states:\n  a: {say: ok.sorry, hangup: silent}\n", "right after its own prompt"),
        ("states:\n  a: {hangup: silent}\n", "is not preceded by an apology"),
        (GUARDED.replace("listen: 5s", "listen: 4s"), "its window is 4 s"),
        (GUARDED.replace("ok.sorry", "ok.hello"), "prompt 'ok.hello' before the window is not an apology"),
        (GUARDED.replace("speech: done, silence: b", "speech: b, silence: done"), "reached by 'speech'"),
        ("states:\n  a: {say: ok.sorry, goto: b}\n  b: {hangup: silent}\n", "reached by 'goto'"),
        # A farewell without an apology counts only for a normal release in a closing script.
        (GUARDED.replace("ok.sorry", "ok.bye"), "not an apology"),
    ],
)
def test_hangup_needs_an_apology_and_its_five_second_window(
    settings: Settings, write_library: WriteLibrary, body: str, fragment: str
) -> None:
    found = problems(settings, one_script(write_library, body))
    assert rules(found) == {"hangup-guard"}, found
    assert any(fragment in p.message for p in found), found


@pytest.mark.parametrize(
    "body",
    [
        GUARDED,
        GUARDED.replace("listen: 5s", "listen: $caller_hangup_wait"),
        # the apology may come from the state before a window without its own prompt
        "states:\n  a: {say: ok.sorry, goto: w}\n  w: {listen: 5s, on: {speech: done, silence: b}}\n  b: {hangup: x}\n",
        "closing: true\n" + GUARDED.replace("ok.sorry", "ok.bye").replace("hangup: silent", "hangup: normal"),
    ],
)
def test_guarded_hangups_pass(settings: Settings, write_library: WriteLibrary, body: str) -> None:
    assert problems(settings, one_script(write_library, body)) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("喂,说话呀!", "R-52"),
        ("这个我不知道。", "R-53"),
        ("请你稍等。", "R-59"),
        ("嗯,请稍等。", "R-54"),
        ("我晕。", "R-54"),
    ],
)
def test_forbidden_phrases(settings: Settings, write_library: WriteLibrary, text: str, rule: str) -> None:
    root = one_script(write_library, "states:\n  a: {say: ok.hello, end: true}\n", PROMPTS + f"    bad.one: {text}\n")
    found = problems(settings, root)
    assert [p.rule for p in found] == ["forbidden-phrase"]
    assert found[0].line == 5 and rule in found[0].message


def test_missing_audio_in_a_required_locale(settings: Settings, write_library: WriteLibrary, tmp_path: Path) -> None:
    import wave

    root = one_script(write_library, "states:\n  a: {say: [ok.hello, ok.agent], end: true}\n")
    assert problems(settings, root) == []  # audio not required: clean
    found = problems(settings, root, required_audio_locales=("zh-CN",))
    assert [(p.rule, p.line) for p in found] == [("missing-audio", 1)]  # ok.agent is per-call: exempt
    assert "sounds/zh-CN/ok.hello.wav" in found[0].message
    (root / "sounds" / "zh-CN").mkdir(parents=True)
    with wave.open(str(root / "sounds" / "zh-CN" / "ok.hello.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 8000)
    assert problems(settings, root, required_audio_locales=("zh-CN",)) == []


def test_a_required_locale_nobody_knows(settings: Settings, write_library: WriteLibrary) -> None:
    root = one_script(write_library, "states:\n  a: {say: ok.hello, end: true}\n")
    found = problems(settings, root, required_audio_locales=("fr-FR",))
    assert [p.rule for p in found] == ["missing-audio"] and "unknown locale 'fr-FR'" in found[0].message


def test_entry_problems_name_the_setting(settings: Settings) -> None:
    from dataclasses import replace

    from callcenter.calls.entries import entry_problems
    from callcenter.config import EntrySettings

    library = load_library(FIXTURES, settings.scripts)
    good = {"main": EntrySettings(script="ivr", locale="zh-sichuan")}
    assert entry_problems(library, replace(settings, telephony=replace(settings.telephony, entries=good))) == []
    bad = {"main": EntrySettings(script="menu", locale="fr-FR")}
    assert entry_problems(library, replace(settings, telephony=replace(settings.telephony, entries=bad))) == [
        "telephony.entries.main.script: unknown script 'menu'",
        "telephony.entries.main.locale: unknown locale 'fr-FR' (known: zh-CN, zh-sichuan)",
    ]
