"""Loading scripts and catalogues: every bad input is one clear error naming file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import Settings
from callcenter.scripting.durations import Duration, parse_duration
from callcenter.scripting.errors import RenderError, ScriptLoadError
from callcenter.scripting.library import load_library
from callcenter.scripting.loader import parse_prompts, parse_script
from callcenter.scripting.model import GotoAction, HangupAction, ListenAction, TransferAction


def load_error(text: str, path: str = "scripts/x.yaml") -> ScriptLoadError:
    with pytest.raises(ScriptLoadError) as info:
        parse_script(text, path, expected_name="x")
    return info.value


def test_a_well_formed_script_loads_with_its_marks() -> None:
    script = parse_script(
        "name: x\nkind: entry\nstates:\n"
        "  a: {say: [k.one, k.two], listen: 5s, on: {speech: done, 'dtmf:1': b, silence: b}}\n"
        "  b: {transfer: sales, on: {answered: done, no_agent: c}}\n"
        "  c: {goto: 'script:other'}\n"
        "  d: {hangup: silent}\n",
        "scripts/x.yaml",
        expected_name="x",
    )
    assert script.kind == "entry" and script.start == "a"
    a = script.states["a"]
    assert [r.key for r in a.say] == ["k.one", "k.two"]
    assert isinstance(a.action, ListenAction) and a.action.window == Duration(seconds=5.0)
    assert a.digit_branch("1").value == "b" and a.digit_branch("2") is None
    assert str(a.mark) == "scripts/x.yaml:4:3"
    assert isinstance(script.states["b"].action, TransferAction)
    goto = script.states["c"].action
    assert isinstance(goto, GotoAction) and goto.target.script == "other"
    assert isinstance(script.states["d"].action, HangupAction)


def test_the_on_key_is_a_branch_table_not_yaml_true() -> None:
    # YAML 1.1 reads a bare `on` as the boolean true; the loader must keep the key's text.
    script = parse_script("name: x\nstates:\n  a: {listen: 5s, on: {silence: done}}\n", "x.yaml", "x")
    assert set(script.states["a"].on) == {"silence"}


def test_malformed_yaml_names_file_line_and_column() -> None:
    error = load_error("name: x\nstates:\n  a: {say: k, listen: 5s\n  b: {end: true}\n")
    assert error.path == "scripts/x.yaml" and error.line == 4
    assert str(error).startswith("scripts/x.yaml:4:") and "malformed YAML" in str(error)


def test_unknown_state_points_at_the_target() -> None:
    error = load_error("name: x\nstates:\n  a: {say: k, listen: 5s, on: {silence: nowhere}}\n")
    assert str(error) == "scripts/x.yaml:3:41: state 'a': unknown state 'nowhere' (known: a)"


def test_unknown_start_state() -> None:
    error = load_error("name: x\nstart: b\nstates:\n  a: {end: true}\n")
    assert (error.line, error.col) == (2, 8) and "unknown state 'b'" in str(error)


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        ("name: y\nstates:\n  a: {end: true}\n", 1, 7, "name 'y' must equal the file name 'x'"),
        ("name: x\nstates:\n  a: {say: k}\n", 3, 3, "needs exactly one of listen, goto, transfer, hangup, end"),
        ("name: x\nstates:\n  a: {end: true, hangup: x}\n", 3, 3, "(found hangup, end)"),
        ("name: x\nstates:\n  a: {listen: 5, on: {silence: done}}\n", 3, 15, "write 5s, not 5"),
        ("name: x\nstates:\n  a: {listen: $nope, on: {silence: done}}\n", 3, 15, "unknown configured duration $nope"),
        ("name: x\nstates:\n  a: {goto: a, on: {speech: a}}\n", 3, 21, "branch 'speech' does not apply to goto"),
        ("name: x\nstates:\n  a: {listen: 1s, on: {'dtmf:12': a, silence: a}}\n", 3, 24, "needs one digit"),
        ("name: x\nstates:\n  a: {end: true, max_visits: 2}\n", 3, 18, "max_visits needs on_max"),
        ("name: x\nstates:\n  a: {end: true, sa: k}\n", 3, 18, "unknown key 'sa'"),
        ("name: x\nkind: ivr\nstates:\n  a: {end: true}\n", 2, 7, "kind must be 'entry' or 'situation'"),
        ("name: x\nstates:\n  a: {end: true}\n  a: {end: true}\n", 4, 3, "duplicate key 'a'"),
        ("name: x\nstates: {}\n", 2, 9, "at least one state"),
        ("states:\n  a: {end: true}\n", 1, 1, "a script needs 'name'"),
        ("name: x\nstates:\n  done: {end: true}\n", 3, 3, "'done' is not a usable state name"),
    ],
)
def test_bad_scripts_are_located(text: str, line: int, col: int, message: str) -> None:
    error = load_error(text)
    assert (error.line, error.col) == (line, col), str(error)
    assert message in str(error)


def test_durations() -> None:
    assert parse_duration("500ms") == Duration(seconds=0.5)
    assert parse_duration("2m") == Duration(seconds=120.0)
    assert parse_duration("$caller_hangup_wait").resolve({"caller_hangup_wait": 30.0}) == 30.0
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration("five seconds")


def test_template_syntax_error_is_located(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "zh-CN.yaml").write_text("a.ok: 您好\na.bad: 您好,{{ hotline \n", encoding="utf-8")
    with pytest.raises(ScriptLoadError) as info:
        load_library(tmp_path, settings.scripts)
    assert str(info.value).startswith(f"{tmp_path / 'prompts' / 'zh-CN.yaml'}:2:8: prompt 'a.bad': template syntax")


def test_undefined_variable_is_a_load_error(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "zh-CN.yaml").write_text("a.one: 您好\na.two: 您好,{{ hotlin }}\n", encoding="utf-8")
    with pytest.raises(ScriptLoadError, match=r"zh-CN.yaml:2:8: prompt 'a.two': undefined variable 'hotlin'"):
        load_library(tmp_path, settings.scripts)


def test_unknown_attribute_of_a_known_variable_is_a_load_error() -> None:
    from callcenter.scripting.catalogue import compile_prompt
    from callcenter.scripting.model import Mark

    with pytest.raises(ScriptLoadError, match=r"undefined variable agent.phone \(known: label, name, work_number\)"):
        compile_prompt("k", "zh-CN", "{{ agent.phone }}", Mark("p.yaml", 3, 4))


def test_unknown_locale_is_a_clear_error(library) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RenderError, match=r"unknown locale 'fr-FR' \(known: zh-CN, zh-sichuan\)"):
        library.catalogues.render("silent.s1", "fr-FR", {})


def test_prompt_values_must_be_text() -> None:
    with pytest.raises(ScriptLoadError, match=r"p.yaml:2:8: prompt 'a.two' must be a non-empty string"):
        parse_prompts("a.one: 您好\na.two: [1, 2]\n", "p.yaml")


def test_lenient_loading_collects_every_bad_file(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "good.yaml").write_text("name: good\nstates:\n  a: {end: true}\n", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("name: bad\nstates:\n  a: {end: maybe}\n", encoding="utf-8")
    (tmp_path / "worse.yaml").write_text("name: [\n", encoding="utf-8")
    library = load_library(tmp_path, settings.scripts, strict=False)
    assert set(library.scripts) == {"good"}
    assert sorted(Path(e.path).name for e in library.errors) == ["bad.yaml", "worse.yaml"]


def test_the_library_is_cached_until_a_file_changes(tmp_path: Path, settings: Settings) -> None:
    script = tmp_path / "a.yaml"
    script.write_text("name: a\nstates:\n  s: {end: true}\n", encoding="utf-8")
    first = load_library(tmp_path, settings.scripts)
    assert load_library(tmp_path, settings.scripts) is first
    script.write_text("name: a\nstates:\n  s: {end: true}\n  t: {end: true}\n", encoding="utf-8")
    second = load_library(tmp_path, settings.scripts)
    assert second is not first and set(second.scripts["a"].states) == {"s", "t"}
