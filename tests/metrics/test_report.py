"""Reports: plain data first, then table, JSON and self-contained HTML over the same data."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hand_timeline import HandCall

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.metrics.report import ReportError, TicketSources, build_report, render, write_html_report
from callcenter.metrics.windows import Selection, day_window
from callcenter.metrics.work_orders import callback_rows, sla_rows, ticket_figures

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 20)


@dataclass(frozen=True)
class FakeOutcome:
    number: str
    deadline: str
    met: bool | None


def fake_sla(session: Any, start: datetime, end: datetime) -> list[FakeOutcome]:
    assert session is not None and start < end
    return [
        FakeOutcome("GD1", "first_contact", True),
        FakeOutcome("GD2", "first_contact", False),
        FakeOutcome("GD3", "first_contact", None),
        FakeOutcome("GD1", "reply", True),
    ]


def fake_callbacks(session: Any, start: datetime, end: datetime) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(level=1, target_rate=1.0, orders_closed=4, due=4, done=3, sampling_rate=1.0),
        SimpleNamespace(level=2, target_rate=0.10, orders_closed=4, due=0, done=0, sampling_rate=0.0),
    ]


FAKES = TicketSources(fake_sla, fake_callbacks)


def _day(tl: Timeline) -> None:
    for i, (hour, agent, group, wait) in enumerate(
        [(9, "A01", "default", 4.0), (9, "A02", "default", 30.0), (14, "B01", "billing<&>", 6.0)]
    ):
        HandCall(tl, f"c{i}", datetime(2026, 11, 20, hour, 5, tzinfo=SH)).offered(group).ivr().at(
            8, ev.QUEUE_ENTERED, group=group
        ).rings(8, agent, 1).at(8 + wait, ev.AGENT_ANSWERED, agent=agent, group=group, seconds=4.0, wait=wait).at(
            120, ev.HANGUP, by="caller", disposition="normal"
        )
    HandCall(tl, "gone", datetime(2026, 11, 20, 9, 30, tzinfo=SH)).offered().ivr().at(8, ev.QUEUE_ENTERED).at(
        20, ev.HANGUP, by="caller", disposition="abandoned"
    )
    tl.flush_sync()


@pytest.fixture
def report(settings: Settings, sqlite_url: str) -> dict[str, Any]:
    settings = replace(settings, database=replace(settings.database, url=sqlite_url))
    tl = Timeline(sqlite_url)
    _day(tl)
    return build_report(
        settings, tl, day_window(DAY, SH), title="20261120话务日报", kind="daily", ticket_sources=FAKES,
        generated_at=datetime(2026, 11, 21, 0, 30, tzinfo=UTC),
    )


def test_the_report_data_holds_every_cut_and_the_work_orders(report: dict[str, Any]) -> None:
    t = report["total"]
    assert (t["calls_offered"], t["transferred_to_agents"], t["answered_by_agents"]) == (4, 4, 3)
    assert (t["answer_rate"], t["service_level"], t["abandon_rate"]) == (75.0, 50.0, 25.0)
    assert [(h["hour"], h["calls_offered"]) for h in report["hour_of_day"]] == [("09:00", 3), ("14:00", 1)]
    assert [(g["group"], g["calls_offered"]) for g in report["groups"]] == [("billing<&>", 1), ("default", 3)]
    assert [a["agent"] for a in report["agents"]] == ["A01", "A02", "B01"]
    assert report["days"][0]["working_day"] is True  # Friday 20 November 2026
    assert report["window"] == {
        "start": "2026-11-20T00:00:00+08:00", "end": "2026-11-21T00:00:00+08:00", "timezone": "Asia/Shanghai",
    }
    assert report["tickets"]["sla"] == [
        {"deadline": "first_contact", "met": 1, "missed": 1, "pending": 1, "due": 2, "compliance": 50.0},
        {"deadline": "reply", "met": 1, "missed": 0, "pending": 0, "due": 1, "compliance": 100.0},
    ]
    level1, level2 = report["tickets"]["callbacks"]
    assert (level1["completion"], level1["sampling"], level1["sampling_met"]) == (75.0, 100.0, True)
    assert (level2["completion"], level2["sampling"], level2["sampling_target"], level2["sampling_met"]) == (
        None, 0.0, 10.0, False,
    )
    assert json.loads(render(report, "json")) == report


def test_the_table_names_each_figure_with_its_rule(report: dict[str, Any]) -> None:
    text = render(report, "table")
    assert "20261120话务日报" in text
    assert any(line.startswith("接通率 answer rate") and "R-122" in line and line.endswith("75%")
               for line in text.splitlines())
    assert "first_contact" in text and "compliance 50%" in text
    assert "L2" in text and "BELOW FLOOR" in text


def test_the_html_report_is_self_contained_with_inline_svg_charts(report: dict[str, Any], tmp_path: Path) -> None:
    path = write_html_report(report, tmp_path / "out" / "day.html")
    html = path.read_text(encoding="utf-8")
    assert html.count("<svg") == 6
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "billing&lt;&amp;&gt;" in html and "billing<&>" not in html  # names are escaped
    assert "服务水平 Service level by hour" in html and "target 80%" in html


def test_a_report_without_work_orders_says_so(settings: Settings) -> None:
    tl = Timeline(None)
    _day(tl)
    report = build_report(settings, tl, day_window(DAY, SH), ticket_sources=None)
    assert report["tickets"]["available"] is False
    assert "not available" in render(report, "html")
    only_a02 = build_report(settings, tl, day_window(DAY, SH), selection=Selection(agent="A02"), ticket_sources=None)
    assert (only_a02["total"]["calls_offered"], only_a02["total"]["service_level"]) == (1, 0.0)


def test_unknown_formats_and_unwritable_paths_are_report_errors(report: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="unknown report format 'pdf'"):
        render(report, "pdf")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match="cannot write report"):
        write_html_report(report, blocker / "day.html")


def test_the_tickets_service_answers_for_an_empty_database(db_url: str) -> None:
    figures = ticket_figures(db_url, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    assert figures["available"] is True and figures["sla"] == []
    assert [(row["level"], row["due"], row["sampling"]) for row in figures["callbacks"]] == [
        (1, 0, None), (2, 0, None), (3, 0, None),
    ]


def test_aggregation_of_outcomes_and_callback_rows() -> None:
    assert sla_rows([]) == [] and callback_rows([]) == []
    rows = sla_rows([FakeOutcome("GD9", "close", None)])
    assert rows == [{"deadline": "close", "met": 0, "missed": 0, "pending": 1, "due": 0, "compliance": None}]


def test_sla_compliance_comes_from_real_work_orders(settings: Settings, db_url: str) -> None:
    from callcenter.store import session_scope
    from callcenter.tickets import service

    settings = replace(settings, database=replace(settings.database, url=db_url))
    accepted = datetime(2026, 11, 20, 10, 0, tzinfo=SH)
    with session_scope(db_url) as s:
        numbers = [
            service.create_order(s, settings, category="complaint", summary=f"投诉 {i}", accepted_at=accepted,
                                 actor="A01").number
            for i in range(2)
        ]
        # first contact within 45 minutes; one order is contacted after 10 minutes, the other never.
        service.record_contact(s, numbers[0], actor="A01", at=accepted.replace(minute=10))
    report = build_report(settings, Timeline(db_url), day_window(DAY, SH))
    first_contact = {row["deadline"]: row for row in report["tickets"]["sla"]}["first_contact"]
    assert (first_contact["met"], first_contact["missed"], first_contact["compliance"]) == (1, 1, 50.0)


def test_an_empty_window_renders_in_every_format(settings: Settings) -> None:
    report = build_report(settings, Timeline(None), day_window(DAY, SH), ticket_sources=None)
    assert report["total"]["calls_offered"] == 0 and report["hour_of_day"] == []
    assert "no calls" in render(report, "html")
    assert "answer rate" in render(report, "table")
    assert json.loads(render(report, "json"))["total"]["answer_rate"] is None
