"""Fixtures of the engine's tests: the small fixture library, and a writer for throw-away libraries."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from script_fixtures import FIXTURES, WriteLibrary

from callcenter.config import Settings
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.library import ScriptLibrary, load_library


@pytest.fixture
def library(settings: Settings) -> ScriptLibrary:
    return load_library(FIXTURES, settings.scripts)


@pytest.fixture
def variables(settings: Settings) -> dict:
    return prompt_variables(settings.service, agent={"work_number": "1001"})


@pytest.fixture
def write_library(tmp_path: Path) -> WriteLibrary:
    """Write ``{relative path: YAML text}`` into a fresh directory and return it."""
    counter = iter(range(1000))

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / f"lib{next(counter)}"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        (root / "prompts").mkdir(parents=True, exist_ok=True)
        return root

    return write

