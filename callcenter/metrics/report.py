"""Reports of the section-7 figures for a window: built once as plain data, rendered as table, JSON or HTML.

:func:`build_report` reads the window's calls from the timeline (one pass), cuts them per hour of the day,
per day, per group and per agent, adds the work-order figures of the tickets service, and returns a plain
dict: the JSON format is that dict, and the table and HTML formats are Jinja2 templates over it
(``callcenter/metrics/templates``). The HTML report carries its charts as inline SVG and needs no network.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from callcenter.calls.rings import cadence
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.errors import CallcenterError
from callcenter.metrics import charts
from callcenter.metrics.agent_states import agent_states_csv, agent_states_section
from callcenter.metrics.callbacks import callback_section, callbacks_unavailable
from callcenter.metrics.figures import DEFINITIONS, RING_LABELS, Tally
from callcenter.metrics.load import load_summaries
from callcenter.metrics.summary import CallSummary
from callcenter.metrics.windows import ALL_CALLS, Breakdown, Selection, Window, breakdown
from callcenter.metrics.work_orders import TicketQuery, ticket_figures, unavailable
from callcenter.tickets.calendar import WorkingCalendar

FORMATS = ("table", "json", "html", "csv")  # csv: time in each state per agent and day (issue 15)
TEMPLATES = Path(__file__).parent / "templates"


class ReportError(CallcenterError):
    """A report that cannot be produced as asked (unknown format, unwritable file)."""


@dataclass(frozen=True, slots=True)
class TicketSources:
    """Where the work-order figures come from; None = ``callcenter.tickets.service``."""

    sla_outcomes: TicketQuery | None = None
    callback_stats: TicketQuery | None = None


FROM_TICKETS_SERVICE = TicketSources()


def _hour_of_day(b: Breakdown) -> list[dict[str, Any]]:
    """The hourly profile: each local hour of the day over every day of the window (R-130 「分时」)."""
    if not b.hours:
        return []
    by_hour: dict[int, Tally] = {}
    for hour, tally in b.hours.items():
        into = by_hour.get(hour.hour)
        if into is None:
            into = by_hour[hour.hour] = Tally(tally.service_level_seconds, tally.service_level_target, tally.agent)
        into.merge(tally)
    return [{"hour": f"{h:02d}:00", **by_hour[h].figures()} for h in sorted(by_hour)]


def _selection(selection: Selection) -> dict[str, Any]:
    hours = selection.working_hours
    return {
        "group": selection.group,
        "agent": selection.agent,
        "working_days_only": selection.working_days_only,
        "working_hours": None if hours is None else "-".join(t.isoformat("minutes") for t in hours),
    }


def _settings(settings: Settings) -> dict[str, Any]:
    """The settings a reader needs to interpret the figures (X, Y of R-123; the ring cadence of R-01)."""
    ring = cadence(settings.telephony.ring_cadence)
    return {
        "service_level_seconds": settings.metrics.service_level_seconds,
        "service_level_target_percent": settings.metrics.service_level_target_percent,
        "ring_cadence": ring.name,
        "three_rings_seconds": ring.limit(3),
    }


def report_from_summaries(
    summaries: list[CallSummary],
    window: Window,
    settings: Settings,
    *,
    selection: Selection = ALL_CALLS,
    title: str = "话务报表 Call report",
    kind: str = "custom",
    tickets: dict[str, Any] | None = None,
    generated_at: datetime | None = None,
    callbacks: dict[str, Any] | None = None,
    agent_states: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as plain data (the JSON format), from already summarised calls."""
    tz = settings.service.tz
    calendar = WorkingCalendar.from_settings(settings.tickets)
    b = breakdown(
        summaries,
        window,
        tz,
        settings.metrics.service_level_seconds,
        settings.metrics.service_level_target_percent,
        selection,
        calendar.is_working_day,
    )
    cut = b.as_dict(calendar.is_working_day)
    return {
        "title": title,
        "kind": kind,
        "window": {
            "start": window.start.astimezone(tz).isoformat(),
            "end": window.end.astimezone(tz).isoformat(),
            "timezone": settings.service.timezone,
        },
        "selection": _selection(selection),
        "generated_at": (generated_at or datetime.now(UTC)).astimezone(tz).isoformat(timespec="seconds"),
        "settings": _settings(settings),
        "definitions": [asdict(d) for d in DEFINITIONS],
        "total": cut["total"],
        "hour_of_day": _hour_of_day(b),
        "days": cut["days"],
        "groups": cut["groups"],
        "agents": cut["agents"],
        "tickets": tickets if tickets is not None else unavailable("work orders were left out of this report"),
        "callbacks": callbacks if callbacks is not None else callbacks_unavailable("left out of this report"),
        # Time in each state per agent and day (issue 15), from the seats' agent.state events.
        "agent_states": agent_states if agent_states is not None else {"rows": [], "states": [], "labels": {}},
    }


def build_report(
    settings: Settings,
    timeline: Timeline,
    window: Window,
    *,
    selection: Selection = ALL_CALLS,
    title: str = "话务报表 Call report",
    kind: str = "custom",
    ticket_sources: TicketSources | None = FROM_TICKETS_SERVICE,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """Read the window's calls and work orders and return the report as plain data.

    ``ticket_sources=None`` leaves the work-order section out (a timeline without a database).
    """
    summaries = load_summaries(timeline, window, cadence(settings.telephony.ring_cadence))
    states = agent_states_section(timeline, window, settings.service.tz, now=generated_at or datetime.now(UTC),
                                  reasons=settings.agents.reason_codes)
    tickets = callbacks = None
    if ticket_sources is not None:
        # In UTC: SQLite drops a datetime's offset when comparing, and the store keeps UTC.
        tickets = ticket_figures(
            settings.database.url,
            window.start.astimezone(UTC),
            window.end.astimezone(UTC),
            sla_outcomes=ticket_sources.sla_outcomes,
            callback_stats=ticket_sources.callback_stats,
        )
        callbacks = callback_section(settings.database.url, window.start.astimezone(UTC),
                                     window.end.astimezone(UTC), settings.service.tz)
    return report_from_summaries(
        summaries, window, settings, selection=selection, title=title, kind=kind, tickets=tickets,
        generated_at=generated_at, callbacks=callbacks, agent_states=states,
    )


# ---------------------------------------------------------------------------------------------- rendering


def _environment(html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]) if html else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    env.filters["pad"] = _pad
    return env


def _pad(text: object, width: int) -> str:
    """Left-align ``text`` in ``width`` terminal columns; Chinese characters take two columns each."""
    value = str(text)
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in value)
    return value + " " * max(1, width - used)


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text}{unit}" if unit in ("%", "s") else text


def _charts(report: dict[str, Any]) -> dict[str, Any]:
    total, sl = report["total"], report["settings"]
    hourly = [(row["hour"][:2], row["service_level"]) for row in report["hour_of_day"]]
    within = [(row["hour"][:2], row["within_three_rings"]) for row in report["hour_of_day"]]
    return {
        "service_level": charts.line_chart(
            f"服务水平 Service level by hour ({sl['service_level_seconds']} s)", hourly,
            target=sl["service_level_target_percent"],
        ),
        "within_three_rings": charts.line_chart("三声内接听 Answered within three rings by hour", within,
                                                target=100.0),
        "rings": charts.histogram(
            "接听响铃次数 Rings to answer", list(total["rings_to_answer"].items()),
            limit_after=RING_LABELS.index("3"),
        ),
        "seconds": charts.histogram(
            "接听秒数 Seconds to answer", list(total["seconds_to_answer"].items()), limit_after=2,
        ),
        "sla": charts.percent_bars(
            "工单时限达标率 Work-order SLA compliance",
            [(row["deadline"], row["compliance"]) for row in report["tickets"]["sla"]],
            empty="no work-order deadline fell due" if report["tickets"]["available"] else "work orders not available",
        ),
        "callbacks": charts.percent_bars(
            "回访完成率 Callback completion by level",
            [(f"L{row['level']}", row["completion"]) for row in report["tickets"]["callbacks"]],
            empty="no callbacks" if report["tickets"]["available"] else "work orders not available",
        ),
    }


def render(report: dict[str, Any], fmt: str) -> str:
    """The report as text in ``fmt`` (table, json or html)."""
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    if fmt == "table":
        return _environment(html=False).get_template("report.txt").render(r=report)
    if fmt == "html":
        return _environment(html=True).get_template("report.html").render(r=report, charts=_charts(report))
    if fmt == "csv":
        return agent_states_csv(report["agent_states"])
    raise ReportError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_report(report: dict[str, Any], path: Path, fmt: str = "html") -> Path:
    """Write the rendered report to ``path`` (folders made as needed); an HTML file is what gets screenshotted."""
    text = render(report, fmt)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # a reader (or the scheduler after a crash) never sees half a report
    except OSError as exc:
        raise ReportError(f"cannot write report {path}: {exc.strerror}") from None
    return path


def write_html_report(report: dict[str, Any], path: Path) -> Path:
    """Render ``report`` as a self-contained HTML file (for browsers and headless-Chromium screenshots)."""
    return write_report(report, path, "html")


def local_window(start: datetime, end: datetime, tz: tzinfo) -> Window:
    """A window from times that may lack an offset: naive times are local to the centre."""
    return Window(
        start if start.tzinfo else start.replace(tzinfo=tz),
        end if end.tzinfo else end.replace(tzinfo=tz),
    )


