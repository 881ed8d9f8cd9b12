"""A scripts directory over base directories (a centre's data folder over the packaged standard library): its
own scripts replace theirs name by name, its prompts key by key; audio is the directory's own."""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from script_fixtures import FIXTURES

from callcenter.config import Settings
from callcenter.scripting.errors import ScriptLoadError
from callcenter.scripting.library import ScriptLibrary, load_library


@pytest.fixture
def layered(settings: Settings) -> Callable[..., ScriptLibrary]:
    """load_library with the fixture library (or ``base``) under ``directory``."""

    def load(directory: Path, base: Path = FIXTURES) -> ScriptLibrary:
        return load_library(directory, replace(settings.scripts, base_directories=(base,)))

    return load


@pytest.fixture
def plain(settings: Settings) -> ScriptLibrary:
    return load_library(FIXTURES, replace(settings.scripts, base_directories=()))


def _wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))


def test_the_centres_prompt_replaces_one_key_of_one_locale(
    tmp_path: Path, layered: Callable[..., ScriptLibrary], plain: ScriptLibrary
) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "zh-CN.yaml").write_text("silent.s1: 您好,这里是热线。\n", encoding="utf-8")
    library = layered(tmp_path)
    assert library.catalogues.lookup("silent.s1", "zh-CN").source == "您好,这里是热线。"
    assert library.catalogues.lookup("silent.s2", "zh-CN") == plain.catalogues.lookup("silent.s2", "zh-CN")
    assert library.catalogues.keys() == plain.catalogues.keys()
    assert library.directory == tmp_path  # where prompts build writes, and linter messages point


def test_the_centres_script_replaces_the_one_of_the_same_name(
    tmp_path: Path, layered: Callable[..., ScriptLibrary], plain: ScriptLibrary
) -> None:
    (tmp_path / "greet.yaml").write_text("name: greet\nstates:\n  a: {say: silent.s2, end: true}\n", encoding="utf-8")
    library = layered(tmp_path)
    assert set(library.scripts) == set(plain.scripts)
    assert [ref.key for ref in library.scripts["greet"].states["a"].say] == ["silent.s2"]


def test_audio_is_only_the_directorys_own(tmp_path: Path, layered: Callable[..., ScriptLibrary]) -> None:
    base, centre = tmp_path / "base", tmp_path / "centre"
    base.mkdir()
    for item in FIXTURES.iterdir():
        (base / item.name).symlink_to(item)
    _wav(base / "sounds" / "zh-CN" / "silent.s1.wav", 2.0)
    _wav(centre / "sounds" / "zh-CN" / "silent.s2.wav", 3.0)
    library = layered(centre, base)
    assert library.audio == {("zh-CN", "silent.s2"): 3.0}
    assert library.audio_path("zh-CN", "silent.s2") == centre / "sounds" / "zh-CN" / "silent.s2.wav"


def test_the_centres_folder_may_not_exist_yet_but_a_base_must(
    tmp_path: Path, layered: Callable[..., ScriptLibrary], plain: ScriptLibrary
) -> None:
    assert set(layered(tmp_path / "none").scripts) == set(plain.scripts)
    with pytest.raises(ScriptLoadError, match="does not exist"):
        layered(tmp_path, tmp_path / "gone")


def test_an_edit_in_the_centres_folder_is_picked_up(tmp_path: Path, layered: Callable[..., ScriptLibrary]) -> None:
    first = layered(tmp_path)
    assert layered(tmp_path) is first
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "zh-CN.yaml").write_text("silent.s1: 新的。\n", encoding="utf-8")
    assert layered(tmp_path).catalogues.lookup("silent.s1", "zh-CN").source == "新的。"
