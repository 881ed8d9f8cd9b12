"""``callcenter recordings …`` end to end on a real SQLite file and real audio."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from callcenter.cli import main
from callcenter.recordings.models import LedgerEntry
from callcenter.store import dispose_all, session_scope


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", url)
    monkeypatch.setenv("CALLCENTER_RECORDINGS__ROOT", str(tmp_path / "rec"))
    monkeypatch.setenv("CALLCENTER_RECORDINGS__MIN_FREE_BYTES", "0")
    monkeypatch.setenv("CALLCENTER_SERVICE__LOG_LEVEL", "error")
    yield url
    dispose_all()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["recordings", *argv])
    return code, capsys.readouterr().out


def test_import_list_show_hold_sweep_verify(cli_env: str, make_wav: Callable[..., Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    wav = make_wav()
    code, out = run(capsys, "import", str(wav), "--call-id", "cli-1", "--at", "2026-01-10T15:00:00",
                    "--ticket", "GD1")
    assert code == 0 and "recording 1 of call cli-1: ready" in out and "2026/01/10/cli-1.wav" in out
    code, out = run(capsys, "import", str(make_wav("b.wav")), "--call-id", "cli-2", "--at", "2026-01-10T16:00+08:00")
    assert code == 0
    code, out = run(capsys, "list", "--json")
    listing = json.loads(out)
    assert code == 0 and listing["total"] == 2 and [i["call_id"] for i in listing["items"]] == ["cli-2", "cli-1"]
    code, out = run(capsys, "show", "cli-1", "--json")
    shown = json.loads(out)
    assert shown["work_orders"] == ["GD1"] and shown["duration_seconds"] == pytest.approx(4.0, abs=0.01)
    # No tickets service knows GD1 here: an unknown order holds the recording.
    assert shown["retention"]["held_by"] == "work order GD1 is unknown"
    code, out = run(capsys, "hold", "cli-2", "--reason", "court order 17")
    assert code == 0 and "legal hold on" in out
    code, out = run(capsys, "sweep", "--dry-run", "--now", "2027-01-01T00:00:00", "--json")
    dry = json.loads(out)
    assert dry["dry_run"] and dry["would_purge"] == 0 and dry["deferred"] == 1
    code, out = run(capsys, "hold", "cli-2", "--reason", "case closed", "--release")
    assert "legal hold off" in out
    code, out = run(capsys, "sweep", "--now", "2027-01-01T00:00:00", "--json")
    swept = json.loads(out)
    assert code == 0 and swept["purged"] == 1 and swept["items"][-1]["call_id"] == "cli-2"
    code, out = run(capsys, "verify-ledger")
    assert code == 0 and "access ledger intact: 3 entries" in out  # hold, release, purge


def test_verify_ledger_names_the_tampered_entry(cli_env: str, make_wav: Callable[..., Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "import", str(make_wav()), "--call-id", "c1", "--at", "2026-01-10T15:00:00")
    for reason in ("a", "b", "c"):
        run(capsys, "hold", "c1", "--reason", reason)
    with session_scope(cli_env) as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 2).values(detail="hold: nothing to see"))
    code, out = run(capsys, "verify-ledger")
    assert code == 1 and "access ledger broken at entry 2" in out


def test_bad_input_is_one_clear_line(cli_env: str, capsys: pytest.CaptureFixture[str],
                                     make_wav: Callable[..., Path]) -> None:
    assert main(["recordings", "show", "nope"]) == 2
    assert "no recording for call 'nope'" in capsys.readouterr().err
    assert main(["recordings", "import", str(make_wav()), "--call-id", "../x"]) == 2
    assert "not a safe recording name" in capsys.readouterr().err
    assert main(["recordings", "sweep", "--now", "yesterday"]) == 2
    assert "--now: 'yesterday' is not an ISO 8601 date-time" in capsys.readouterr().err


def test_plain_text_output(cli_env: str, make_wav: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "import", str(make_wav()), "--call-id", "t-1", "--at", "2026-01-10T15:00:00")
    code, out = run(capsys, "list")
    assert code == 0 and "t-1" in out and "1 recording(s); page 1" in out
    code, out = run(capsys, "show", "t-1")
    assert code == 0 and "retention: all retention rules passed" in out
    code, out = run(capsys, "sweep", "--dry-run", "--now", "2026-07-12T23:59:59")
    assert code == 0 and "would purge 0, kept 0" in out and "t-1" not in out
    code, out = run(capsys, "sweep", "--now", "2026-07-13T00:00:00")
    assert code == 0 and out.startswith("purged") and "purged 1, kept 0, errors 0" in out
