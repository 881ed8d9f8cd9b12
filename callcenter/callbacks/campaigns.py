"""Callback campaigns: who calls whom how (R-94..R-106), and the built-in ones created on first use.

A campaign names its kind (closing, complaint, missed, unresolved, periodic, questionnaire), its mode (preview:
the agent sees the task first; progressive: the system dials for a ready agent; survey: no agent, keys), the
agent group, the script of the library it runs, its window of days, its calling hours (R-103 「不打扰客户」),
its attempts and their growing interval (R-96), and its satisfaction scale ("3": 满意/基本满意/不满意, "5": 1-5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.models import KINDS, MODES, SCALES, CallbackCampaign
from callcenter.callbacks.schedule import DEFAULT_HOURS, DEFAULT_RETRY, CallingHours, parse_hours, parse_retry
from callcenter.config import Settings

SCRIPT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ATTEMPTS = 10
DEFAULT_SUBJECT = "问题处理质量和服务"
# The built-in campaigns (name = kind), created the first time a source needs one.
BUILT_IN = {
    # R-94 L1/L2/L3 after closing: the specialist previews the order, then calls.
    "closing": ("preview", "callback_preview"),
    # R-101 「处结后2个工作日内回访」 by the receiver (R-99 「谁受理谁负责」) where on duty.
    "complaint": ("preview", "callback_preview"),
    # R-95 item 5 「对于客户来电,没有接到电话或没有及时解决问题,应在最短时间内回访说明」.
    "missed": ("preview", "callback_preview"),
    "unresolved": ("preview", "callback_preview"),
}


@dataclass(frozen=True)
class CampaignView:
    id: int
    name: str
    kind: str
    mode: str
    agent_group: str
    script: str
    first_day: date | None
    last_day: date | None
    hours: str
    rest_days: bool
    max_attempts: int
    retry: str
    scale: str
    subject: str
    active: bool

    def calling_hours(self, tz: ZoneInfo) -> CallingHours:
        return CallingHours(parse_hours(self.hours), tz, self.rest_days, self.first_day, self.last_day)

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["first_day"] = self.first_day.isoformat() if self.first_day else None
        out["last_day"] = self.last_day.isoformat() if self.last_day else None
        return out


def view_of(c: CallbackCampaign) -> CampaignView:
    return CampaignView(c.id, c.name, c.kind, c.mode, c.agent_group, c.script, c.first_day, c.last_day, c.hours,
                        c.rest_days, c.max_attempts, c.retry, c.scale, c.subject, c.active)


def add_campaign(
    session: Session,
    *,
    name: str,
    kind: str,
    mode: str,
    agent_group: str,
    script: str,
    at: datetime,
    first_day: date | None = None,
    last_day: date | None = None,
    hours: str = DEFAULT_HOURS,
    rest_days: bool = False,
    max_attempts: int = 3,
    retry: str = DEFAULT_RETRY,
    scale: str = "3",
    subject: str = DEFAULT_SUBJECT,
) -> CampaignView:
    """A new campaign; every field is checked and a bad one refused with one sentence."""
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise CallbackError("campaign name: 1 to 64 characters")
    if kind not in KINDS:
        raise CallbackError(f"campaign kind {kind!r}: expected one of {', '.join(KINDS)}")
    if mode not in MODES:
        raise CallbackError(f"campaign mode {mode!r}: expected one of {', '.join(MODES)}")
    if not agent_group.strip() or len(agent_group) > 64:
        raise CallbackError("agent group: 1 to 64 characters")
    if not SCRIPT_NAME.match(script):
        raise CallbackError(f"script {script!r}: expected a script name of the library, e.g. callback_preview")
    if first_day and last_day and last_day < first_day:
        raise CallbackError(f"campaign window: last day {last_day} is before first day {first_day}")
    parse_hours(hours)
    if not parse_retry(retry):
        raise CallbackError("retry intervals: at least one is needed")
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise CallbackError(f"max attempts {max_attempts}: 1 to {MAX_ATTEMPTS}")
    if scale not in SCALES:
        raise CallbackError(f"satisfaction scale {scale!r}: expected 3 (满意/基本满意/不满意) or 5 (1-5)")
    if not 1 <= len(subject) <= 64:
        raise CallbackError("subject: 1 to 64 characters")
    if session.scalar(select(CallbackCampaign.id).where(CallbackCampaign.name == name)) is not None:
        raise CallbackError(f"campaign {name!r} already exists")
    row = CallbackCampaign(
        name=name, kind=kind, mode=mode, agent_group=agent_group.strip(), script=script, first_day=first_day,
        last_day=last_day, hours=hours, rest_days=rest_days, max_attempts=max_attempts, retry=retry, scale=scale,
        subject=subject, active=True, created_at=at,
    )
    session.add(row)
    session.flush()
    return view_of(row)


def get_campaign(session: Session, name: str) -> CampaignView:
    row = session.scalar(select(CallbackCampaign).where(CallbackCampaign.name == name))
    if row is None:
        raise CallbackError(f"no campaign named {name!r} (see `callcenter callbacks campaign list`)")
    return view_of(row)


def list_campaigns(session: Session) -> list[CampaignView]:
    return [view_of(c) for c in session.scalars(select(CallbackCampaign).order_by(CallbackCampaign.name))]


def campaigns_by_id(session: Session) -> dict[int, CampaignView]:
    return {c.id: c for c in list_campaigns(session)}


def built_in(session: Session, settings: Settings, kind: str, at: datetime) -> CampaignView:
    """The built-in campaign of ``kind`` (closing, complaint, missed, unresolved), created on first use."""
    row = session.scalar(select(CallbackCampaign).where(CallbackCampaign.name == kind))
    if row is not None:
        return view_of(row)
    mode, script = BUILT_IN[kind]
    return add_campaign(session, name=kind, kind=kind, mode=mode, agent_group=settings.telephony.default_group,
                        script=script, at=at)
