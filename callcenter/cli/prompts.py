"""``callcenter prompts build``: synthesise prompt audio so the IVR speaks out of the box.

Every prompt of a locale's catalogue without an audio file gets one: espeak-ng (Debian) speaks the text,
pydub converts it to 8 kHz mono 16-bit WAV (what Asterisk plays without transcoding) under
``scripts/sounds/<locale>/<key>.wav``. A file a centre dropped in is never touched: the files this command
made are listed with a hash of their text and of their bytes in ``scripts/sounds/<locale>/.generated.json``;
only those are regenerated when their text changes, and one whose bytes changed since is the centre's now.
Prompts whose wording depends on the call (agent, caller, time of day) cannot be recorded ahead of time and
are skipped (the linter exempts them from required audio too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.config import Settings
from callcenter.voice.synthesis import SYNTHESIS, PromptAudioError, synthesise, voice_for

if TYPE_CHECKING:
    from callcenter.scripting.library import ScriptLibrary

MANIFEST = ".generated.json"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("prompts", help="prompt audio")
    psub = p.add_subparsers(dest="prompts_command", required=True)
    build = psub.add_parser("build", help="synthesise audio for every prompt that has none (espeak-ng)")
    build.add_argument("--missing-only", action="store_true", help="only prompts with no audio file at all")
    build.add_argument("--locale", action="append", help="only this locale (repeatable; default: every catalogue)")
    build.add_argument("--voice", help="espeak-ng voice to use instead of the locale's default")
    build.set_defaults(handler=_build)


@dataclass(frozen=True, slots=True)
class Job:
    locale: str
    key: str
    text: str
    path: Path
    digest: str


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.scripting.library import load_library

    library = load_library(settings.scripts.directory, settings.scripts)
    locales = args.locale or sorted(library.catalogues.prompts)
    for locale in locales:
        if locale not in library.catalogues.prompts:
            raise PromptAudioError(f"--locale {locale}: no catalogue scripts/prompts/{locale}.yaml")
    if shutil.which("espeak-ng") is None:
        raise PromptAudioError("espeak-ng is not installed (apt-get install espeak-ng)")
    made = 0
    for locale in locales:
        made += build_locale(library, settings, locale, voice=args.voice, missing_only=args.missing_only)
    print(f"prompts: {made} file{'s' if made != 1 else ''} synthesised", file=sys.stderr)
    return 0


def build_locale(
    library: ScriptLibrary, settings: Settings, locale: str, *, voice: str | None, missing_only: bool
) -> int:
    """Synthesise one locale's missing or outdated generated prompts; returns how many files were written."""
    from callcenter.scripting.catalogue import prompt_variables

    folder = library.directory / "sounds" / locale
    manifest = _read_manifest(folder / MANIFEST)
    voice = voice or voice_for(locale)
    centre = prompt_variables(settings.service)
    jobs: list[Job] = []
    per_call = 0
    for key, prompt in sorted(library.catalogues.prompts[locale].items()):
        if prompt.per_call:
            per_call += 1
            continue
        text = prompt.render(centre)
        job = Job(locale, key, text, folder / f"{key}.wav", _digest(f"{SYNTHESIS}\n{voice}\n{text}"))
        if _needs_build(job, manifest, missing_only):
            jobs.append(job)
    for i, job in enumerate(jobs, 1):
        print(f"[{i}/{len(jobs)}] {locale} {job.key}: {job.text}", file=sys.stderr)
        synthesise(job.text, voice, job.path)
        manifest[job.key] = {"text": job.digest, "file": _file_digest(job.path)}
        _write_manifest(folder / MANIFEST, manifest)
    if per_call:
        print(f"{locale}: {per_call} prompts with per-call wording (agent, caller, time) skipped", file=sys.stderr)
    return len(jobs)


def _needs_build(job: Job, manifest: dict[str, dict[str, str]], missing_only: bool) -> bool:
    if not job.path.exists():
        return True
    entry = manifest.get(job.key)
    if entry is None:
        return False  # the centre's own recording
    if entry.get("file") != _file_digest(job.path):
        manifest.pop(job.key)  # replaced by the centre since we made it: theirs from now on
        return False
    return not missing_only and entry.get("text") != job.digest


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PromptAudioError(f"{path}: not JSON ({exc}); delete it to start over") from None
    return {str(k): dict(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_manifest(path: Path, manifest: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
