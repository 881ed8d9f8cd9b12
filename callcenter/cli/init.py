"""``callcenter init DIR``: a data folder for one centre, so that an installed callcenter runs from any folder.

Writes ``DIR/callcenter.toml`` (commented, every path in it absolute) and makes the folders it names, in the
checkout's own layout: ``var/`` (the SQLite database, the web secret, rendered prompt audio, the demo's data),
``var/reports/``, ``recordings/``, and ``scripts/`` for the centre's own scripts, wording
(``scripts/prompts/<locale>.yaml``) and recorded prompts (``scripts/sounds/<locale>/<key>.wav``), which replace
the packaged standard library's name by name and key by key. Point the commands at it with ``--config`` or
``CALLCENTER_CONFIG``. Run it as the user the service runs as; an existing ``callcenter.toml`` is never
overwritten.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from callcenter.config import SOURCE_CHECKOUT, STANDARD_LIBRARY, DataFolder, Settings, load_settings
from callcenter.errors import CallcenterError

CONFIG_NAME = "callcenter.toml"


class InitError(CallcenterError):
    """The data folder cannot be made (a config file already there, or a folder that cannot be written)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="make a data folder (callcenter.toml, database, recordings, reports, scripts)")
    p.add_argument("directory", type=Path, help="the data folder to make (created if missing)")
    p.set_defaults(handler=_init)


def _init(args: argparse.Namespace, settings: Settings) -> int:
    folder = DataFolder(args.directory.expanduser().resolve())
    config = folder.root / CONFIG_NAME
    if config.exists():
        raise InitError(f"{config} exists already; it is not overwritten (edit it, or choose another folder)")
    try:
        for path in (folder.database.parent, folder.reports, folder.recordings, folder.scripts / "prompts",
                     folder.scripts / "sounds"):
            path.mkdir(parents=True, exist_ok=True)
        config.write_text(config_text(folder), encoding="utf-8")
    except OSError as exc:
        raise InitError(f"cannot make the data folder {folder.root}: {exc.strerror or exc}") from None
    load_settings(config, environ={})  # what was written must load
    print(f"data folder {folder.root} is ready; its settings: {config}")
    print(f"  export CALLCENTER_CONFIG={config}   (or: callcenter --config {config} COMMAND)")
    print("  callcenter prompts build --missing-only   # prompt audio into scripts/sounds of the data folder")
    print("  callcenter users add NAME --role admin && callcenter serve")
    return 0


def config_text(folder: DataFolder) -> str:
    """The commented ``callcenter.toml`` of a data folder."""
    defaults = Settings()

    def q(value: object) -> str:
        return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string

    if SOURCE_CHECKOUT:
        base = ("# The standard library of the checkout this file was written from; its scripts and prompts lie\n"
                "# under this folder's own.\n"
                f"base_directories = [{q(STANDARD_LIBRARY)}]")
    else:
        base = ("# base_directories: the folders under this one; by default the packaged standard library.")
    return f"""\
# callcenter settings of the data folder {folder.root} (written by `callcenter init`).
# Use: callcenter --config {folder.root / CONFIG_NAME} COMMAND, or CALLCENTER_CONFIG={folder.root / CONFIG_NAME}.
# Later wins: built-in defaults < this file < environment variables CALLCENTER_<SECTION>__<KEY>.
# Every section and key, with its default, is in callcenter/config.py; a bad value stops the start with one
# line naming its key. The paths are absolute: moving the folder means changing them here.

[service]
# Named in the prompts; the time zone of deadlines, reports and the work-order calendar.
# hotline = {q(defaults.service.hotline)}
# center = {q(defaults.service.center)}
# timezone = {q(defaults.service.timezone)}

[database]
# The embedded SQLite store: every command brings its schema up to date itself. For several processes or
# machines use PostgreSQL, and run `callcenter db upgrade` once after each upgrade of callcenter:
# url = "postgresql+psycopg://callcenter:PASSWORD@127.0.0.1:5432/callcenter"
url = {q(f"sqlite:///{folder.database}")}

[recordings]
# Every call's recording, kept at least 183 days (R-107); back it up with the database (docs/deploy.md).
root = {q(folder.recordings)}

[metrics]
# The scheduled daily, monthly and quarterly reports (R-130).
reports_directory = {q(folder.reports)}

[web]
# host = {q(defaults.web.host)}
# port = {defaults.web.port}
# The session key, generated once (mode 0600) while secret_key is empty.
secret_file = {q(folder.secret_file)}
# `callcenter demo` keeps its own database, recordings and reports here, emptied at each start.
demo_directory = {q(folder.demo)}

[scripts]
# The centre's own scripts (<name>.yaml), wording (prompts/<locale>.yaml) and recorded prompts
# (sounds/<locale>/<key>.wav): each replaces the standard script of the same name or prompt of the same key.
# `callcenter prompts build --missing-only` synthesises the prompts not recorded into its sounds/.
directory = {q(folder.scripts)}
{base}
# Prompts whose words depend on the call (the agent's greeting), rendered once per text.
rendered_audio_directory = {q(folder.rendered_audio)}
"""
