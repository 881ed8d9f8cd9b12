"""Accounts of the web pages: a name, one role, an argon2 password hash.

Roles (R-120, R-143: each operator sees only what the role needs):

- ``agent``       坐席: the softphone panel of their own seat (``work_number`` is the 工号 said in the greeting).
- ``qa``          质检: recordings, replay and scoring; confidential recordings only with ``confidential_access``.
- ``supervisor``  班长: the wallboard, and QA review (confidential recordings always: they approve access, R-111).
- ``admin``       管理员: everything.

Passwords are hashed with argon2id (argon2-cffi defaults); a hash made with older parameters is upgraded on the
next successful sign-in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, Integer, String, false, select
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.calls.softphone_seats import DEFAULT_SEAT, check_seat_kind
from callcenter.store import Base, session_scope
from callcenter.web.errors import SignInFailed, UserError

ROLES = ("agent", "qa", "supervisor", "admin")
ROLE_LABELS = {"agent": "坐席", "qa": "质检", "supervisor": "班长", "admin": "管理员"}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,32}$")
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()


class UserRecord(Base):
    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(64), default="")
    work_number: Mapped[str] = mapped_column(String(16), default="")
    confidential_access: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # R-120 (callcenter.web.passwords): when the password was last set (NULL: at created_at), a change forced
    # at the next sign-in (new account, admin reset), and the failures that lock the account.
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An agent's seat (issue 15): "desk" (a desk phone, PJSIP/<工号>) or "webrtc" (the panel is the phone).
    seat: Mapped[str] = mapped_column(String(8), default=DEFAULT_SEAT, server_default=DEFAULT_SEAT)


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person as the pages see them (never the hash)."""

    id: int
    name: str
    role: str
    display_name: str = ""
    work_number: str = ""
    confidential_access: bool = False
    must_change_password: bool = False
    password_changed_at: datetime | None = None
    seat: str = DEFAULT_SEAT

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    @property
    def agent_id(self) -> str:
        """The agent-pool id of an agent's seat: the account name."""
        return self.name

    @property
    def may_review_confidential(self) -> bool:
        """R-82 / R-111: confidential recordings only for those granted access (supervisors approve access)."""
        return self.role in {"supervisor", "admin"} or (self.role == "qa" and self.confidential_access)


def _to_user(row: UserRecord) -> User:
    changed = row.password_changed_at or row.created_at
    changed = changed.replace(tzinfo=UTC) if changed.tzinfo is None else changed  # SQLite hands back naive UTC
    return User(row.id, row.name, row.role, row.display_name, row.work_number, row.confidential_access,
                bool(row.must_change_password), changed, row.seat or DEFAULT_SEAT)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters are required")
    return _hasher.hash(password)


def add_user(
    url: str,
    name: str,
    role: str,
    password: str,
    *,
    display_name: str = "",
    work_number: str = "",
    confidential_access: bool = False,
    must_change_password: bool = False,
    seat: str = DEFAULT_SEAT,
    now: datetime | None = None,
) -> User:
    """Create one account; raise :class:`UserError` on a bad name, unknown role, short password or duplicate.
    ``must_change_password``: the first sign-in must set a new password (R-120; ``callcenter users add``)."""
    if not NAME_PATTERN.match(name):
        raise UserError(f"user name {name!r}: use 2-32 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise UserError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if work_number and not work_number.isdigit():
        raise UserError(f"work number {work_number!r}: digits only (the 工号 said in the greeting)")
    check_seat_kind(seat)
    digest = hash_password(password)
    with session_scope(url) as s:
        if s.scalar(select(UserRecord.id).where(UserRecord.name == name)) is not None:
            raise UserError(f"user {name!r} already exists")
        row = UserRecord(
            name=name,
            role=role,
            password_hash=digest,
            display_name=display_name or name,
            work_number=work_number,
            confidential_access=confidential_access,
            active=True,
            created_at=now or datetime.now(UTC),
            must_change_password=must_change_password,
            failed_logins=0,
            seat=seat,
        )
        s.add(row)
        s.flush()
        return _to_user(row)


def set_password(url: str, name: str, password: str) -> None:
    digest = hash_password(password)
    with session_scope(url) as s:
        row = s.scalar(select(UserRecord).where(UserRecord.name == name))
        if row is None:
            raise UserError(f"user {name!r} does not exist")
        row.password_hash = digest


def set_seat(url: str, name: str, seat: str) -> None:
    """Make an account's seat a desk phone or the browser panel (``callcenter users set-seat``)."""
    check_seat_kind(seat)
    with session_scope(url) as s:
        row = s.scalar(select(UserRecord).where(UserRecord.name == name))
        if row is None:
            raise UserError(f"user {name!r} does not exist")
        row.seat = seat


def authenticate(url: str, name: str, password: str) -> User:
    """The user when ``password`` is theirs and the account is active; else :class:`SignInFailed`."""
    with session_scope(url) as s:
        row = s.scalar(select(UserRecord).where(UserRecord.name == name))
        if row is None or not row.active:
            # Spend the same time as a real check so that a probe cannot tell which names exist.
            _hasher.hash(password or "-")
            raise SignInFailed("用户名或密码错误 (wrong name or password)")
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise SignInFailed("用户名或密码错误 (wrong name or password)") from None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        return _to_user(row)


def get_user(url: str, user_id: int) -> User | None:
    """The active user with this id, or None (a deleted or disabled account ends its sessions)."""
    with session_scope(url) as s:
        row = s.get(UserRecord, user_id)
        return _to_user(row) if row is not None and row.active else None


def list_users(url: str, role: str | None = None) -> list[User]:
    with session_scope(url) as s:
        stmt = select(UserRecord).where(UserRecord.active.is_(True)).order_by(UserRecord.id)
        if role is not None:
            stmt = stmt.where(UserRecord.role == role)
        return [_to_user(r) for r in s.scalars(stmt)]
