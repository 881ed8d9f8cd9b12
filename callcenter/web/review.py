"""QA review: evidence read from a call's timeline, the reviewer's scores, and comments pinned to a time.

The scoring form is pre-filled from :func:`evidence`: each item says what the timeline shows and why
(``detail``), and the reviewer confirms or corrects it. Items and their rules:

- ``answered_within_three_rings`` — R-01/R-02: the agent leg (or the IVR) answered before the 4th ring.
- ``greeting_played`` — R-03/R-04: a ``greeting.*`` prompt played after the answer (for a call only the IVR
  answered, its ``ivr.welcome`` counts).
- ``silent_protocol_followed`` — R-15: a silent call ended only after three 5-second silence windows
  (not applicable to calls that were not silent).
- ``release_order`` — R-48: the caller hung up first, or the agent ended a call the scripts allow them to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.calls import events as ev
from callcenter.calls.rings import RingCadence
from callcenter.calls.timeline import TimelineEvent
from callcenter.metrics.summary import SummaryBuilder
from callcenter.store import Base, session_scope
from callcenter.web.errors import BadRequest

ITEMS: tuple[tuple[str, str, str], ...] = (
    ("answered_within_three_rings", "三声内接听", "R-01"),
    ("greeting_played", "标准问候语", "R-04"),
    ("silent_protocol_followed", "无声电话规程", "R-15"),
    ("release_order", "挂机顺序(客户先挂)", "R-48"),
)
ITEM_KEYS = tuple(k for k, _, _ in ITEMS)
MAX_COMMENT_LENGTH = 2000


class ReviewRecord(Base):
    """One reviewer's score of one call (a reviewer may revise it; the row keeps the latest)."""

    __tablename__ = "web_qa_reviews"
    __table_args__ = (UniqueConstraint("call_id", "reviewer", name="uq_web_qa_reviews_call_reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    reviewer: Mapped[str] = mapped_column(String(32))
    # item key -> True (met) / False (not met) / None (not applicable), as confirmed by the reviewer.
    items: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the timeline showed when the form was filled, kept beside the verdict for audits.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CommentRecord(Base):
    """A reviewer's remark pinned to a second of the recording."""

    __tablename__ = "web_qa_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str] = mapped_column(String(32))
    at_seconds: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True, slots=True)
class Evidence:
    key: str
    label: str
    rule: str
    value: bool | None  # None: not applicable to this call
    detail: str
    at: float | None = None  # seconds into the call where the evidence is

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "rule": self.rule, "value": self.value,
                "detail": self.detail, "at": self.at}


def evidence(events: list[TimelineEvent], cadence: RingCadence) -> list[Evidence]:
    """The four scoring items as the call's timeline shows them (see module docstring)."""
    summary = SummaryBuilder(cadence).feed_all(events).calls.get(events[0].call_id) if events else None
    labels = {k: (label, rule) for k, label, rule in ITEMS}

    def item(key: str, value: bool | None, detail: str, at: float | None = None) -> Evidence:
        return Evidence(key, *labels[key], value, detail, at)

    out: list[Evidence] = []
    # R-01 is about the agent's phone when an agent took the call; the IVR's answer counts only without one.
    answer = next((e for e in events if e.type == ev.AGENT_ANSWERED), None) or next(
        (e for e in events if e.type == ev.IVR_ANSWERED), None)
    if answer is None:
        out.append(item("answered_within_three_rings", None, "未接听 (never answered)"))
    elif answer.type == ev.AGENT_ANSWERED and summary is not None and summary.answer_seconds is not None:
        ok = summary.within_three_rings
        out.append(item("answered_within_three_rings", ok,
                        f"坐席 {summary.agent} 响铃 {summary.answer_rings} 声 ({summary.answer_seconds:.1f} s) 接听",
                        answer.offset))
    else:
        rings = int(answer.data.get("rings", 0) or 0)
        out.append(item("answered_within_three_rings", rings <= 3, f"IVR 响铃 {rings} 声接听", answer.offset))

    # An agent's call opens with the standard greeting; a call only the IVR answered with its welcome.
    by_agent = answer is not None and answer.type == ev.AGENT_ANSWERED
    opening = ("greeting.",) if by_agent else ("greeting.", "ivr.welcome")
    # A greeting Asterisk could not play (prompt.failed) was not heard: it does not count.
    failed = {e.data.get("playback_id"): e for e in events if e.type == ev.PROMPT_FAILED}
    openings = [e for e in events if e.type == ev.PROMPT_STARTED and str(e.data.get("key", "")).startswith(opening)]
    greeting = next((e for e in openings if e.data.get("playback_id") not in failed), None)
    if answer is None:
        out.append(item("greeting_played", None, "未接听"))
    elif greeting is None and openings:
        error = failed[openings[0].data.get("playback_id")].data.get("error", "")
        out.append(item("greeting_played", False, f"问候语未播放 (not played: {error})", openings[0].offset))
    elif greeting is None:
        out.append(item("greeting_played", False, "时间线中没有问候语 (no greeting prompt)"))
    else:
        out.append(item("greeting_played", True, f"「{greeting.data.get('text', '')}」", greeting.offset))

    hangup = next((e for e in reversed(events) if e.type == ev.HANGUP), None)
    disposition = hangup.data.get("disposition", "") if hangup else ""
    if disposition != "silent":
        out.append(item("silent_protocol_followed", None, "非无声电话 (not a silent call)"))
    else:
        windows = summary.silence_windows if summary else 0
        out.append(item("silent_protocol_followed", windows >= 3,
                        f"挂机前 {windows} 个 5 秒静默窗口 (three required)", hangup.offset if hangup else None))

    if hangup is None:
        out.append(item("release_order", None, "通话未结束"))
    else:
        by = hangup.data.get("by", "")
        ok = not (summary is not None and summary.agent_released_first)
        who = {"caller": "客户", "agent": "坐席", "system": "系统"}.get(by, by)
        out.append(item("release_order", ok, f"{who}先挂机 (disposition {disposition or '-'})", hangup.offset))
    return out


def _check_items(items: dict[str, Any]) -> dict[str, bool | None]:
    clean: dict[str, bool | None] = {}
    for key in ITEM_KEYS:
        value = items.get(key)
        if value not in (True, False, None):
            raise BadRequest(f"items.{key}: expected true, false or null")
        clean[key] = value
    unknown = set(items) - set(ITEM_KEYS)
    if unknown:
        raise BadRequest(f"items: unknown item {sorted(unknown)[0]!r}")
    return clean


def score_of(items: dict[str, bool | None]) -> int:
    """Share of applicable items met, 0-100 (an item that does not apply neither helps nor hurts)."""
    applicable = [v for v in items.values() if v is not None]
    return 100 if not applicable else round(100 * sum(1 for v in applicable if v) / len(applicable))


def save_review(
    url: str, call_id: str, reviewer: str, items: dict[str, Any], shown: list[Evidence], notes: str = ""
) -> dict[str, Any]:
    """Store (or revise) ``reviewer``'s verdict on ``call_id``; ``corrected`` when it differs from the evidence."""
    clean = _check_items(items)
    if len(notes) > MAX_COMMENT_LENGTH:
        raise BadRequest(f"notes: at most {MAX_COMMENT_LENGTH} characters")
    prefilled = {e.key: e.value for e in shown}
    corrected = any(clean[k] != prefilled.get(k) for k in ITEM_KEYS)
    score = score_of(clean)
    now = datetime.now(UTC)
    with session_scope(url) as s:
        row = s.scalar(select(ReviewRecord).where(ReviewRecord.call_id == call_id, ReviewRecord.reviewer == reviewer))
        if row is None:
            row = ReviewRecord(call_id=call_id, reviewer=reviewer)
            s.add(row)
        row.items, row.evidence = clean, {e.key: e.as_dict() for e in shown}
        row.corrected, row.score, row.notes, row.updated_at = corrected, score, notes, now
    return {"call_id": call_id, "reviewer": reviewer, "items": clean, "score": score, "corrected": corrected}


def reviews_of(url: str, call_id: str) -> list[dict[str, Any]]:
    with session_scope(url) as s:
        rows = s.scalars(select(ReviewRecord).where(ReviewRecord.call_id == call_id).order_by(ReviewRecord.id))
        return [{"reviewer": r.reviewer, "items": r.items, "score": r.score, "corrected": r.corrected,
                 "notes": r.notes, "updated_at": r.updated_at.isoformat()} for r in rows]


def add_comment(url: str, call_id: str, author: str, at_seconds: float, text: str) -> dict[str, Any]:
    text = text.strip()
    if not text:
        raise BadRequest("text: a comment must not be empty")
    if len(text) > MAX_COMMENT_LENGTH:
        raise BadRequest(f"text: at most {MAX_COMMENT_LENGTH} characters")
    if not 0 <= at_seconds < 24 * 3600:
        raise BadRequest("at: seconds into the recording, 0 or more")
    with session_scope(url) as s:
        row = CommentRecord(call_id=call_id, author=author, at_seconds=round(at_seconds, 2), text=text,
                            created_at=datetime.now(UTC))
        s.add(row)
        s.flush()
        return {"id": row.id, "author": author, "at": row.at_seconds, "text": text}


def comments_of(url: str, call_id: str) -> list[dict[str, Any]]:
    with session_scope(url) as s:
        rows = s.scalars(select(CommentRecord).where(CommentRecord.call_id == call_id)
                         .order_by(CommentRecord.at_seconds, CommentRecord.id))
        return [{"id": r.id, "author": r.author, "at": r.at_seconds, "text": r.text} for r in rows]
