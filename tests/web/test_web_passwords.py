"""Password rules (R-120): expiry by an injected clock, no reuse of the last five, a forced change for new and
reset accounts, lock-out after five failures within 15 minutes, and the admin's unlock (CLI and page)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from callcenter.cli import main
from callcenter.config import ConfigError, Settings, load_settings
from callcenter.web.app import create_app
from callcenter.web.context import WebContext
from callcenter.web.errors import SignInFailed, UserError
from callcenter.web.passwords import PasswordPolicy, account_states, admin_reset, change_password, sign_in, unlock
from callcenter.web.users import add_user

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
POLICY = PasswordPolicy()
PASSWORD = "correct-horse-1"


def test_a_password_expires_after_90_days_by_the_clock(db_url: str) -> None:
    add_user(db_url, "zhou", "qa", "first-pass-1", now=T0)
    user = sign_in(db_url, "zhou", "first-pass-1", POLICY, T0 + timedelta(days=89, hours=23))
    assert POLICY.change_reason(user, T0 + timedelta(days=89, hours=23)) is None
    assert "超过 90 天" in (POLICY.change_reason(user, T0 + timedelta(days=90)) or "")
    changed = change_password(db_url, "zhou", "first-pass-1", "second-pass-2", POLICY, T0 + timedelta(days=90))
    assert POLICY.change_reason(changed, T0 + timedelta(days=179)) is None
    assert POLICY.change_reason(changed, T0 + timedelta(days=180)) is not None


def test_none_of_the_last_five_passwords_may_be_reused(db_url: str) -> None:
    add_user(db_url, "wu", "qa", "password-0", now=T0)
    for n in range(1, 5):
        change_password(db_url, "wu", f"password-{n - 1}", f"password-{n}", POLICY, T0 + timedelta(days=n))
    # Current: password-4 (its own message); the four before it are password-0..3: all five refused.
    with pytest.raises(UserError, match="不能与当前密码相同"):
        change_password(db_url, "wu", "password-4", "password-4", POLICY, T0 + timedelta(days=9))
    for n in range(4):
        with pytest.raises(UserError, match="最近 5 次"):
            change_password(db_url, "wu", "password-4", f"password-{n}", POLICY, T0 + timedelta(days=9))
    change_password(db_url, "wu", "password-4", "password-5", POLICY, T0 + timedelta(days=10))
    # password-0 is now the sixth-latest: allowed again.
    change_password(db_url, "wu", "password-5", "password-0", POLICY, T0 + timedelta(days=11))
    with pytest.raises(UserError, match="当前密码不正确"):
        change_password(db_url, "wu", "wrong-one", "password-9", POLICY, T0 + timedelta(days=12))
    with pytest.raises(UserError, match="至少 8 个字符"):
        change_password(db_url, "wu", "password-0", "short", POLICY, T0 + timedelta(days=12))


def test_five_failures_within_15_minutes_lock_the_account_until_an_admin_unlocks_it(db_url: str) -> None:
    add_user(db_url, "zheng", "agent", "right-pass-1", now=T0)
    # Four failures, then a gap over 15 minutes: the count starts again.
    for n in range(4):
        with pytest.raises(SignInFailed, match="连续失败 5 次将锁定账户") as wrong:
            sign_in(db_url, "zheng", "wrong", POLICY, T0 + timedelta(minutes=n))
    with pytest.raises(SignInFailed) as unknown:
        sign_in(db_url, "nobody", "wrong", POLICY, T0)
    assert str(unknown.value) == str(wrong.value)  # no count or wording that tells a real name from a probe
    for n in range(4):
        with pytest.raises(SignInFailed, match="用户名或密码错误"):
            sign_in(db_url, "zheng", "wrong", POLICY, T0 + timedelta(minutes=20 + n))
    with pytest.raises(SignInFailed, match="账户已锁定"):
        sign_in(db_url, "zheng", "wrong", POLICY, T0 + timedelta(minutes=25))
    # Locked: even the right password is refused, with the reason.
    with pytest.raises(SignInFailed, match="请联系管理员解锁"):
        sign_in(db_url, "zheng", "right-pass-1", POLICY, T0 + timedelta(days=1))
    assert [a.locked_at is not None for a in account_states(db_url)] == [True]
    assert unlock(db_url, "zheng") is True
    assert sign_in(db_url, "zheng", "right-pass-1", POLICY, T0 + timedelta(days=1)).name == "zheng"
    assert unlock(db_url, "zheng") is False


def test_a_success_clears_the_failures(sqlite_url: str) -> None:
    add_user(sqlite_url, "qin", "agent", "right-pass-1", now=T0)
    for n in range(4):
        with pytest.raises(SignInFailed):
            sign_in(sqlite_url, "qin", "wrong", POLICY, T0 + timedelta(minutes=n))
    sign_in(sqlite_url, "qin", "right-pass-1", POLICY, T0 + timedelta(minutes=5))
    for n in range(4):  # the count started again: four more failures do not lock it
        with pytest.raises(SignInFailed, match="用户名或密码错误"):
            sign_in(sqlite_url, "qin", "wrong", POLICY, T0 + timedelta(minutes=6 + n))
    assert sign_in(sqlite_url, "qin", "right-pass-1", POLICY, T0 + timedelta(minutes=11)).name == "qin"


def test_cli_add_forces_a_change_and_unlock_and_reset_work(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", sqlite_url)
    assert main(["users", "add", "han", "--role", "qa", "--password", "given-pass-1"]) == 0
    user = sign_in(sqlite_url, "han", "given-pass-1", POLICY, datetime.now(UTC))
    assert "首次登录" in (POLICY.change_reason(user, datetime.now(UTC)) or "")
    for _ in range(5):
        with pytest.raises(SignInFailed):
            sign_in(sqlite_url, "han", "wrong", POLICY, datetime.now(UTC))
    capsys.readouterr()
    assert main(["users", "unlock", "han"]) == 0
    assert "unlocked han" in capsys.readouterr().out
    assert main(["users", "unlock", "nobody"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["users", "reset-password", "han"]) == 0
    temporary = capsys.readouterr().out.split("password: ", 1)[1].split()[0]
    reset = sign_in(sqlite_url, "han", temporary, POLICY, datetime.now(UTC))
    assert reset.must_change_password


def test_the_settings_are_declared_and_checked() -> None:
    web = load_settings(environ={}).web
    assert (web.password_max_age_days, web.password_history, web.lockout_attempts,
            web.lockout_window_minutes) == (90, 5, 5, 15)
    with pytest.raises(ConfigError, match=r"web\.password_max_age_days"):
        load_settings(environ={"CALLCENTER_WEB__PASSWORD_MAX_AGE_DAYS": "365"})
    with pytest.raises(ConfigError, match=r"web\.password_history"):
        load_settings(environ={"CALLCENTER_WEB__PASSWORD_HISTORY": "0"})
    with pytest.raises(ConfigError, match=r"web\.lockout_attempts"):
        load_settings(environ={"CALLCENTER_WEB__LOCKOUT_ATTEMPTS": "0"})


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked(web_settings: Settings) -> Iterator[tuple[TestClient, Clock]]:
    from callcenter.calls.timeline import Timeline

    clock = Clock(datetime.now(UTC))
    ctx = WebContext(replace(web_settings), Timeline(web_settings.database.url), now=clock)
    with TestClient(create_app(ctx), base_url="http://testserver") as c:
        yield c, clock


def _csrf(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def _login(client: TestClient, name: str, password: str = PASSWORD) -> object:
    return client.post("/login", data={"name": name, "password": password, "csrf_token": _csrf(client, "/login")},
                       follow_redirects=False)


def test_pages_send_an_expired_password_to_the_change_page_with_a_clear_message(
    clocked: tuple[TestClient, Clock]
) -> None:
    client, clock = clocked
    clock.now += timedelta(days=91)
    r = _login(client, "qa1")
    assert r.status_code == 303 and r.headers["location"] == "/password"
    assert client.get("/qa", follow_redirects=False).headers["location"] == "/password"
    api = client.get("/api/recordings")
    assert api.status_code == 403 and "超过 90 天" in api.json()["error"]
    page = client.get("/password").text
    assert "密码已使用超过 90 天" in page
    token = _csrf(client, "/password")
    reuse = client.post("/password", data={"old_password": PASSWORD, "new_password": PASSWORD,
                                           "confirm_password": PASSWORD, "csrf_token": token})
    assert reuse.status_code == 400 and "新密码不能与当前密码相同" in reuse.text
    differ = client.post("/password", data={"old_password": PASSWORD, "new_password": "fresh-pass-1",
                                            "confirm_password": "fresh-pass-2", "csrf_token": token})
    assert differ.status_code == 400 and "两次输入的新密码不一致" in differ.text
    done = client.post("/password", data={"old_password": PASSWORD, "new_password": "fresh-pass-1",
                                          "confirm_password": "fresh-pass-1", "csrf_token": token},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/qa"
    assert client.get("/qa").status_code == 200


def test_sign_in_page_says_locked_and_the_admin_unlocks_with_a_button(client: TestClient) -> None:
    for _ in range(4):
        assert "连续失败 5 次将锁定账户" in _login(client, "qa1", "wrong-wrong").text
    assert "账户已锁定" in _login(client, "qa1", "wrong-wrong").text
    locked = _login(client, "qa1")
    assert locked.status_code == 401 and "请联系管理员解锁" in locked.text
    assert _login(client, "root").status_code == 303
    page = client.get("/admin/users").text
    assert "已锁定" in page and 'action="/admin/users/qa1/unlock"' in page
    token = _csrf(client, "/admin/users")
    done = client.post("/admin/users/qa1/unlock", data={"csrf_token": token})
    assert done.status_code == 200 and "已解锁 qa1" in done.text
    reset = client.post("/admin/users/qa1/reset", data={"csrf_token": token})
    temporary = re.search(r'id="temporary-password">([^<]+)<', reset.text)
    assert temporary
    client.post("/logout", data={"csrf_token": _csrf(client, "/admin/users")})
    first = _login(client, "qa1", temporary.group(1))
    assert first.status_code == 303 and first.headers["location"] == "/password"
    assert "首次登录或管理员重置后" in client.get("/password").text


def test_only_admins_open_the_accounts_page(client: TestClient) -> None:
    _login(client, "boss")
    assert client.get("/admin/users").status_code == 403
    assert "/admin/users" not in client.get("/wallboard").text


def test_admin_reset_unlocks_and_forces_a_change(sqlite_url: str) -> None:
    add_user(sqlite_url, "lu", "qa", "given-pass-1", now=T0)
    for n in range(5):
        with pytest.raises(SignInFailed):
            sign_in(sqlite_url, "lu", "bad", POLICY, T0 + timedelta(minutes=n))
    admin_reset(sqlite_url, "lu", "temp-pass-1", T0 + timedelta(hours=1))
    user = sign_in(sqlite_url, "lu", "temp-pass-1", POLICY, T0 + timedelta(hours=2))
    assert user.must_change_password and POLICY.change_reason(user, T0 + timedelta(hours=2))
    changed = change_password(sqlite_url, "lu", "temp-pass-1", "own-pass-12", POLICY, T0 + timedelta(hours=3))
    assert not changed.must_change_password


def test_the_web_models_match_the_migrations(db_url: str) -> None:
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from callcenter.store import Base, engine_for
    from callcenter.web import passwords, review, users  # noqa: F401  (register the tables)

    ours = {"web_users", "web_password_history", "web_qa_reviews", "web_qa_comments"}

    def table(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:  # type: ignore[index]
            if isinstance(part, str) and part in ours:
                return part
            found = part if isinstance(part, sa.Table) else getattr(part, "table", None)
            if isinstance(found, sa.Table):
                return found.name
        return None

    with engine_for(db_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(ctx, Base.metadata) if table(d) in ours]
    assert diffs == []
