"""A whole scripts directory loaded at once: scripts, prompt catalogues per locale, and prompt audio.

Layout (docs/script-format.md): ``<dir>/*.yaml`` scripts, ``<dir>/prompts/<locale>.yaml`` catalogues,
``<dir>/sounds/<locale>/<key>.wav`` audio. :func:`load_library` is cached on the directory and the files'
modification times, so every call of a busy IVR shares one parsed library and an edited file is picked up.

``options.base_directories`` are read first (a centre's data folder over the packaged standard library): the
directory's own scripts replace theirs name by name and its prompts key by key. Audio is the directory's own
``sounds/`` only, the one folder Asterisk plays from and ``callcenter prompts build`` fills.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from callcenter.scripting.catalogue import Catalogues, compile_prompt
from callcenter.scripting.errors import ScriptError, ScriptLoadError
from callcenter.scripting.loader import audio_seconds, load_prompt_file, load_script
from callcenter.scripting.model import Script
from callcenter.scripting.options import LibraryOptions

AUDIO_SUFFIX = ".wav"
T = TypeVar("T")


@dataclass
class ScriptLibrary:
    directory: Path
    options: LibraryOptions
    scripts: dict[str, Script]
    catalogues: Catalogues
    # (locale, key) → seconds of the audio file scripts/sounds/<locale>/<key>.wav
    audio: dict[tuple[str, str], float] = field(default_factory=dict)
    # Files that failed to load (only when loaded with strict=False, e.g. by the linter).
    errors: list[ScriptError] = field(default_factory=list)

    def script(self, name: str) -> Script:
        try:
            return self.scripts[name]
        except KeyError:
            raise ScriptError(f"unknown script {name!r} (known: {', '.join(sorted(self.scripts))})") from None

    def audio_path(self, locale: str, key: str) -> Path:
        return self.directory / "sounds" / locale / f"{key}{AUDIO_SUFFIX}"


def load_library(directory: Path | str, options: LibraryOptions, *, strict: bool = True) -> ScriptLibrary:
    """Load (or return the cached) library of ``directory``; with ``strict`` the first bad file raises."""
    directory = Path(directory)
    layers = [Path(d) for d in options.base_directories if Path(d).resolve() != directory.resolve()]
    for folder in layers if layers else [directory]:
        if not folder.is_dir():
            raise ScriptLoadError(f"scripts directory {folder} does not exist")
    layers.append(directory)  # with base directories, the centre's own folder may not exist yet
    key = (str(directory.resolve()), tuple(_signature(d) for d in layers), options, strict)
    cached = _CACHE.get(key[0])
    if cached is not None and cached[0] == key:
        return cached[1]
    library = _load(layers, options, strict)
    _CACHE[key[0]] = (key, library)
    return library


_CACHE: dict[str, tuple[tuple[object, ...], ScriptLibrary]] = {}


def _signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    files = [*directory.glob("*.yaml"), *directory.glob("prompts/*.yaml"), *directory.glob("sounds/*/*.wav")]
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))


def _load(layers: list[Path], options: LibraryOptions, strict: bool) -> ScriptLibrary:
    directory = layers[-1]
    errors: list[ScriptError] = []

    def attempt(fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except ScriptError as exc:
            if strict:
                raise
            errors.append(exc)
            return None

    catalogues = Catalogues(options.default_locale, options.locale_chains)
    for path in [p for folder in layers for p in sorted((folder / "prompts").glob("*.yaml"))]:
        entries = attempt(load_prompt_file, path) or []
        for key, source, mark in entries:
            prompt = attempt(compile_prompt, key, path.stem, source, mark)
            if prompt is not None:
                catalogues.add(prompt)
    scripts: dict[str, Script] = {}
    for path in [p for folder in layers for p in sorted(folder.glob("*.yaml"))]:
        script = attempt(load_script, path)
        if script is not None:
            scripts[script.name] = script
    audio: dict[tuple[str, str], float] = {}
    for path in sorted(directory.glob(f"sounds/*/*{AUDIO_SUFFIX}")):
        seconds = attempt(audio_seconds, path)
        if seconds is not None:
            audio[(path.parent.name, path.stem)] = seconds
    return ScriptLibrary(directory, options, scripts, catalogues, audio, errors)
