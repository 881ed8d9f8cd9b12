"""``callcenter scripts lint|render|simulate``: check, preview and dry-run the script library."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from callcenter.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("scripts", help="lint, render and simulate the standard scripts (话术)")
    ssub = p.add_subparsers(dest="scripts_command", required=True)

    lint = ssub.add_parser("lint", help="check the library; prints file:line:col: message per problem")
    lint.add_argument("path", nargs="?", help="scripts directory or one file in it (default: scripts.directory)")
    lint.set_defaults(handler=_lint)

    render = ssub.add_parser("render", help="print one prompt's text")
    render.add_argument("key")
    render.add_argument("--locale", help="default: scripts.default_locale")
    render.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help=VAR_HELP)
    render.set_defaults(handler=_render)

    sim = ssub.add_parser("simulate", help="run a script on a virtual clock against a simulated caller")
    sim.add_argument("name")
    sim.add_argument("--caller", action="append", default=[], metavar="SPEC", help=CALLER_HELP)
    sim.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help=VAR_HELP)
    sim.add_argument("--locale", help="default: scripts.default_locale")
    sim.add_argument("--json", action="store_true", help="print the timeline as a JSON list")
    sim.set_defaults(handler=_simulate)


VAR_HELP = (
    "a template variable: hotline, center, holiday, agent.work_number, agent.name, caller.surname, "
    "caller.honorific, now (ISO time in the centre's zone), or any variable to override (time_of_day …)"
)
CALLER_HELP = "silent, speech@T, speech@T+D, dtmf:D@T, hangup@T (also release@T, script:NAME@T, no_agent)"


def _library(settings: Settings, directory: Path | None = None, *, strict: bool = True) -> Any:
    from callcenter.scripting.library import load_library

    return load_library(directory or settings.scripts.directory, settings.scripts, strict=strict)


def _lint(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.scripting.linter import lint

    # The configured library is linted whole (installed, its own folder may not exist yet: the packaged one does).
    directory, only = _lint_target(Path(args.path)) if args.path else (settings.scripts.directory, None)
    scripts_settings = replace(settings.scripts, directory=directory)
    library = _library(replace(settings, scripts=scripts_settings), directory, strict=False)
    problems = [p for p in lint(library, settings.service) if only is None or Path(p.path).resolve() == only]
    for problem in problems:
        print(problem)
    count = f"{len(library.scripts)} scripts, {sum(len(p) for p in library.catalogues.prompts.values())} prompts"
    print(f"{count}: {len(problems) or 'no'} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
    return 1 if problems else 0


def _lint_target(path: Path) -> tuple[Path, Path | None]:
    """A directory is linted whole; a file is linted as part of its library, reporting only its problems."""
    from callcenter.scripting.errors import ScriptLoadError

    if path.is_dir():
        return path, None
    if not path.is_file():
        raise ScriptLoadError(f"{path}: no such file or directory")
    directory = path.parent.parent if path.parent.name == "prompts" else path.parent
    return directory, path.resolve()


def variables_from_args(settings: Settings, pairs: list[str], *, agent: str | None = None) -> dict[str, Any]:
    """Template variables from ``--var name=value`` pairs (see :data:`VAR_HELP`); ``agent`` is a default
    work number for the agent when none is given."""
    from callcenter.scripting.catalogue import agent_variables, prompt_variables
    from callcenter.scripting.errors import ScriptError

    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ScriptError(f"--var {pair!r}: expected NAME=VALUE")
        values[name.strip()] = value
    agent_fields = {k.split(".", 1)[1]: values.pop(k) for k in list(values) if k.startswith("agent.")}
    caller_fields = {k.split(".", 1)[1]: values.pop(k) for k in list(values) if k.startswith("caller.")}
    if agent and "work_number" not in agent_fields:
        agent_fields.setdefault("work_number", agent)
    now = datetime.now(settings.service.tz)
    if "now" in values:
        try:
            now = datetime.fromisoformat(values.pop("now"))
        except ValueError as exc:
            raise ScriptError(f"--var now: {exc}") from None
    out = prompt_variables(
        settings.service,
        hotline=values.pop("hotline", None),
        agent={k: v for k, v in agent_fields.items() if k != "label"} or None,
        caller=caller_fields or None,
        now=now,
        holiday=values.pop("holiday", ""),
    )
    if "label" in agent_fields:
        out["agent"] = {**agent_variables(agent_fields, settings.service.agent_label), "label": agent_fields["label"]}
    out.update(values)
    return out


def _render(args: argparse.Namespace, settings: Settings) -> int:
    library = _library(settings)
    locale = args.locale or settings.scripts.default_locale
    print(library.catalogues.render(args.key, locale, variables_from_args(settings, args.var)))
    return 0


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.calls.runner import session_config
    from callcenter.scripting.simulate import SIM_AGENT, simulate

    library = _library(settings)
    variables = variables_from_args(settings, args.var, agent=SIM_AGENT)
    timeline = simulate(
        library,
        args.name,
        args.caller or ["silent"],
        variables=variables,
        locale=args.locale,
        config=session_config(settings),
    )
    if args.json:
        print(json.dumps(timeline, ensure_ascii=False, indent=1))
        return 0
    for event in timeline:
        details = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("t", "type"))
        print(f"{event['t']:>9.3f}  {event['type']:<16} {details}")
    return 0
