"""``callcenter users add NAME --role R [--password P] [--seat desk|webrtc]``, ``list``, ``unlock NAME``,
``reset-password NAME`` and ``set-seat NAME desk|webrtc``: web sign-in accounts. An added or reset account must
set its own password at its first sign-in (R-120)."""

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
    add.add_argument("--seat", default="desk",
                     help="an agent's phone: desk (PJSIP/<工号>, default) or webrtc (the panel in the browser)")
    add.set_defaults(handler=_add)
    ls = usub.add_parser("list", help="list the active accounts")
    ls.add_argument("--role")
    ls.set_defaults(handler=_list)
    unlock = usub.add_parser("unlock", help="lift a lock-out after repeated failed sign-ins (R-120)")
    unlock.add_argument("name")
    unlock.set_defaults(handler=_unlock)
    reset = usub.add_parser("reset-password", help="set a temporary password the account must change (R-120)")
    reset.add_argument("name")
    reset.add_argument("--password", help="at least 8 characters (default: a generated one, printed once)")
    reset.set_defaults(handler=_reset)
    seat = usub.add_parser("set-seat", help="make an agent's seat a desk phone or the browser panel (webrtc)")
    seat.add_argument("name")
    seat.add_argument("seat", help="desk | webrtc")
    seat.set_defaults(handler=_set_seat)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import ensure_schema
    from callcenter.web.users import add_user

    ensure_schema(settings.database.url)
    password = args.password or secrets.token_urlsafe(12)
    user = add_user(settings.database.url, args.name, args.role, password, display_name=args.display_name,
                    work_number=args.work_number, confidential_access=args.confidential,
                    must_change_password=True, seat=args.seat)
    print(f"created {user.role} {user.name}" + (f" (工号 {user.work_number})" if user.work_number else "")
          + (f", seat {user.seat}" if user.seat != "desk" else ""))
    if not args.password:
        print(f"password: {password}")
    print("the first sign-in must set a new password (R-120)")
    return 0


def _unlock(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import ensure_schema
    from callcenter.web.passwords import unlock

    ensure_schema(settings.database.url)
    was = unlock(settings.database.url, args.name)
    print(f"unlocked {args.name}" if was else f"{args.name} was not locked")
    return 0


def _reset(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from callcenter.store import ensure_schema
    from callcenter.web.passwords import admin_reset

    ensure_schema(settings.database.url)
    password = args.password or secrets.token_urlsafe(12)
    admin_reset(settings.database.url, args.name, password, datetime.now(UTC))
    print(f"reset the password of {args.name}; the next sign-in must set a new one (R-120)")
    if not args.password:
        print(f"password: {password}")
    return 0


def _set_seat(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import ensure_schema
    from callcenter.web.users import set_seat

    ensure_schema(settings.database.url)
    set_seat(settings.database.url, args.name, args.seat)
    print(f"{args.name}: seat {args.seat}; run `callcenter asterisk config --write DIR` and reload Asterisk")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import ensure_schema
    from callcenter.web.users import list_users

    ensure_schema(settings.database.url)
    for user in list_users(settings.database.url, args.role):
        extra = f" 工号 {user.work_number}" if user.work_number else ""
        seat = f" seat {user.seat}" if user.role == "agent" else ""
        print(f"{user.name}\t{user.role}{extra}{seat}{' confidential' if user.confidential_access else ''}")
    return 0
