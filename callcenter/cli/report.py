"""``callcenter report``: the section-7 figures of any window as a table, JSON or a self-contained HTML page.

    callcenter report --from 2026-11-22 --to 2026-11-23 --format html --output day.html
    callcenter report --from 2026-11-22T08:00 --to 2026-11-22T12:00+08:00 --group billing --format json

Times without an offset are local to ``service.timezone``; a bare date means its midnight. Bad input (an
unparsable time, a window that ends before it starts, an unknown format) is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, time
from pathlib import Path

from callcenter.config import Settings
from callcenter.errors import CallcenterError


class ReportArgumentError(CallcenterError):
    """A command-line argument of ``callcenter report`` that cannot be used."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="service metrics and reports (R-122..R-130)")
    p.add_argument("--from", dest="start", required=True, help="window start, ISO date or time (local if no offset)")
    p.add_argument("--to", dest="end", required=True, help="window end (exclusive), ISO date or time")
    p.add_argument("--group", help="only calls of this agent group")
    p.add_argument("--agent", help="only calls that rang this agent; answer figures are the agent's own")
    p.add_argument("--working-days-only", action="store_true",
                   help="only calls offered on working days of the work-order calendar")
    p.add_argument("--working-hours", metavar="HH:MM-HH:MM",
                   help="only calls offered in these local hours of working days (implies --working-days-only)")
    p.add_argument("--format", choices=("table", "json", "html", "csv"), default="table",
                   help="csv: time in each state per agent and day (就绪, 未就绪 per reason, 话后处理, …)")
    p.add_argument("--output", "-o", type=Path, help="write to this file instead of standard output")
    p.add_argument("--no-work-orders", action="store_true", help="leave out the work-order figures")
    p.set_defaults(handler=_report)


def parse_moment(text: str, option: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReportArgumentError(
            f"{option}: {text!r} is not an ISO date or time (e.g. 2026-11-22 or 2026-11-22T08:00+08:00)"
        ) from None


def parse_hours(text: str) -> tuple[time, time]:
    start, sep, end = text.partition("-")
    try:
        if not sep:
            raise ValueError
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise ReportArgumentError(f"--working-hours: {text!r} is not HH:MM-HH:MM (e.g. 08:30-17:30)") from None


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.calls.timeline import Timeline
    from callcenter.metrics.report import TicketSources, build_report, local_window, render, write_report
    from callcenter.metrics.windows import Selection
    from callcenter.store import ensure_schema

    window = local_window(parse_moment(args.start, "--from"), parse_moment(args.end, "--to"), settings.service.tz)
    for option, value in (("--group", args.group), ("--agent", args.agent)):
        if value is not None and not value.strip():
            raise ReportArgumentError(f"{option}: must not be empty")
    hours = parse_hours(args.working_hours) if args.working_hours is not None else None
    selection = Selection(
        group=args.group,
        agent=args.agent,
        working_days_only=args.working_days_only or hours is not None,
        working_hours=hours,
    )
    ensure_schema(settings.database.url)
    report = build_report(
        settings,
        Timeline(settings.database.url),
        window,
        selection=selection,
        ticket_sources=None if args.no_work_orders else TicketSources(),
    )
    if args.output is not None:
        write_report(report, args.output, args.format)
        print(f"report written to {args.output}")
    else:
        sys.stdout.write(render(report, args.format))
    return 0
