"""``callcenter asterisk config [--write DIR] [--server NAME] [--rotate-secrets SEAT ...]``: the centre's
``pjsip.conf``, ``http.conf`` and ``ari.conf`` from its settings and agent accounts (issue 15), printed or
written into a folder for the admin to copy into Asterisk's configuration directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from callcenter.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("asterisk", help="the Asterisk configuration of the centre's seats")
    asub = p.add_subparsers(dest="asterisk_command", required=True)
    config = asub.add_parser("config", help="print (or --write) pjsip.conf, http.conf and ari.conf")
    config.add_argument("--write", metavar="DIR", type=Path,
                        help="write the files into DIR (pjsip.conf and ari.conf readable by their owner only)")
    config.add_argument("--server", metavar="NAME",
                        help="the [telephony.asterisk.NAME] server to write for (default: the only one)")
    config.add_argument("--rotate-secrets", metavar="SEAT", nargs="+", default=[],
                        help="give these seats (工号) new SIP passwords; their phones must register again")
    config.set_defaults(handler=_config)


def _config(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.calls.softphone_seats import SeatSecrets, sip_user
    from callcenter.store import ensure_schema
    from callcenter.telephony.asterisk_config import Seat, render, write
    from callcenter.web.users import list_users

    ensure_schema(settings.database.url)
    seats = [Seat(sip_user(user), user.seat, user.name, user.display_name)
             for user in list_users(settings.database.url, "agent")]
    store = SeatSecrets(settings.pbx.secrets_file)
    # A bad setting is reported before a secret is made or rotated.
    render(settings, seats, {seat.user: "-" for seat in seats}, args.server)
    files = render(settings, seats, store.ensure((seat.user for seat in seats), args.rotate_secrets), args.server)
    if args.write is None:
        for name, text in files.items():
            print(f";;; ---- {name} ----")
            print(text)
        return 0
    for path in write(args.write, files):
        print(f"wrote {path}")
    webrtc = sum(seat.kind == "webrtc" for seat in seats)
    print(f"{len(seats)} seats ({webrtc} webrtc, {len(seats) - webrtc} desk); secrets in {store.path}")
    if args.rotate_secrets:
        print(f"new secrets for {', '.join(args.rotate_secrets)}: reload Asterisk (`pjsip reload`); "
              "their phones register again with the new ones")
    return 0
