"""An agent's seat as a phone: its kind, its SIP secret and what the panel's softphone registers with (issue 15).

A seat is ``desk`` (a desk phone dialled as ``PJSIP/<工号>``, the default) or ``webrtc`` (the browser panel
registers over a secure websocket). Both are PJSIP endpoints named by the account's 工号 (its name when it has
none), the same id ``web.agent_endpoint`` dials. Their SIP passwords are generated here, once, and kept in
``pbx.secrets_file`` (mode 0600): ``callcenter asterisk config`` writes them into ``pjsip.conf`` and the panel
gets its own through :func:`softphone_credentials`, so both always agree. They change only when an admin
rotates them on purpose (``callcenter asterisk config --rotate-secrets``).

This module knows no Asterisk client: the web pages (the credentials) and the configuration writer (the
secrets) both use it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from callcenter.config import Settings
from callcenter.errors import CallcenterError

SEAT_KINDS = ("desk", "webrtc")
DEFAULT_SEAT = "desk"
# 24 url-safe bytes: 32 characters, no quoting needed in pjsip.conf nor in JSON.
_SECRET_BYTES = 24


class SeatError(CallcenterError):
    """A bad seat kind, or a seat the PBX configuration does not know yet."""


class SeatAccount(Protocol):
    """What an agent account says about its seat (``callcenter.web.users.User`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def work_number(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def seat(self) -> str: ...


def check_seat_kind(kind: str) -> str:
    """The seat kind, or :class:`SeatError` naming the allowed ones."""
    if kind not in SEAT_KINDS:
        raise SeatError(f"seat kind {kind!r}: expected one of {', '.join(SEAT_KINDS)}")
    return kind


def sip_user(account: SeatAccount) -> str:
    """The PJSIP endpoint, AOR and auth user of an account's seat: its 工号, else its name."""
    return account.work_number or account.name


class SeatSecrets:
    """The seats' SIP passwords in one JSON file of the data folder, private to its owner (0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SeatError(f"pbx.secrets_file: cannot read {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SeatError(f"pbx.secrets_file: {self.path} is not the seat secrets file (line {exc.lineno})") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise SeatError(f"pbx.secrets_file: {self.path} is not the seat secrets file")
        return dict(data)

    def ensure(self, users: Iterable[str], rotate: Iterable[str] = ()) -> dict[str, str]:
        """Every user's secret, generating the missing ones and the ``rotate`` ones; written back only when
        something changed, so a second run leaves the file as it was."""
        current = self.read()
        wanted = list(dict.fromkeys(users))
        renew = set(rotate)
        unknown = sorted(renew - set(wanted))
        if unknown:
            raise SeatError(f"--rotate-secrets: no agent seat {', '.join(unknown)}")
        changed = False
        for user in wanted:
            if user not in current or user in renew:
                current[user] = secrets.token_urlsafe(_SECRET_BYTES)
                changed = True
        if changed or not self.path.exists():
            self._write(current)
        return {user: current[user] for user in wanted}

    def secret(self, user: str) -> str:
        found = self.read().get(user)
        if found is None:
            raise SeatError(f"seat {user} has no SIP secret yet: run `callcenter asterisk config --write DIR` "
                            "and reload Asterisk")
        return found

    def _write(self, values: Mapping[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        # Created private: the secrets are never readable by others, not even for an instant.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dict(sorted(values.items())), fh, indent=1)
            fh.write("\n")
        os.replace(temporary, self.path)
        os.chmod(self.path, 0o600)


@dataclass(frozen=True, slots=True)
class SoftphoneCredentials:
    """What the panel's browser SIP stack registers with (``GET /api/agent/softphone``)."""

    seat: str
    ws_url: str
    sip_uri: str
    username: str
    password: str
    display_name: str

    def as_json(self) -> dict[str, str]:
        return {"seat": self.seat, "ws_url": self.ws_url, "sip_uri": self.sip_uri, "username": self.username,
                "password": self.password, "display_name": self.display_name}


def public_host(settings: Settings) -> str:
    """The host the browsers reach Asterisk at: ``pbx.public_host``, else the bind address."""
    host = settings.pbx.public_host or settings.pbx.bind_address
    if host in ("0.0.0.0", "::", ""):
        raise SeatError("pbx.public_host: required when pbx.bind_address listens on every address "
                        "(the name in the certificate that browsers connect to)")
    return host


def websocket_url(settings: Settings) -> str:
    """Asterisk's secure websocket for SIP (res_pjsip_transport_websocket serves it at /ws)."""
    host = public_host(settings)
    return f"wss://{f'[{host}]' if ':' in host else host}:{settings.pbx.tls_port}/ws"


def softphone_credentials(settings: Settings, account: SeatAccount) -> SoftphoneCredentials:
    """The registration of an agent's seat. A ``desk`` seat registers nothing from the browser: its
    credentials are empty but for the kind and the name. Raises :class:`SeatError` when the seat has no secret
    yet (the admin has not written the PBX configuration since the account was made)."""
    seat = check_seat_kind(account.seat)
    user = sip_user(account)
    display = account.display_name or account.name
    if seat != "webrtc":
        return SoftphoneCredentials(seat, "", "", user, "", display)
    host = public_host(settings)
    password = SeatSecrets(settings.pbx.secrets_file).secret(user)
    domain = f"[{host}]" if ":" in host else host
    return SoftphoneCredentials(seat, websocket_url(settings), f"sip:{user}@{domain}", user, password, display)
