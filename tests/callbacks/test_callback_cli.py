"""``callcenter callbacks``: campaigns, do-not-call, due tasks, booking; each bad input one line and exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import structlog

from callcenter.cli import main


class _CurrentStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    # As tests/tickets/test_cli.py: log lines go to whatever stderr is current, not a closed capture.
    monkeypatch.setattr("callcenter.logs.configure_logging", lambda *a, **k: None)
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()))  # type: ignore[arg-type]

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["callbacks", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    structlog.configure(**saved)


def test_campaigns_dnc_and_due(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("campaign", "add", "survey-dec", "--kind", "questionnaire", "--mode", "survey", "--group",
                       "outbound", "--script", "callback_survey5", "--scale", "5", "--from", "2026-12-01", "--to",
                       "2026-12-31", "--json")
    assert code == 0 and json.loads(out)["scale"] == "5"
    code, out, _ = cli("campaign", "list")
    assert code == 0 and "survey-dec" in out and "2026-12-01..2026-12-31" in out
    code, out, _ = cli("campaign", "show", "survey-dec", "--json")
    assert code == 0 and json.loads(out)["tasks"] == {}
    assert cli("dnc", "add", "138-0013-8000", "--reason", "客户要求")[0] == 0
    code, out, _ = cli("dnc", "list", "--json")
    assert [e["number"] for e in json.loads(out)] == ["13800138000"]
    assert cli("dnc", "remove", "13800138000")[0] == 0
    code, out, _ = cli("dnc", "list")
    assert "empty" in out
    code, out, _ = cli("due", "--at", "2026-12-07T10:00+08:00")
    assert code == 0 and out.strip() == "no callback is due"


def test_book_a_missed_callers_time(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from callcenter.callbacks.sources import note_missed_call
    from callcenter.config import load_settings
    from callcenter.store import ensure_schema, session_scope

    settings = load_settings(environ={"CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"})
    ensure_schema(settings.database.url)
    with session_scope(settings.database.url) as s:
        view = note_missed_call(s, settings, caller="13800138000", at=datetime(2026, 12, 7, 10, tzinfo=ZoneInfo(
            "Asia/Shanghai")), where="queue", call_id="c1")
    assert view is not None
    code, out, _ = cli("due", "--at", "2026-12-07T10:05+08:00", "--json")
    assert [t["id"] for t in json.loads(out)] == [view.id]
    code, out, err = cli("book", str(view.id), "--at", "2099-01-05T20:30+08:00", "--json")
    assert code == 0, err
    assert json.loads(out)["booked_at"] == "2099-01-05T20:30:00+08:00"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("campaign", "add", "x", "--kind", "spam", "--mode", "preview", "--group", "g", "--script", "s"),
         "campaign kind 'spam'"),
        (("campaign", "add", "x", "--kind", "missed", "--mode", "robot", "--group", "g", "--script", "s"),
         "campaign mode 'robot'"),
        (("campaign", "add", "x", "--kind", "missed", "--mode", "preview", "--group", "g", "--script", "s",
          "--hours", "20:00-09:00"), "start must come before the end"),
        (("campaign", "add", "x", "--kind", "missed", "--mode", "preview", "--group", "g", "--script", "s",
          "--max-attempts", "three"), "--max-attempts: 'three' is not a whole number"),
        (("campaign", "add", "x", "--kind", "missed", "--mode", "preview", "--group", "g", "--script", "s",
          "--retry", "soon"), "retry intervals 'soon'"),
        (("campaign", "add", "x", "--kind", "missed", "--mode", "preview", "--group", "g", "--script", "s",
          "--from", "2026-12-31", "--to", "2026-12-01"), "is before first day"),
        (("campaign", "add", "x", "--kind", "missed", "--mode", "preview", "--group", "g", "--script", "s",
          "--scale", "10"), "satisfaction scale '10'"),
        (("campaign", "add", "x", "--kind", "missed", "--mode", "preview", "--group", "g", "--script", "s",
          "--from", "Monday"), "--from: 'Monday' is not a date"),
        (("campaign", "show", "nothing"), "no campaign named 'nothing'"),
        (("dnc", "add", "anonymous", "--reason", "x"), "withheld"),
        (("dnc", "add", "12ab", "--reason", "x"), "number '12ab'"),
        (("dnc", "remove", "13800138000"), "is not on the do-not-call list"),
        (("due", "--at", "2026-12-07 10:00"), "has no UTC offset"),
        (("due", "--limit", "0"), "--limit: 0 is not within 1 to 500"),
        (("due", "--agent", "a1"), "--agent: name the agent's groups with --group"),
        (("book", "7", "--at", "2099-01-05T20:30+08:00"), "callback task 7 does not exist"),
        (("book", "seven", "--at", "2099-01-05T20:30+08:00"), "task: 'seven' is not a whole number"),
        (("book", "7", "--at", "2000-01-05T20:30+08:00"), "is not in the future"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(cli, argv: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    lines = [ln for ln in err.splitlines() if ln.startswith("callcenter: error:")]
    assert len(lines) == 1 and message in lines[0], err


def test_a_duplicate_campaign_and_number_are_refused(cli) -> None:  # type: ignore[no-untyped-def]
    args = ("campaign", "add", "c1", "--kind", "missed", "--mode", "preview", "--group", "g", "--script", "s")
    assert cli(*args)[0] == 0
    code, _, err = cli(*args)
    assert code == 2 and "campaign 'c1' already exists" in err
    assert cli("dnc", "add", "13800138000", "--reason", "x")[0] == 0
    code, _, err = cli("dnc", "add", "13800138000", "--reason", "x")
    assert code == 2 and "already on the do-not-call list" in err
