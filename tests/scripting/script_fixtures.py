"""Helpers shared by the engine's tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from callcenter.config import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "library"

WriteLibrary = Callable[..., Path]


def settings_for(settings: Settings, directory: Path, **scripts: object) -> Settings:
    """``settings`` with the scripts directory (and any other ``scripts.*`` field) replaced."""
    return replace(settings, scripts=replace(settings.scripts, directory=directory, **scripts))
