"""``callcenter report``: each format on a real database; bad input is one line and exit code 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog
from hand_timeline import HandCall

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.cli import main

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def database(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", sqlite_url)
    monkeypatch.setenv("CALLCENTER_SERVICE__LOG_LEVEL", "warning")
    tl = Timeline(sqlite_url)
    for call_id, agent, group in (("c1", "A01", "default"), ("c2", "B01", "billing")):
        HandCall(tl, call_id, datetime(2026, 11, 20, 10, 0, tzinfo=SH)).offered(group).ivr().at(
            8, ev.QUEUE_ENTERED, group=group
        ).rings(8, agent, 2).at(15, ev.AGENT_ANSWERED, agent=agent, group=group, seconds=7.0, wait=7.0).at(
            90, ev.HANGUP, by="caller", disposition="normal"
        )
    tl.flush_sync()
    yield sqlite_url
    # main() pointed structlog at the captured stderr, which pytest closes after the test.
    structlog.reset_defaults()


def test_json_for_one_group(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", "--from", "2026-11-20", "--to", "2026-11-21", "--group", "billing", "--format", "json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"]["calls_offered"] == 1 and report["total"]["answer_rate"] == 100.0
    assert report["selection"]["group"] == "billing"
    assert report["tickets"]["available"] is True  # the tickets service answered on the same database


def test_table_for_one_agent_and_html_to_a_file(database: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--from", "2026-11-20T00:00+08:00", "--to", "2026-11-21T00:00+08:00",
                 "--agent", "A01", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "agent A01" in out and "A01" in out and "B01" not in out
    target = tmp_path / "report.html"
    assert main(["report", "--from", "2026-11-20", "--to", "2026-11-21", "--format", "html",
                 "--output", str(target)]) == 0
    assert "<svg" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday", "--to", "2026-11-21"], "--from: 'yesterday' is not an ISO date or time"),
        (["--from", "2026-11-20", "--to", "2026-13-01"], "--to: '2026-13-01' is not an ISO date or time"),
        (["--from", "2026-11-21", "--to", "2026-11-20"], "ends (2026-11-20T00:00:00+08:00) before it starts"),
        (["--from", "2026-11-20", "--to", "2026-11-21", "--group", " "], "--group: must not be empty"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    database: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["report", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("callcenter: error: ") and message in err and err.count("\n") == 1


def test_an_unknown_format_is_refused_by_the_parser(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--from", "2026-11-20", "--to", "2026-11-21", "--format", "pdf"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'pdf'" in capsys.readouterr().err


def test_working_hours_on_the_command_line(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--from", "2026-11-20", "--to", "2026-11-21", "--working-hours", "10:30-18:00",
                 "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"]["calls_offered"] == 0  # both calls came at 10:00
    assert report["selection"]["working_hours"] == "10:30-18:00"
    assert main(["report", "--from", "2026-11-20", "--to", "2026-11-21", "--working-hours", "9-5"]) == 2
    assert "--working-hours: '9-5' is not HH:MM-HH:MM" in capsys.readouterr().err
