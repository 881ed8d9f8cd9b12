"""``callcenter tickets``: the commands of issue 5, and a clear one-line error with exit code 2 on bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import structlog

from callcenter.cli import main


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("CALLCENTER_SERVICE__LOG_JSON", "true")
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    # main() would point structlog and the root logger at pytest's captured stderr, which is closed after
    # this test (later tests would fail on their first log line): log lines go to whatever stderr is current.
    monkeypatch.setattr("callcenter.logs.configure_logging", lambda *a, **k: None)
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()))  # type: ignore[arg-type]

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["tickets", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    structlog.configure(**saved)


class _CurrentStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def test_due_prints_deadlines_without_storing(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("due", "--category", "complaint", "--at", "2026-09-30T15:00+08:00", "--json")
    assert code == 0
    data = json.loads(out)
    assert [(d["name"], d["due_at"]) for d in data["deadlines"]] == [
        ("first_contact", "2026-09-30T15:45:00+08:00"),
        ("reply", "2026-10-09T23:59:59+08:00"),
        ("close", "2026-10-13T23:59:59+08:00"),
        ("callback", None),
    ]
    assert cli("list", "--json")[1].strip() == "[]"


def test_new_show_and_list_overdue(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("new", "--category", "complaint", "--major", "--at", "2026-02-12T10:00+08:00",
                       "--caller", "13812345678", "--summary", "春节前停气", "--json")
    assert code == 0
    order = json.loads(out)
    assert order["number"] == "GD20260212-000001" and order["major"] is True
    assert {d["name"]: d["due_at"] for d in order["deadlines"]}["close"] == "2026-02-24T23:59:59+08:00"
    code, out, _ = cli("show", order["number"], "--json")
    shown = json.loads(out)
    assert code == 0 and shown["summary"] == "春节前停气" and shown["history"][0]["action"] == "created"
    code, out, _ = cli("list", "--overdue", "--at", "2026-02-12T10:44+08:00", "--json")
    assert json.loads(out) == []  # first contact is due at 10:45
    code, out, _ = cli("list", "--overdue", "--at", "2026-02-12T10:46+08:00", "--json")
    late = json.loads(out)
    assert [o["number"] for o in late] == [order["number"]]
    assert [d["name"] for d in late[0]["deadlines"] if d["overdue"]] == ["first_contact"]
    code, out, _ = cli("list", "--overdue", "--at", "2026-02-12T10:46+08:00")
    assert "OVERDUE: first_contact" in out


def test_confidential_order_is_hidden_from_an_agent_on_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = cli("new", "--category", "report", "--summary", "举报", "--confidential", "--json",
                    "--at", "2026-11-20T09:00+08:00")
    number = json.loads(out)["number"]
    assert cli("list", "--role", "agent", "--json")[1].strip() == "[]"
    code, _, err = cli("show", number, "--role", "agent")
    assert code == 2 and "does not exist" in err


def test_unknown_year_prints_a_warning_and_marks_the_deadline(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("due", "--category", "complaint", "--at", "2027-03-01T10:00+08:00", "--json")
    assert code == 0
    assert "warning: the statutory calendar has no data for 2027" in err
    assert {d["name"]: d["provisional"] for d in json.loads(out)["deadlines"]}["reply"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("due", "--category", "billing", "--at", "2026-09-30T15:00+08:00"), "unknown category 'billing'"),
        (("due", "--category", "complaint", "--at", "2026-09-30T15:00"), "has no UTC offset"),
        (("due", "--category", "complaint", "--at", "yesterday"), "is not an ISO 8601 time"),
        (("new", "--category", "consultation", "--major", "--summary", "x"), "cannot be major"),
        (("new", "--category", "complaint", "--summary", " "), "summary: must not be empty"),
        (("show", "GD20260101-999999"), "'GD20260101-999999' does not exist"),
        (("new", "--category", "complaint", "--summary", "x", "--caller", "138abc"), "caller number '138abc'"),
        (("list", "--overdue", "--at", "2026-09-30 15:00"), "has no UTC offset"),
        (("sla", "--from", "2026-10-31T00:00+08:00", "--to", "2026-10-01T00:00+08:00"), "before it starts"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(cli, argv: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    lines = [ln for ln in err.splitlines() if ln.startswith("callcenter: error:")]
    assert len(lines) == 1 and message in lines[0]


def test_missing_required_option_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        cli("due", "--category", "complaint")
    assert exc.value.code == 2
