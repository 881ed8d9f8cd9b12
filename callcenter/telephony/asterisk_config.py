"""The Asterisk files a centre copies instead of writing by hand: ``pjsip.conf``, ``http.conf``, ``ari.conf``.

Written from the project's own settings (``[pbx]``, the ARI user of ``[telephony]``) and its agent accounts
(``callcenter asterisk config``, issue 15). Every agent seat is a PJSIP endpoint, AOR and auth named by its
工号, the id ``web.agent_endpoint`` (``PJSIP/{work_number}``) dials:

- a ``webrtc`` seat registers from the panel over the secure websocket (``wss://HOST:tls_port/ws``, served by
  Asterisk's own HTTPS server of ``http.conf``) with ``webrtc = yes``: DTLS-SRTP with a certificate Asterisk
  generates, ICE, AVPF and rtcp-mux; Opus and G.711;
- a ``desk`` seat is a desk phone on plain SIP (UDP and TCP at ``bind_address:sip_port``), G.711.

Each AOR holds one contact and a new registration replaces the old one (``remove_existing``): a second tab of
the same agent takes the seat over instead of both ringing. Secrets come from the data folder
(:class:`callcenter.calls.softphone_seats.SeatSecrets`), so the panel's credentials always match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from callcenter.calls.softphone_seats import SEAT_KINDS, check_seat_kind
from callcenter.config import AsteriskServer, Settings
from callcenter.errors import CallcenterError

WSS_TRANSPORT = "transport-wss"
# Codec names Asterisk's "allow" knows and a seat may sensibly use.
KNOWN_CODECS = frozenset({"opus", "ulaw", "alaw", "g722", "gsm", "g729", "ilbc", "speex", "slin", "slin16"})
DESK_CODECS = ("ulaw", "alaw")
HEADER = """\
; Written by `callcenter asterisk config` from the centre's settings and agent accounts.
; Write it again after adding an agent or changing a seat; the secrets stay as they are.
"""


class AsteriskConfigError(CallcenterError):
    """A setting or an account the Asterisk configuration cannot be written from; the message names it."""


@dataclass(frozen=True, slots=True)
class Seat:
    """One agent seat: its SIP user (the 工号), kind, the account it belongs to and the name callers see."""

    user: str
    kind: str
    account: str
    display_name: str


def pick_server(settings: Settings, name: str | None) -> tuple[str, AsteriskServer]:
    """The Asterisk server the files are for: ``name``, or the centre's only one (``main`` for the flat keys)."""
    servers = settings.telephony.servers()
    if name is None:
        if len(servers) > 1:
            raise AsteriskConfigError(f"several Asterisk servers ({', '.join(sorted(servers))}): "
                                      "name one with --server")
        name = next(iter(servers))
    if name not in servers:
        raise AsteriskConfigError(f"--server {name}: no [telephony.asterisk.{name}] (known: "
                                  f"{', '.join(sorted(servers))})")
    return name, servers[name]


def render(settings: Settings, seats: Sequence[Seat], secrets: Mapping[str, str],
           server: str | None = None) -> dict[str, str]:
    """The three files by name for one Asterisk server (see :func:`pick_server`). Raises
    :class:`AsteriskConfigError` (one line) on a setting or seat that cannot work, before anything is written."""
    key, ari = pick_server(settings, server)
    _check_seats(seats, secrets)
    webrtc = any(seat.kind == "webrtc" for seat in seats)
    codecs = _codecs(settings.pbx.webrtc_codecs)
    bind = _address(settings.pbx.bind_address, "pbx.bind_address")
    for key, port in (("pbx.tls_port", settings.pbx.tls_port), ("pbx.sip_port", settings.pbx.sip_port)):
        if not 1 <= port <= 65535:
            raise AsteriskConfigError(f"{key}: {port} is not a TCP port")
    tls = _tls_files(settings) if webrtc else None
    return {
        "pjsip.conf": _pjsip(settings, seats, secrets, bind, codecs, webrtc),
        "http.conf": _http(settings, ari, _ari_key(settings, key, "ari_url"), bind, tls),
        "ari.conf": _ari(ari, _ari_key(settings, key, "ari_password")),
    }


def write(folder: Path, files: Mapping[str, str]) -> list[Path]:
    """Write the files into ``folder`` (made if missing); pjsip.conf and ari.conf hold secrets: 0600."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600 if name in ("pjsip.conf", "ari.conf") else 0o644)
        written.append(path)
    return written


def _check_seats(seats: Sequence[Seat], secrets: Mapping[str, str]) -> None:
    owners: dict[str, str] = {}
    for seat in seats:
        try:
            check_seat_kind(seat.kind)
        except CallcenterError:
            raise AsteriskConfigError(
                f"account {seat.account}: unknown seat kind {seat.kind!r} (expected {' or '.join(SEAT_KINDS)})"
            ) from None
        if not seat.user.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise AsteriskConfigError(f"account {seat.account}: {seat.user!r} cannot be a SIP user name")
        other = owners.setdefault(seat.user, seat.account)
        if other != seat.account:
            raise AsteriskConfigError(f"accounts {other} and {seat.account} share the seat {seat.user}: "
                                      "give each agent its own 工号")
        if not secrets.get(seat.user):
            raise AsteriskConfigError(f"seat {seat.user}: no secret")


def _codecs(names: Sequence[str]) -> tuple[str, ...]:
    if not names:
        raise AsteriskConfigError("pbx.webrtc_codecs: name at least one codec (e.g. opus, ulaw, alaw)")
    for name in names:
        if name not in KNOWN_CODECS:
            raise AsteriskConfigError(f"pbx.webrtc_codecs: unknown codec {name!r} "
                                      f"(expected some of {', '.join(sorted(KNOWN_CODECS))})")
    return tuple(names)


def _address(value: str, key: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise AsteriskConfigError(f"{key}: expected an IP address, got {value!r}") from None


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _tls_files(settings: Settings) -> tuple[Path, Path | None]:
    cert, key = settings.pbx.tls_cert_file, settings.pbx.tls_key_file
    if cert is None:
        raise AsteriskConfigError("pbx.tls_cert_file: not set; the browsers' secure websocket (wss) of the webrtc "
                                  "seats needs a certificate and its key (README: WebRTC seats)")
    for name, path in (("pbx.tls_cert_file", cert), ("pbx.tls_key_file", key)):
        if path is not None and not path.is_file():
            raise AsteriskConfigError(f"{name}: {path} does not exist")
    return cert.resolve(), key.resolve() if key is not None else None


def _ari_key(settings: Settings, server: str, name: str) -> str:
    """The setting an error names: the flat ``telephony.<name>`` or the server's section."""
    return f"telephony.asterisk.{server}.{name}" if settings.telephony.asterisk else f"telephony.{name}"


def _ari_listener(settings: Settings, ari: AsteriskServer, key: str) -> tuple[str, int]:
    """Where the service reaches ARI (``ari_url``): Asterisk's plain HTTP server listens there."""
    url = ari.ari_url
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise AsteriskConfigError(f"{key}: expected http://HOST:PORT/ari for Asterisk's HTTP server, got {url!r}")
    host = parts.hostname
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = settings.pbx.bind_address  # a name: Asterisk binds addresses, the centre's own
    try:
        port = parts.port or 80
    except ValueError:
        raise AsteriskConfigError(f"{key}: bad port in {url!r}") from None
    if port == settings.pbx.tls_port:
        raise AsteriskConfigError(f"{key}: port {port} is pbx.tls_port too; give ARI its own port")
    return host, port


def _section(name: str, values: Sequence[tuple[str, str]], note: str = "") -> str:
    lines = [f"; {note}"] if note else []
    lines.append(f"[{name}]")
    lines += [f"{key} = {value}" for key, value in values]
    return "\n".join(lines) + "\n"


def _caller_name(seat: Seat) -> str:
    name = "".join(c for c in seat.display_name if c not in '"<>;\\\r\n').strip() or seat.user
    return f'"{name}" <{seat.user}>'


def _pjsip(settings: Settings, seats: Sequence[Seat], secrets: Mapping[str, str], bind: str,
           codecs: Sequence[str], webrtc: bool) -> str:
    pbx = settings.pbx
    sip = _host_port(bind, pbx.sip_port)
    parts = [HEADER, _section("global", [("type", "global"), ("user_agent", "callcenter")])]
    parts.append(_section("transport-udp", [("type", "transport"), ("protocol", "udp"), ("bind", sip)],
                          "desk phones: plain SIP"))
    parts.append(_section("transport-tcp", [("type", "transport"), ("protocol", "tcp"), ("bind", sip)]))
    if webrtc:
        parts.append(_section(WSS_TRANSPORT, [("type", "transport"), ("protocol", "wss"), ("bind", bind)],
                              "the panels' SIP over the secure websocket of http.conf "
                              f"(wss://...:{pbx.tls_port}/ws)"))
    for seat in sorted(seats, key=lambda s: s.user):
        endpoint = [("type", "endpoint"), ("context", pbx.seat_context), ("disallow", "all")]
        if seat.kind == "webrtc":
            endpoint += [("allow", ",".join(codecs)), ("transport", WSS_TRANSPORT), ("webrtc", "yes"),
                         ("dtls_auto_generate_cert", "yes")]
        else:
            endpoint += [("allow", ",".join(DESK_CODECS)), ("direct_media", "no")]
        if not ipaddress.ip_address(bind).is_unspecified:
            # RTP on the centre's address too (Asterisk binds it to every address otherwise): ICE answers come
            # from the address its candidates name, which browsers require.
            endpoint += [("media_address", bind), ("bind_rtp_to_media_address", "yes")]
        endpoint += [("aors", seat.user), ("auth", f"{seat.user}-auth"), ("callerid", _caller_name(seat))]
        parts.append(_section(seat.user, endpoint, f"seat {seat.user}: {seat.kind}, account {seat.account}"))
        parts.append(_section(seat.user, [("type", "aor"), ("max_contacts", "1"), ("remove_existing", "yes")]))
        parts.append(_section(f"{seat.user}-auth", [("type", "auth"), ("auth_type", "digest"),
                                                    ("username", seat.user), ("password", secrets[seat.user])]))
    return "\n".join(parts)


def _http(settings: Settings, ari: AsteriskServer, key: str, bind: str,
          tls: tuple[Path, Path | None] | None) -> str:
    host, port = _ari_listener(settings, ari, key)
    values = [("enabled", "yes"), ("bindaddr", host), ("bindport", str(port))]
    if tls is not None:
        cert, private = tls
        values += [("tlsenable", "yes"), ("tlsbindaddr", _host_port(bind, settings.pbx.tls_port)),
                   ("tlscertfile", str(cert))]
        if private is not None:
            values.append(("tlsprivatekey", str(private)))
    return HEADER + "\n" + _section("general", values, "ARI (plain, for the service) and the panels' wss")


def _ari(ari: AsteriskServer, key: str) -> str:
    if not ari.ari_password:
        raise AsteriskConfigError(f"{key}: must not be empty for ari.conf")
    user = [("type", "user"), ("read_only", "no"), ("password", ari.ari_password), ("password_format", "plain")]
    return "\n".join([HEADER, _section("general", [("enabled", "yes")]),
                      _section(ari.ari_username, user, "the service's ARI user")])
