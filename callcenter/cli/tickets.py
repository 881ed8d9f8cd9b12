"""``callcenter tickets``: create work orders, show their deadlines, list the overdue ones.

Times are ISO 8601 with an offset (``2026-09-30T15:00+08:00``); output times are in the centre's time zone
(``service.timezone``). Any bad input (unknown category, naive time, end before start, unknown order number)
is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from callcenter.config import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tickets", help="work orders (工单) and their SLA deadlines")
    tsub = p.add_subparsers(dest="tickets_command", required=True)

    new = tsub.add_parser("new", help="create a work order and print it with all its deadlines")
    _order_args(new)
    new.add_argument("--caller", help="caller number")
    new.add_argument("--summary", required=True, help="what the customer reported")
    new.add_argument("--subcategory", help="R-72 subject: safety, supply_quality, network, service_quality, …")
    new.add_argument("--confidential", action="store_true", help="R-82: only permitted roles may see it")
    new.add_argument("--call-id", help="the call it came from")
    new.add_argument("--actor", default="cli", help="who accepts it (first responsible, R-74)")
    new.set_defaults(handler=_new)

    due = tsub.add_parser("due", help="print the deadlines an order would get, without storing anything")
    _order_args(due, at_required=True)
    due.set_defaults(handler=_due)

    lst = tsub.add_parser("list", help="list work orders")
    lst.add_argument("--overdue", action="store_true", help="only orders past an unmet deadline")
    lst.add_argument("--at", help="the instant to judge 'overdue' at (default: now)")
    lst.add_argument("--limit", type=int, default=100)
    _viewer_args(lst)
    lst.set_defaults(handler=_list)

    show = tsub.add_parser("show", help="one work order with its deadlines and history")
    show.add_argument("number")
    _viewer_args(show)
    show.set_defaults(handler=_show)

    sla = tsub.add_parser("sla", help="SLA outcomes per deadline and callback sampling for a period")
    sla.add_argument("--from", dest="start", required=True, help="period start, ISO 8601 with offset")
    sla.add_argument("--to", dest="end", required=True, help="period end, ISO 8601 with offset")
    sla.add_argument("--json", action="store_true")
    sla.set_defaults(handler=_sla)

    esc = tsub.add_parser("escalate", help="run the overdue job once (escalates each missed deadline once)")
    esc.add_argument("--at", help="the instant to judge at (default: now)")
    esc.add_argument("--json", action="store_true")
    esc.set_defaults(handler=_escalate)


def _order_args(p: argparse.ArgumentParser, *, at_required: bool = False) -> None:
    p.add_argument(
        "--category", required=True, help="R-71: complaint, report, opinion, suggestion, consultation, repair"
    )
    p.add_argument("--major", action="store_true", help="a major complaint (R-76, R-79)")
    p.add_argument("--at", required=at_required, help="acceptance time, ISO 8601 with offset (default: now)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _viewer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", default="admin", help="role to query as (confidential orders need supervisor/admin)")
    p.add_argument("--json", action="store_true")


def _instant(text: str | None, what: str) -> datetime:
    from callcenter.tickets.deadlines import parse_instant

    return datetime.now(UTC) if text is None else parse_instant(text, what)


def _db(settings: Settings) -> str:
    from callcenter.store import ensure_schema

    ensure_schema(settings.database.url)
    return settings.database.url


def _new(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import session_scope
    from callcenter.tickets.service import create_order

    at = _instant(args.at, "--at")
    with _calendar_warnings(), session_scope(_db(settings)) as session:
        order = create_order(
            session, settings, category=args.category, major=args.major, accepted_at=at, summary=args.summary,
            caller_number=args.caller, subcategory=args.subcategory, confidential=args.confidential,
            call_id=args.call_id, actor=args.actor,
        )
    _emit(args, order.as_json(settings.service.tz), lambda: _order_text(order.as_json(settings.service.tz)))
    return 0


def _due(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.tickets.deadlines import iso
    from callcenter.tickets.service import due_dates

    at = _instant(args.at, "--at")
    with _calendar_warnings():
        deadlines = due_dates(settings, args.category, args.major, at)
    tz = settings.service.tz
    data = {"category": args.category, "major": args.major, "accepted_at": iso(at, tz),
            "policy": settings.tickets.policy, "deadlines": [d.as_json(tz) for d in deadlines]}
    _emit(args, data, lambda: _deadlines_text(data["deadlines"]))
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import session_scope
    from callcenter.tickets.service import Viewer, list_orders

    if args.limit < 1:
        from callcenter.tickets.errors import TicketError

        raise TicketError(f"--limit: {args.limit} must be at least 1")
    at = _instant(args.at, "--at")
    with session_scope(_db(settings)) as session:
        orders = list_orders(session, Viewer("cli", args.role), overdue_at=at if args.overdue else None,
                             limit=args.limit)
    tz = settings.service.tz
    data = [o.as_json(tz, now=at) for o in orders]
    _emit(args, data, lambda: "\n".join(_order_line(o) for o in data) or "no work orders")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import session_scope
    from callcenter.tickets.deadlines import iso
    from callcenter.tickets.service import Viewer, get_order, order_history

    viewer = Viewer("cli", args.role)
    tz = settings.service.tz
    with session_scope(_db(settings)) as session:
        data = get_order(session, args.number, viewer).as_json(tz, now=datetime.now(UTC))
        data["history"] = [
            {"at": iso(h.at, tz), "actor": h.actor, "action": h.action, "changes": h.changes}
            for h in order_history(session, args.number, viewer)
        ]
    _emit(args, data, lambda: _order_text(data))
    return 0


def _sla(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import session_scope
    from callcenter.tickets.deadlines import iso
    from callcenter.tickets.service import callback_stats, sla_outcomes

    start, end = _instant(args.start, "--from"), _instant(args.end, "--to")
    tz = settings.service.tz
    with session_scope(_db(settings)) as session:
        outcomes = sla_outcomes(session, start, end)
        stats = callback_stats(session, start, end)
    per_deadline: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = per_deadline.setdefault(o.deadline, {"met": 0, "missed": 0, "pending": 0})
        row["met" if o.met else "pending" if o.met is None else "missed"] += 1
    data = {
        "from": iso(start, tz), "to": iso(end, tz), "deadlines": per_deadline,
        "callbacks": [s.__dict__ for s in stats],
    }
    _emit(args, data, lambda: json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def _escalate(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store import session_scope
    from callcenter.tickets.deadlines import iso
    from callcenter.tickets.overdue import escalate_overdue

    at = _instant(args.at, "--at")
    tz = settings.service.tz
    with session_scope(_db(settings)) as session:
        done = escalate_overdue(session, at)
    data = [{"number": e.number, "deadline": e.deadline, "due_at": iso(e.due_at, tz)} for e in done]
    _emit(args, data, lambda: "\n".join(f"{e['number']}  {e['deadline']}  due {e['due_at']}" for e in data)
          or "nothing newly overdue")
    return 0


# ---------------------------------------------------------------------------------------------- output


@contextmanager
def _calendar_warnings() -> Iterator[None]:
    """Show a calendar-coverage warning as one line on stderr (not Python's warning format); output goes on."""
    from callcenter.tickets.errors import CalendarCoverageWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalendarCoverageWarning)
        try:
            yield
        finally:
            for w in caught:
                print(f"callcenter: warning: {w.message}", file=sys.stderr)


def _emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else text())


def _deadlines_text(deadlines: list[dict[str, Any]]) -> str:
    lines = []
    for d in deadlines:
        due = d["due_at"] or f"({d['limit']} after closing)"
        flag = "  PROVISIONAL (year not in the statutory calendar)" if d["provisional"] else ""
        lines.append(f"  {d['name']:<14}{d['title']:<8}{d['limit']:<18}{d['clock']:<15}{due}{flag}")
    return "\n".join(lines)


def _order_line(o: dict[str, Any]) -> str:
    late = [d["name"] for d in o["deadlines"] if d.get("overdue")]
    flag = f"  OVERDUE: {', '.join(late)}" if late else ""
    return f"{o['number']}  {o['status']:<12}{o['category']:<13}{o['accepted_at']}  {o['summary']}{flag}"


def _order_text(o: dict[str, Any]) -> str:
    head = _order_line(o)
    extra = "  confidential" if o["confidential"] else ""
    return f"{head}{extra}\n  policy {o['policy']}, version {o['version']}\n{_deadlines_text(o['deadlines'])}"
