"""``callcenter db upgrade``: bring the database to the schema of this version."""

from __future__ import annotations

import argparse

from callcenter.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="apply every pending migration")
    up.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import migrate

    migrate(settings.database.url)
    print(f"database at {settings.database.url.split('@')[-1]} is up to date")
    return 0
