"""``callcenter callbacks``: campaigns, the do-not-call list, due callback tasks, booking a customer's time.

Times are ISO 8601 with an offset (``2026-12-07T10:00+08:00``), days ISO dates; output times are in the centre's
time zone. Any bad input (unknown campaign, bad hours, naive time, a number already listed) is one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from callcenter.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("callbacks", help="callbacks the system dials (回访): campaigns, do-not-call, due tasks")
    csub = p.add_subparsers(dest="callbacks_command", required=True)

    camp = csub.add_parser("campaign", help="callback campaigns").add_subparsers(dest="campaign_command",
                                                                               required=True)
    add = camp.add_parser("add", help="add a campaign")
    add.add_argument("name")
    add.add_argument("--kind", required=True, help="closing, complaint, missed, unresolved, periodic, questionnaire")
    add.add_argument("--mode", required=True, help="preview, progressive or survey")
    add.add_argument("--group", required=True, help="the agent group that makes the calls")
    add.add_argument("--script", required=True, help="the library script, e.g. callback_preview, callback_survey")
    add.add_argument("--from", dest="first_day", help="first day of the window (YYYY-MM-DD)")
    add.add_argument("--to", dest="last_day", help="last day of the window (YYYY-MM-DD)")
    add.add_argument("--hours", default="09:00-12:00,14:00-20:00", help="local calling hours (R-103)")
    add.add_argument("--rest-days", action="store_true", help="call on rest days and holidays too")
    add.add_argument("--max-attempts", default="3", help="attempts before a task ends unreached (default 3)")
    add.add_argument("--retry", default="30m,2h,next", help="waits after unreached attempts (R-96)")
    add.add_argument("--scale", default="3", help="satisfaction scale: 3 (满意/基本满意/不满意) or 5 (1-5)")
    add.add_argument("--subject", default="问题处理质量和服务", help="the matter the R-105 opening names")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=_campaign_add)
    lst = camp.add_parser("list", help="list campaigns")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=_campaign_list)
    show = camp.add_parser("show", help="one campaign with its task counts")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_campaign_show)

    dnc = csub.add_parser("dnc", help="the do-not-call list").add_subparsers(dest="dnc_command", required=True)
    dadd = dnc.add_parser("add", help="never call this number back")
    dadd.add_argument("number")
    dadd.add_argument("--reason", required=True)
    dadd.add_argument("--by", default="cli", help="who adds it")
    dadd.set_defaults(handler=_dnc_add)
    drem = dnc.add_parser("remove", help="take a number off the list")
    drem.add_argument("number")
    drem.set_defaults(handler=_dnc_remove)
    dlst = dnc.add_parser("list", help="the numbers on the list")
    dlst.add_argument("--json", action="store_true")
    dlst.set_defaults(handler=_dnc_list)

    due = csub.add_parser("due", help="callback tasks due now (or --at), as the dialer or an agent would get them")
    due.add_argument("--at", help="the instant (default: now)")
    due.add_argument("--agent", help="an agent's preview queue (with --group)")
    due.add_argument("--group", action="append", help="agent group (repeatable)")
    due.add_argument("--mode", help="only campaigns of this mode")
    due.add_argument("--limit", default="50")
    due.add_argument("--json", action="store_true")
    due.set_defaults(handler=_due)

    book = csub.add_parser("book", help="call a task at a time the customer asked for (R-103)")
    book.add_argument("task")
    book.add_argument("--at", required=True, help="the time, ISO 8601 with offset")
    book.add_argument("--by", default="cli", help="who books it")
    book.add_argument("--reschedule", action="store_true",
                      help="not the customer's time: move it into the calling hours")
    book.add_argument("--json", action="store_true")
    book.set_defaults(handler=_book)

    load = csub.add_parser("load", help="a list of customers for a campaign: order numbers, or numbers with a name "
                                        "(R-95, R-102)")
    load.add_argument("campaign")
    load.add_argument("file", help="one customer per line (UTF-8); - reads standard input")
    load.add_argument("--json", action="store_true")
    load.set_defaults(handler=_load)

    sync = csub.add_parser("sync", help="make the tasks of closed orders' callbacks that have none (R-94, R-101)")
    sync.set_defaults(handler=_sync)


# ---------------------------------------------------------------------------------------------- parsing


def _int(text: str, what: str, low: int, high: int) -> int:
    from callcenter.callbacks.errors import CallbackError

    try:
        value = int(text)
    except ValueError:
        raise CallbackError(f"{what}: {text!r} is not a whole number") from None
    if not low <= value <= high:
        raise CallbackError(f"{what}: {value} is not within {low} to {high}")
    return value


def _day(text: str | None, what: str) -> date | None:
    from callcenter.callbacks.errors import CallbackError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CallbackError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def _instant(text: str | None, what: str) -> datetime:
    from callcenter.tickets.deadlines import parse_instant

    return datetime.now(UTC) if text is None else parse_instant(text, what)


def _db(settings: Settings) -> str:
    from callcenter.store import ensure_schema

    ensure_schema(settings.database.url)
    return settings.database.url


def _emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if getattr(args, "json", False) else text())


# ---------------------------------------------------------------------------------------------- campaigns


def _campaign_add(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.callbacks.campaigns import add_campaign
    from callcenter.store import session_scope

    max_attempts = _int(args.max_attempts, "--max-attempts", 1, 10)
    first, last = _day(args.first_day, "--from"), _day(args.last_day, "--to")
    with session_scope(_db(settings)) as session:
        view = add_campaign(
            session, name=args.name, kind=args.kind, mode=args.mode, agent_group=args.group, script=args.script,
            at=datetime.now(UTC), first_day=first, last_day=last, hours=args.hours, rest_days=args.rest_days,
            max_attempts=max_attempts, retry=args.retry, scale=args.scale, subject=args.subject,
        )
    _emit(args, view.as_json(), lambda: _campaign_line(view.as_json()))
    return 0


def _campaign_line(c: dict[str, Any]) -> str:
    window = f"{c['first_day'] or '…'}..{c['last_day'] or '…'}"
    days = "every day" if c["rest_days"] else "working days"
    return (f"{c['name']:<16}{c['kind']:<14}{c['mode']:<12}group {c['agent_group']:<10}script {c['script']:<20}"
            f"{c['hours']} {days}  {window}  attempts {c['max_attempts']} ({c['retry']})  scale {c['scale']}")


def _campaign_list(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.callbacks.campaigns import list_campaigns
    from callcenter.store import session_scope

    with session_scope(_db(settings)) as session:
        data = [c.as_json() for c in list_campaigns(session)]
    _emit(args, data, lambda: "\n".join(_campaign_line(c) for c in data) or "no campaigns")
    return 0


def _campaign_show(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import func, select

    from callcenter.callbacks.campaigns import get_campaign
    from callcenter.callbacks.models import CallbackTask
    from callcenter.store import session_scope

    with session_scope(_db(settings)) as session:
        view = get_campaign(session, args.name)
        rows = session.execute(
            select(CallbackTask.status, func.count()).where(CallbackTask.campaign_id == view.id)
            .group_by(CallbackTask.status))
        counts: dict[str, int] = {status: n for status, n in rows}
    data = {**view.as_json(), "tasks": counts}
    _emit(args, data, lambda: _campaign_line(data) + "\n  tasks: " +
          (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    return 0


# ---------------------------------------------------------------------------------------------- do-not-call


def _dnc_add(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.callbacks.dnc import add_number
    from callcenter.store import session_scope

    with session_scope(_db(settings)) as session:
        entry = add_number(session, args.number, reason=args.reason, by=args.by, at=datetime.now(UTC))
    print(f"{entry.number} will not be called back ({entry.reason})")
    return 0


def _dnc_remove(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.callbacks.dnc import remove_number
    from callcenter.store import session_scope

    with session_scope(_db(settings)) as session:
        remove_number(session, args.number)
    print(f"{args.number} may be called back again")
    return 0


def _dnc_list(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.callbacks.dnc import list_numbers
    from callcenter.store import session_scope

    tz = settings.service.tz
    with session_scope(_db(settings)) as session:
        data = [{"number": e.number, "reason": e.reason, "added_by": e.added_by,
                 "added_at": e.added_at.astimezone(tz).isoformat(timespec="seconds")} for e in list_numbers(session)]
    _emit(args, data, lambda: "\n".join(f"{e['number']:<16}{e['added_at']}  {e['added_by']:<10}{e['reason']}"
                                        for e in data) or "the do-not-call list is empty")
    return 0


# ---------------------------------------------------------------------------------------------- tasks


def _load(args: argparse.Namespace, settings: Settings) -> int:
    import sys
    from pathlib import Path

    from callcenter.callbacks.errors import CallbackError
    from callcenter.callbacks.lists import load_list, parse_list
    from callcenter.store import session_scope

    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CallbackError(f"list {args.file}: cannot be read ({exc})") from None
    customers = parse_list(text.splitlines())
    with session_scope(_db(settings)) as session:
        report = load_list(session, settings, args.campaign, customers, datetime.now(UTC))
    skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(report.skipped.items()))
    _emit(args, report.as_dict(), lambda: f"{report.campaign}: {report.made} tasks made, {report.already} already "
                                          f"there" + (f", skipped: {skipped}" if skipped else ""))
    return 0


def _due(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.callbacks.errors import CallbackError
    from callcenter.callbacks.queue import due_for_agent, due_tasks
    from callcenter.store import session_scope

    at = _instant(args.at, "--at")
    limit = _int(args.limit, "--limit", 1, 500)
    tz = settings.service.tz
    with session_scope(_db(settings)) as session:
        if args.agent:
            if not args.group:
                raise CallbackError("--agent: name the agent's groups with --group")
            tasks = [d.task for d in due_for_agent(session, args.agent, args.group, at, limit, settings=settings)]
        else:
            tasks = due_tasks(session, settings, at, limit, groups=args.group, mode=args.mode)
    data = [t.as_json(tz) for t in tasks]
    _emit(args, data, lambda: "\n".join(_task_line(t) for t in data) or "no callback is due")
    return 0


def _task_line(t: dict[str, Any]) -> str:
    about = f"{t['order_number']} L{t['level']}" if t["order_number"] else f"{t['kind']} x{t['calls']}"
    keep = f"  for {t['preferred_agent']}" if t["preferred_agent"] else ""
    booked = "  booked" if t["booked_at"] else ""
    return (f"#{t['id']:<7}{t['campaign']:<14}{about:<26}{t['number']:<16}next {t['next_at']}  "
            f"attempt {t['attempts'] + 1}/{t['max_attempts']}{keep}{booked}")


def _book(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.callbacks.outcomes import book
    from callcenter.store import session_scope

    task_id = _int(args.task, "task", 1, 2**62)
    when = _instant(args.at, "--at")
    with session_scope(_db(settings)) as session:
        view = book(session, settings, task_id, when, now=datetime.now(UTC), by=args.by,
                    customer_asked=not args.reschedule)
    data = view.as_json(settings.service.tz)
    _emit(args, data, lambda: _task_line(data))
    return 0


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.callbacks.sources import sync_order_callbacks
    from callcenter.store import session_scope

    with session_scope(_db(settings)) as session:
        made = sync_order_callbacks(session, settings, datetime.now(UTC))
    print(f"{made} callback task(s) made")
    return 0
