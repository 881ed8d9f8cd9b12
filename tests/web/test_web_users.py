"""Accounts: argon2 hashes, roles, clear errors for bad input (R-120, R-143)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.cli import main
from callcenter.store import session_scope
from callcenter.web.errors import SignInFailed, UserError
from callcenter.web.users import UserRecord, add_user, authenticate, list_users


def test_password_is_stored_as_argon2id_and_verifies(db_url: str) -> None:
    add_user(db_url, "zhang", "agent", "s3cret-pass", work_number="8001")
    with session_scope(db_url) as s:
        stored = s.scalar(select(UserRecord.password_hash).where(UserRecord.name == "zhang"))
    assert stored.startswith("$argon2id$") and "s3cret-pass" not in stored
    user = authenticate(db_url, "zhang", "s3cret-pass")
    assert (user.name, user.role, user.work_number) == ("zhang", "agent", "8001")


def test_wrong_password_and_unknown_name_fail_alike(sqlite_url: str) -> None:
    add_user(sqlite_url, "li", "qa", "another-pass")
    with pytest.raises(SignInFailed) as wrong:
        authenticate(sqlite_url, "li", "nope-nope-nope")
    with pytest.raises(SignInFailed) as unknown:
        authenticate(sqlite_url, "nobody", "another-pass")
    assert str(wrong.value) == str(unknown.value)


@pytest.mark.parametrize(
    ("name", "role", "password", "work_number", "message"),
    [
        ("x", "agent", "long-enough", "", "user name 'x'"),
        ("wang", "boss", "long-enough", "", "role 'boss'"),
        ("wang", "agent", "short", "", "at least 8 characters"),
        ("wang", "agent", "long-enough", "80a1", "work number '80a1'"),
    ],
)
def test_bad_account_input_is_refused_with_the_field_named(
    sqlite_url: str, name: str, role: str, password: str, work_number: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        add_user(sqlite_url, name, role, password, work_number=work_number)


def test_duplicate_name_is_refused(sqlite_url: str) -> None:
    add_user(sqlite_url, "zhao", "supervisor", "long-enough")
    with pytest.raises(UserError, match="already exists"):
        add_user(sqlite_url, "zhao", "qa", "long-enough")


def test_cli_users_add_and_list(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", sqlite_url)
    assert main(["users", "add", "qian", "--role", "qa", "--password", "long-enough-pw"]) == 0
    assert "qian" in capsys.readouterr().out
    assert [u.name for u in list_users(sqlite_url, "qa")] == ["qian"]
    assert main(["users", "add", "qian", "--role", "qa", "--password", "long-enough-pw"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_generates_a_password_when_none_is_given(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", sqlite_url)
    assert main(["users", "add", "sun", "--role", "agent", "--work-number", "8002"]) == 0
    out = capsys.readouterr().out
    password = out.split("password: ", 1)[1].split()[0]
    assert authenticate(sqlite_url, "sun", password).work_number == "8002"
