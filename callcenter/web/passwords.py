"""Password rules for the web accounts (R-120: designated operators, passwords kept secret and changed
periodically — "一般每三个月").

- A password older than ``web.password_max_age_days`` (90) must be changed before any page opens.
- A new password may not be any of the last ``web.password_history`` (5) passwords: the current hash and the
  previous ones kept in :class:`PasswordHistory` (argon2 hashes only, never the passwords).
- An account created by ``callcenter users add`` or reset by an admin must set its own password at the first
  sign-in (nobody else should know it).
- ``web.lockout_attempts`` (5) failed sign-ins within ``web.lockout_window_minutes`` (15) lock the account;
  only an admin unlocks it (``callcenter users unlock NAME`` or the 解锁 button on /admin/users).

Every function takes ``now`` (an injected clock); nothing here reads the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.store import Base, session_scope
from callcenter.web.errors import SignInFailed, UserError
from callcenter.web.users import User, UserRecord, _to_user, hash_password

log = get_logger(__name__)
_hasher = PasswordHasher()
WRONG = "用户名或密码错误 (wrong name or password)"


class PasswordHistory(Base):
    """A password an account used before (its argon2 hash), kept to refuse reuse."""

    __tablename__ = "web_password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    replaced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class PasswordPolicy:
    max_age_days: int = 90
    history: int = 5
    lockout_attempts: int = 5
    lockout_window_minutes: int = 15

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordPolicy:
        w = settings.web
        return cls(w.password_max_age_days, w.password_history, w.lockout_attempts, w.lockout_window_minutes)

    def change_reason(self, user: User, now: datetime) -> str | None:
        """Why ``user`` must change their password before going on, or None."""
        if user.must_change_password:
            return "首次登录或管理员重置后,请先设置您自己的新密码 (set your own password first)"
        changed = user.password_changed_at
        if changed is not None and now >= changed + timedelta(days=self.max_age_days):
            return (f"密码已使用超过 {self.max_age_days} 天,请更换密码 (R-120: the password is older than "
                    f"{self.max_age_days} days)")
        return None


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _verifies(digest: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(digest, password))
    except (VerificationError, InvalidHashError):
        return False


def _row(s: Session, name: str) -> UserRecord:
    row = s.scalar(select(UserRecord).where(UserRecord.name == name))
    if row is None:
        raise UserError(f"user {name!r} does not exist")
    return row


def sign_in(url: str, name: str, password: str, policy: PasswordPolicy, now: datetime) -> User:
    """The user when the password is theirs and the account is active and not locked; else
    :class:`SignInFailed` (a failure counts towards the lock-out; a locked account says so)."""
    now = now.astimezone(UTC)
    failure: str | None = None
    with session_scope(url) as s:
        row = s.scalar(select(UserRecord).where(UserRecord.name == name))
        if row is None or not row.active:
            _hasher.hash(password or "-")  # the same time as a real check: a probe cannot tell names apart
            raise SignInFailed(_wrong(policy))
        if row.locked_at is not None:
            _hasher.hash(password or "-")
            raise SignInFailed("账户已锁定:连续登录失败次数过多,请联系管理员解锁 (account locked: ask an admin to "
                               "unlock it)")
        if _verifies(row.password_hash, password):
            row.failed_logins, row.failed_since = 0, None
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            return _to_user(row)
        # The failure is committed before it is reported (raising inside the scope would roll it back).
        since = _utc(row.failed_since)
        if since is None or now - since > timedelta(minutes=policy.lockout_window_minutes):
            row.failed_since, row.failed_logins = now, 0
        row.failed_logins = (row.failed_logins or 0) + 1
        left = policy.lockout_attempts - row.failed_logins
        if left <= 0:
            row.locked_at = now
            log.warning("web.account_locked", user=name, failures=row.failed_logins)
            failure = (f"连续 {row.failed_logins} 次登录失败,账户已锁定,请联系管理员解锁 "
                       "(account locked after repeated failures)")
        else:
            failure = _wrong(policy)  # the same words as for an unknown name: no count that tells names apart
    raise SignInFailed(failure)


def _wrong(policy: PasswordPolicy) -> str:
    return (f"{WRONG};{policy.lockout_window_minutes} 分钟内连续失败 {policy.lockout_attempts} 次将锁定账户,"
            "须由管理员解锁")


def change_password(url: str, name: str, old: str, new: str, policy: PasswordPolicy, now: datetime) -> User:
    """The account's own change: the old password, then a new one not among the last ``policy.history``."""
    with session_scope(url) as s:
        row = _row(s, name)
        if not _verifies(row.password_hash, old):
            raise UserError("当前密码不正确 (the current password is wrong)")
        if new == old:
            raise UserError("新密码不能与当前密码相同 (the new password must differ from the current one)")
        digest = _new_hash(new)
        previous = list(s.scalars(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == row.id)
                                  .order_by(PasswordHistory.id.desc()).limit(max(0, policy.history - 1))))
        if any(_verifies(h, new) for h in previous):
            raise UserError(f"新密码不能与最近 {policy.history} 次使用过的密码相同 (R-120: none of the last "
                            f"{policy.history} passwords may be reused)")
        _replace(s, row, digest, now, must_change=False)
        log.info("web.password_changed", user=name)
        return _to_user(row)


def admin_reset(url: str, name: str, password: str, now: datetime) -> None:
    """An admin sets a temporary password: the account must change it at its next sign-in; unlocks it too."""
    digest = _new_hash(password)
    with session_scope(url) as s:
        row = _row(s, name)
        _replace(s, row, digest, now, must_change=True)
        row.locked_at, row.failed_logins, row.failed_since = None, 0, None
    log.warning("web.password_reset", user=name)


def unlock(url: str, name: str) -> bool:
    """Lift a lock-out; False when the account was not locked."""
    with session_scope(url) as s:
        row = _row(s, name)
        was = row.locked_at is not None
        row.locked_at, row.failed_logins, row.failed_since = None, 0, None
    log.warning("web.account_unlocked", user=name, was_locked=was)
    return was


@dataclass(frozen=True)
class AccountState:
    name: str
    role: str
    locked_at: datetime | None
    failed_logins: int
    password_changed_at: datetime
    must_change_password: bool
    seat: str = "desk"  # an agent's phone: desk or webrtc (issue 15)


def account_states(url: str) -> list[AccountState]:
    """Every active account with its lock and password state (the admin's accounts page)."""
    with session_scope(url) as s:
        rows = s.scalars(select(UserRecord).where(UserRecord.active.is_(True)).order_by(UserRecord.name))
        return [AccountState(r.name, r.role, _utc(r.locked_at), r.failed_logins or 0,
                             _utc(r.password_changed_at or r.created_at) or r.created_at,
                             bool(r.must_change_password), r.seat) for r in rows]


def _new_hash(password: str) -> str:
    try:
        return hash_password(password)
    except UserError:
        raise UserError("新密码至少 8 个字符 (the new password needs at least 8 characters)") from None


def _replace(s: Session, row: UserRecord, digest: str, now: datetime, *, must_change: bool) -> None:
    s.add(PasswordHistory(user_id=row.id, password_hash=row.password_hash, replaced_at=now))
    row.password_hash, row.password_changed_at, row.must_change_password = digest, now, must_change
