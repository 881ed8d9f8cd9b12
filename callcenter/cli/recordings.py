"""``callcenter recordings``: import, list, show, hold, sweep and verify-ledger.

The CLI acts as an ``admin`` named ``cli:<login>``; holds and deletions it makes are in the access ledger
under that name like any other. ``ID`` is a call id (or, when no call has that id, a recording id).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callcenter.config import Settings
from callcenter.errors import CallcenterError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("recordings", help="call recordings: import, list, retention sweep, access ledger")
    rsub = p.add_subparsers(dest="recordings_command", required=True)

    imp = rsub.add_parser("import", help="copy an audio file into the store as a call's recording")
    imp.add_argument("file", type=Path)
    imp.add_argument("--call-id", required=True)
    imp.add_argument("--at", help="when the call started (ISO 8601; local time of the centre if no offset)")
    imp.add_argument("--ticket", action="append", default=[], metavar="NUMBER", help="link a work order")
    imp.add_argument("--agent")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=_import)

    ls = rsub.add_parser("list", help="recordings, newest first")
    ls.add_argument("--agent")
    ls.add_argument("--since", help="calls started at or after (ISO 8601)")
    ls.add_argument("--until", help="calls started before (ISO 8601)")
    ls.add_argument("--disposition")
    ls.add_argument("--ticket", help="only recordings linked to this work order")
    ls.add_argument("--flag", action="append", default=[], help="held, confidential, corrupt, empty, silent, …")
    ls.add_argument("--purged", action="store_true", help="include purged recordings")
    ls.add_argument("--page", type=int, default=1)
    ls.add_argument("--per-page", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_list)

    show = rsub.add_parser("show", help="one recording with its analysis and retention")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)

    hold = rsub.add_parser("hold", help="place (or --release) a legal hold (R-110)")
    hold.add_argument("id")
    hold.add_argument("--reason", required=True)
    hold.add_argument("--release", action="store_true")
    hold.set_defaults(handler=_hold)

    sweep = rsub.add_parser("sweep", help="purge recordings whose every retention rule has passed")
    sweep.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    sweep.add_argument("--now", help="judge retention at this instant (ISO 8601) instead of now")
    sweep.add_argument("--json", action="store_true")
    sweep.set_defaults(handler=_sweep)

    verify = rsub.add_parser("verify-ledger", help="check the access ledger's hash chain (exit 1 when broken)")
    verify.set_defaults(handler=_verify)


def _actor() -> Any:
    from callcenter.recordings.access import Actor

    return Actor(f"cli:{pwd.getpwuid(os.getuid()).pw_name}"[:64], "admin")


def _service(settings: Settings) -> Any:
    from callcenter.calls.timeline import Timeline
    from callcenter.recordings.service import RecordingService
    from callcenter.store import ensure_schema

    ensure_schema(settings.database.url)
    return RecordingService(settings, timeline=Timeline(settings.database.url))


def _when(text: str | None, settings: Settings, key: str) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CallcenterError(f"{key}: {text!r} is not an ISO 8601 date-time") from None
    return at if at.tzinfo else at.replace(tzinfo=settings.service.tz)


def _resolve_id(svc: Any, ident: str) -> int:
    from callcenter.recordings.errors import RecordingNotFound

    try:
        return int(svc.get_by_call(_actor(), ident).id)
    except RecordingNotFound:
        if ident.isdigit():
            return int(ident)
        raise


def _import(args: argparse.Namespace, settings: Settings) -> int:
    svc = _service(settings)
    try:
        info = svc.import_recording(
            args.file, call_id=args.call_id, started_at=_when(args.at, settings, "--at"),
            order_numbers=args.ticket, agent=args.agent, by=_actor().name,
        )
    finally:
        svc.timeline.flush_sync()
    if args.json:
        print(json.dumps(info.as_dict(), ensure_ascii=False, indent=2))
    else:
        saving = f", {info.saving:.0%} smaller as {info.format}" if info.saving is not None else ""
        print(f"recording {info.id} of call {info.call_id}: {info.status}"
              f"{' (' + info.status_reason + ')' if info.status_reason else ''}, "
              f"{info.duration_seconds or 0:.1f} s, {info.path}{saving}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.recordings.service import RecordingFilter

    svc = _service(settings)
    filters = RecordingFilter(
        agent=args.agent, since=_when(args.since, settings, "--since"), until=_when(args.until, settings, "--until"),
        disposition=args.disposition, work_order=args.ticket, flags=frozenset(args.flag),
        include_purged=args.purged,
    )
    page = svc.list(_actor(), filters, page=args.page, per_page=args.per_page)
    if args.json:
        print(json.dumps(page.as_dict(), ensure_ascii=False, indent=2))
        return 0
    for i in page.items:
        print(f"{i.id:>8}  {i.call_id:<24} {i.started_at:%Y-%m-%d %H:%M}  {i.duration_seconds or 0:>7.1f}s  "
              f"{i.status:<9} {','.join(i.flags)}")
    print(f"{page.total} recording(s); page {page.page}")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    svc = _service(settings)
    rid = _resolve_id(svc, args.id)
    info = svc.get(_actor(), rid)
    now = datetime.now(UTC)
    decision = svc.retention(rid)
    data = info.as_dict()
    data["retention"] = {"purge_from": decision.purge_from.isoformat() if decision.purge_from else None,
                         "held_by": decision.held_by, "why": decision.explain(now)}
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for key in ("id", "call_id", "status", "status_reason", "duration_seconds", "path", "sha256", "legal_hold"):
            print(f"{key:>16}: {data[key]}")
        print(f"{'retention':>16}: {decision.explain(now)}")
    return 0


def _hold(args: argparse.Namespace, settings: Settings) -> int:
    svc = _service(settings)
    rid = _resolve_id(svc, args.id)
    if args.release:
        info = svc.release_hold(_actor(), rid, reason=args.reason)
    else:
        info = svc.place_hold(_actor(), rid, reason=args.reason)
    print(f"recording {info.id} (call {info.call_id}): legal hold {'on' if info.legal_hold else 'off'}")
    return 0


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.recordings.retention import default_order_facts
    from callcenter.recordings.sweeper import Sweeper

    _service(settings)  # brings the schema up to date (SQLite) or checks it
    now = _when(args.now, settings, "--now") or datetime.now(UTC)
    report = Sweeper(settings, default_order_facts(), actor=_actor().name).run(now, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        for item in report.items:
            print(f"{item['action']:<12} {item['call_id']:<24} {item['why']}")
        verb = "would purge" if args.dry_run else "purged"
        print(f"{verb} {report.purged}, kept {report.deferred}, errors {report.errors}")
    return 1 if report.errors else 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    verdict = _service(settings).verify_ledger()
    print(verdict)
    return 0 if verdict.ok else 1
