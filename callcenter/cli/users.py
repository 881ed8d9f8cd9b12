"""``callcenter users add NAME --role R [--password P]`` and ``callcenter users list``: web sign-in accounts."""

from __future__ import annotations

import argparse
import secrets

from callcenter.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("users", help="web accounts (agent, qa, supervisor, admin)")
    usub = p.add_subparsers(dest="users_command", required=True)
    add = usub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="agent | qa | supervisor | admin")
    add.add_argument("--password", help="at least 8 characters (default: a generated one, printed once)")
    add.add_argument("--work-number", default="", help="an agent's 工号, said in the greeting (R-12)")
    add.add_argument("--display-name", default="")
    add.add_argument("--confidential", action="store_true",
                     help="a QA reviewer may open confidential recordings (R-82)")
    add.set_defaults(handler=_add)
    ls = usub.add_parser("list", help="list the active accounts")
    ls.add_argument("--role")
    ls.set_defaults(handler=_list)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import ensure_schema
    from callcenter.web.users import add_user

    ensure_schema(settings.database.url)
    password = args.password or secrets.token_urlsafe(12)
    user = add_user(settings.database.url, args.name, args.role, password, display_name=args.display_name,
                    work_number=args.work_number, confidential_access=args.confidential)
    print(f"created {user.role} {user.name}" + (f" (工号 {user.work_number})" if user.work_number else ""))
    if not args.password:
        print(f"password: {password}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import ensure_schema
    from callcenter.web.users import list_users

    ensure_schema(settings.database.url)
    for user in list_users(settings.database.url, args.role):
        extra = f" 工号 {user.work_number}" if user.work_number else ""
        print(f"{user.name}\t{user.role}{extra}{' confidential' if user.confidential_access else ''}")
    return 0
