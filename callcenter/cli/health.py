"""``callcenter health``: the running service's health board (R-119), as a table or ``--json``.

    callcenter health            # a table: status, component, measured value, reason
    callcenter health --json     # the board as JSON (what /api/health serves)

It asks the running ``callcenter serve`` at its configured web port on 127.0.0.1 (``--url`` for another
address), proving itself with an HMAC of the web session key (:mod:`callcenter.health.secret`). When the
service does not answer it checks what it can by itself (the database and its schema, the recordings disk) and
reports the service as unreachable, which is red. Exit 1 when anything is red, 0 otherwise, 2 for a problem
with the command itself (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from callcenter.config import Settings
from callcenter.errors import CallcenterError
from callcenter.health.model import LABELS, HealthReport, Status

WILDCARD_HOSTS = {"", "0.0.0.0", "::", "127.0.0.1", "localhost"}


class HealthCommandError(CallcenterError):
    """``callcenter health`` could not get an answer it can show."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("health", help="the service's health board (R-119); exit 1 when anything is red")
    p.add_argument("--json", action="store_true", help="the board as JSON")
    p.add_argument("--url", help="the running service's web address (default: http://127.0.0.1:<web.port>)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the service (default 15)")
    p.set_defaults(handler=_health)


def service_url(settings: Settings) -> str:
    host = settings.web.host
    return f"http://{'127.0.0.1' if host in WILDCARD_HOSTS else host}:{settings.web.port}"


def ask_service(settings: Settings, url: str, timeout: float) -> HealthReport:
    """The board of the service at ``url``; raises ``httpx.TransportError`` when nothing answers there."""
    import httpx

    from callcenter.health.secret import HEADER, health_token, read_secret

    secret = read_secret(settings.web.secret_key, settings.web.secret_file)
    if secret is None:
        raise HealthCommandError(f"no web session key to prove this is the operator: web.secret_key is empty and "
                                 f"{settings.web.secret_file} cannot be read")
    response = httpx.get(f"{url.rstrip('/')}/api/health", headers={HEADER: health_token(secret)}, timeout=timeout)
    if response.status_code == 403:
        raise HealthCommandError(f"the service at {url} refused the health token: it uses another web key than "
                                 "web.secret_key / web.secret_file here (same --config as the service?)")
    if response.status_code != 200:
        raise HealthCommandError(f"the service at {url} answered HTTP {response.status_code} for /api/health")
    try:
        return HealthReport.from_dict(response.json())
    except (ValueError, KeyError, TypeError) as exc:
        raise HealthCommandError(f"the service at {url} sent a health board this command cannot read: {exc}") from None


def current_report(settings: Settings, url: str, timeout: float) -> HealthReport:
    import httpx

    try:
        return ask_service(settings, url, timeout)
    except httpx.TransportError as exc:
        from callcenter.health.board import local_report

        reason = str(exc).strip() or type(exc).__name__
        return local_report(settings, datetime.now(UTC),
                            f"callcenter serve does not answer at {url} ({reason}); database and disk checked here")


def table(report: HealthReport, settings: Settings, url: str) -> str:
    where = f"service at {url}" if report.source == "service" else f"checked here: {url} unreachable"
    at = report.checked_at.astimezone(settings.service.tz).strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"health: {report.status.value} {LABELS[report.status]} · "
             f"{'ready for calls' if report.ready else 'NOT ready for calls'} · {where} · {at}"]
    rows = [(c.status.value, c.name, c.value, c.reason) for c in report.components]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(("status", "component", "value"))]
    lines.append(f"{'status':<{widths[0]}}  {'component':<{widths[1]}}  {'value':<{widths[2]}}  reason")
    lines.extend(f"{s:<{widths[0]}}  {n:<{widths[1]}}  {v:<{widths[2]}}  {r}" for s, n, v, r in rows)
    return "\n".join(lines)


def _health(args: argparse.Namespace, settings: Settings) -> int:
    if args.timeout <= 0:
        raise HealthCommandError("--timeout: must be positive")
    url = args.url or service_url(settings)
    report = current_report(settings, url, args.timeout)
    if args.json:
        print(json.dumps({**report.as_dict(), "url": url}, ensure_ascii=False, indent=2))
    else:
        print(table(report, settings, url))
    return 1 if report.status is Status.RED else 0
