"""``callcenter scripts lint|render|simulate`` and ``callcenter prompts build``."""

from __future__ import annotations

import json
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from script_fixtures import FIXTURES, WriteLibrary

from callcenter.cli import main


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    # main() pointed structlog at the captured stderr, which pytest closes after the test.
    structlog.reset_defaults()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A copy of the fixture library as the configured scripts directory."""
    root = tmp_path / "scripts"
    shutil.copytree(FIXTURES, root)
    for key, value in {
        "CALLCENTER_SCRIPTS__DIRECTORY": str(root),
        "CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CALLCENTER_SERVICE__LOG_JSON": "false",
    }.items():
        monkeypatch.setenv(key, value)
    return root


def test_lint_exits_0_on_a_clean_library(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "lint"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "5 scripts, 10 prompts: no problems" in err


def test_lint_prints_file_line_col_and_exits_1(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "bad.yaml").write_text("name: bad\nstates:\n  a: {say: nope, listen: 5s, on: {speech: done}}\n")
    assert main(["scripts", "lint", str(env)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{env / 'bad.yaml'}:3:3: state 'a': listen without a silence branch (R-15)",
        f"{env / 'bad.yaml'}:3:12: unknown prompt key 'nope' (not in zh-CN)",
    ]


def test_lint_of_one_file_reports_only_that_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "bad.yaml").write_text("name: bad\nstates:\n  a: {say: nope, end: true}\n")
    assert main(["scripts", "lint", str(env / "silent.yaml")]) == 0
    assert main(["scripts", "lint", str(env / "bad.yaml")]) == 1
    assert capsys.readouterr().out.count("\n") == 1


def test_lint_of_a_missing_path_is_an_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "lint", str(env / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_render_prints_the_text(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "render", "greeting.agent", "--var", "agent.work_number=1001"]) == 0
    assert capsys.readouterr().out == "您好,客服代表1001很高兴为您服务。\n"
    assert main(["scripts", "render", "ivr.menu", "--locale", "zh-sichuan"]) == 0
    assert capsys.readouterr().out == "咨询请按1,人工请按0。\n"


def test_render_keeps_caller_values_as_data(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["scripts", "render", "address.named", "--var", "caller.surname={{ 7*7 }}", "--var", "caller.honorific=先生"]
    assert main(args) == 0
    assert capsys.readouterr().out == "{{ 7*7 }}先生,请问有什么可以帮助您?\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["greeting.agent"], "'agent' is undefined"),
        (["nope.key"], "unknown prompt key 'nope.key'"),
        (["ivr.menu", "--locale", "fr-FR"], "unknown locale 'fr-FR'"),
        (["ivr.menu", "--var", "hotline"], "--var 'hotline': expected NAME=VALUE"),
    ],
)
def test_render_errors_are_one_line(env: Path, capsys: pytest.CaptureFixture[str], args: list, message: str) -> None:
    assert main(["scripts", "render", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("callcenter: error: ") and message in err and err.count("\n") == 1


def test_simulate_prints_the_json_timeline(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "simulate", "silent", "--caller", "speech@10", "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    s1 = {"t": 0.0, "type": "say", "key": "silent.s1", "text": "您好!请问有什么可以帮助您?", "duration": 3.5}
    assert timeline[1] == s1
    assert timeline[-3:] == [
        {"t": 10.0, "type": "speech"},
        {"t": 10.0, "type": "stop", "key": "silent.s2"},
        {"t": 10.0, "type": "end"},
    ]


def test_simulate_an_entry_uses_the_ring_cadence(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "simulate", "ivr", "--caller", "hangup@2", "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert [(e["t"], e["type"]) for e in timeline[:3]] == [(0.0, "ring"), (1.0, "answer"), (1.0, "record")]


def test_simulate_rejects_a_bad_caller_spec(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "simulate", "silent", "--caller", "whisper@3"]) == 2
    assert "bad caller spec 'whisper@3'" in capsys.readouterr().err


# ---------------------------------------------------------------- prompts build


def test_prompts_build_synthesises_only_what_is_missing_and_never_overwrites(
    monkeypatch: pytest.MonkeyPatch, write_library: WriteLibrary, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_library(
        {
            "a.yaml": "name: a\nstates:\n  s: {say: [k.one, k.two], end: true}\n",
            "prompts/zh-CN.yaml": "k.one: 您好。\nk.two: 请稍等。\nk.agent: '{{ agent.label }}'\n",
        }
    )
    monkeypatch.setenv("CALLCENTER_SCRIPTS__DIRECTORY", str(root))
    sounds = root / "sounds" / "zh-CN"
    sounds.mkdir(parents=True)
    centre = sounds / "k.two.wav"
    _write_wav(centre, seconds=0.5)
    centre_bytes = centre.read_bytes()

    assert main(["prompts", "build"]) == 0
    assert "[1/1] zh-CN k.one: 您好。" in capsys.readouterr().err
    with wave.open(str(sounds / "k.one.wav"), "rb") as wav:  # 8 kHz mono 16-bit
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() > 800
    assert centre.read_bytes() == centre_bytes  # the centre's recording is untouched
    assert not (sounds / "k.agent.wav").exists()  # per-call wording cannot be recorded ahead
    manifest = json.loads((sounds / ".generated.json").read_text())
    assert set(manifest) == {"k.one"}

    generated = (sounds / "k.one.wav").read_bytes()
    assert main(["prompts", "build"]) == 0  # nothing changed: nothing to do
    assert "0 files synthesised" in capsys.readouterr().err

    (root / "prompts" / "zh-CN.yaml").write_text("k.one: 您好,欢迎。\nk.two: 对不起,请稍等。\n")
    assert main(["prompts", "build", "--missing-only"]) == 0
    assert (sounds / "k.one.wav").read_bytes() == generated  # --missing-only leaves changed text alone
    assert main(["prompts", "build"]) == 0
    assert (sounds / "k.one.wav").read_bytes() != generated  # ours, text changed: regenerated
    assert centre.read_bytes() == centre_bytes  # theirs, text changed: still theirs


def test_a_generated_file_the_centre_replaced_becomes_theirs(
    monkeypatch: pytest.MonkeyPatch, write_library: WriteLibrary
) -> None:
    root = write_library({"prompts/zh-CN.yaml": "k.one: 您好。\n"})
    monkeypatch.setenv("CALLCENTER_SCRIPTS__DIRECTORY", str(root))
    assert main(["prompts", "build"]) == 0
    recorded = root / "sounds" / "zh-CN" / "k.one.wav"
    _write_wav(recorded, seconds=1.0)
    (root / "prompts" / "zh-CN.yaml").write_text("k.one: 您好,欢迎。\n")
    assert main(["prompts", "build"]) == 0
    with wave.open(str(recorded), "rb") as wav:
        assert wav.getnframes() == 8000  # the centre's one-second recording survived


def test_prompts_build_of_an_unknown_locale(monkeypatch: pytest.MonkeyPatch, env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["prompts", "build", "--locale", "fr-FR"]) == 2
    assert "no catalogue scripts/prompts/fr-FR.yaml" in capsys.readouterr().err


def _write_wav(path: Path, *, seconds: float) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\1\0" * int(8000 * seconds))
