"""QA review (质检): the recordings list, the review page (player, waveform, timeline, scoring, comments).

Access is the recordings service's (R-111, R-112, R-82): it filters the list, refuses a confidential
recording to a reviewer without the grant (by page and by API alike, and ledgers the refusal), and writes
every play to the access ledger. A play is authorised once (POST, CSRF-checked, ledgered) and returns a
short-lived ticket for the audio URL, so the browser's range requests while seeking are not new plays and
the audio cannot be fetched at all without a ledgered play.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.calls import events as ev
from callcenter.calls.supervision import supervision_label
from callcenter.calls.timeline import TimelineEvent
from callcenter.recordings.access import Actor
from callcenter.recordings.errors import AccessDenied
from callcenter.recordings.service import FLAGS, RecordingFilter, RecordingService
from callcenter.recordings.supervision import supervision_entries
from callcenter.web import review
from callcenter.web.access import requires
from callcenter.web.context import WebContext
from callcenter.web.errors import BadRequest, NotAllowed
from callcenter.web.templating import render
from callcenter.web.transfer_labels import TRANSFER_EVENTS, transfer_label
from callcenter.web.users import User

REVIEW_ROLES = ("qa", "supervisor", "admin")
PER_PAGE = 20
TICKET_SECONDS = 3600.0
FLAG_LABELS = {"held": "法律保全", "confidential": "保密", "corrupt": "损坏", "empty": "空录音",
               "silent": "无声", "unprocessed": "处理中"}
DISPOSITION_LABELS = {"normal": "正常", "silent": "无声电话", "low_volume": "声音太小", "noise": "杂音",
                      "dialect_unresolved": "方言未解决", "abandoned": "放弃", "script_error": "话术错误",
                      "no_agent": "无空闲坐席"}
# Timeline events shown under the player (rings, greeting, silence windows, holds, transfers, hang-up).
SHOWN_EVENTS = frozenset({
    ev.IVR_RINGING, ev.IVR_ANSWERED, ev.AGENT_RINGING, ev.AGENT_ANSWERED, ev.AGENT_SKIPPED, ev.BRIDGED,
    ev.SCRIPT_REQUESTED, ev.SCRIPT_STATE, ev.PROMPT_STARTED, ev.PROMPT_FAILED, ev.SILENCE_WINDOW,
    ev.SPEECH_STARTED, ev.DTMF,
    ev.HOLD_STARTED, ev.HOLD_ENDED, ev.QUEUE_ENTERED, ev.RELEASE_REFUSED, ev.WORK_ORDER_CREATED, ev.HANGUP,
    ev.RECORDING_STARTED, ev.SUPERVISION_STARTED, ev.SUPERVISION_SWITCHED, ev.SUPERVISION_ENDED,
}) | TRANSFER_EVENTS


@dataclass(frozen=True, slots=True)
class PlayTicket:
    user_id: int
    recording_id: int
    path: Path
    media_type: str
    expires: float
    # The approval the play was granted under, re-checked at every audio request (a revoked one stops it).
    approval_id: int | None = None


def actor_of(user: User) -> Actor:
    return Actor(user.name, user.role, user.confidential_access)


def recordings(ctx: WebContext) -> RecordingService:
    service = ctx.extras.get("recordings")
    if service is None:
        service = ctx.extras["recordings"] = RecordingService(ctx.settings, timeline=ctx.timeline)
    return service


def _tickets(ctx: WebContext) -> dict[str, PlayTicket]:
    return ctx.extras.setdefault("play_tickets", {})  # type: ignore[no-any-return]


def _parse_day(text: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{what}: expected a date like 2026-11-23") from None


def list_filters(ctx: WebContext, q: dict[str, str]) -> tuple[RecordingFilter, int]:
    """The list's filters from the query string (dates are the centre's local days)."""
    tz = ctx.settings.service.tz
    start, end = _parse_day(q.get("from", ""), "from"), _parse_day(q.get("to", ""), "to")
    flags = frozenset(f for f in q.get("flags", "").split(",") if f)
    unknown = flags - set(FLAGS)
    if unknown:
        raise BadRequest(f"flags: unknown flag {sorted(unknown)[0]!r} (known: {', '.join(FLAGS)})")
    try:
        page = int(q.get("page", "1") or "1")
    except ValueError:
        raise BadRequest("page: expected a number") from None
    if page < 1:
        raise BadRequest("page: 1 or more")
    return RecordingFilter(
        agent=q.get("agent") or None,
        since=datetime.combine(start, dtime(), tz) if start else None,
        until=datetime.combine(end + timedelta(days=1), dtime(), tz) if end else None,
        disposition=q.get("disposition") or None,
        work_order=q.get("work_order") or None,
        flags=flags,
    ), page


def _recording_id(request: Request) -> int:
    try:
        return int(request.path_params["recording_id"])
    except ValueError:
        raise BadRequest("recording id: expected a number") from None


def recording_start(events: list[TimelineEvent]) -> float:
    """The call offset where the recording begins (its second 0)."""
    return next((e.offset for e in events if e.type == ev.RECORDING_STARTED), 0.0)


def timeline_rows(events: list[TimelineEvent]) -> list[dict[str, Any]]:
    """The call's events with their time on the recording (0 = recording start; negative = before it)."""
    start = recording_start(events)
    return [
        {"type": e.type, "t": round(e.offset - start, 2), "offset": e.offset, "data": e.data, "label": describe(e)}
        for e in events if e.type in SHOWN_EVENTS
    ]


def describe(e: TimelineEvent) -> str:
    d = e.data
    match e.type:
        case ev.IVR_RINGING:
            return f"IVR 响铃第 {d.get('ring')} 声"
        case ev.IVR_ANSWERED:
            return f"IVR 接听(响铃 {d.get('rings')} 声)"
        case ev.AGENT_RINGING:
            return f"坐席 {d.get('agent')} 响铃第 {d.get('ring')} 声"
        case ev.AGENT_ANSWERED:
            return f"坐席 {d.get('agent')} 接听(响铃 {d.get('rings')} 声)"
        case ev.AGENT_SKIPPED:
            return f"坐席 {d.get('agent')} 未接,转邻座 (R-02)"
        case ev.PROMPT_STARTED:
            return f"播放「{d.get('text', d.get('key', ''))}」"
        case ev.PROMPT_FAILED:
            return f"未能播放「{d.get('text', d.get('key', ''))}」:{d.get('error', '')}"
        case ev.SILENCE_WINDOW:
            return f"静默窗口 {d.get('seconds', 5)} 秒 (第 {d.get('step', '?')} 步)"
        case ev.HOLD_STARTED:
            return "保持开始"
        case ev.HOLD_ENDED:
            return f"保持结束({d.get('seconds', 0)} 秒)"
        case ev.HANGUP:
            who = {"caller": "客户", "agent": "坐席", "system": "系统"}.get(d.get("by", ""), d.get("by", ""))
            return f"{who}挂机 · {DISPOSITION_LABELS.get(d.get('disposition', ''), d.get('disposition', ''))}"
        case ev.SCRIPT_STATE:
            return f"话术 {d.get('script')} · {d.get('state')}"
        case ev.SCRIPT_REQUESTED:
            return f"坐席启动话术 {d.get('script')}"
        case ev.RELEASE_REFUSED:
            return f"拒绝挂机:{d.get('reason', '')}"
        case ev.WORK_ORDER_CREATED:
            return f"生成工单 {d.get('number')}"
        case ev.SPEECH_STARTED:
            return "客户说话"
        case ev.DTMF:
            return f"按键 {d.get('digit')}"
        case ev.QUEUE_ENTERED:
            return "进入排队"
        case ev.BRIDGED:
            return "双方接通"
        case ev.RECORDING_STARTED:
            return "开始录音"
        case ev.SUPERVISION_STARTED | ev.SUPERVISION_SWITCHED | ev.SUPERVISION_ENDED:
            return supervision_label(e.type, d)
    if e.type in TRANSFER_EVENTS:
        return transfer_label(e.type, d)
    return e.type


def with_call_facts(rec: dict[str, Any], events: list[TimelineEvent]) -> dict[str, Any]:
    """Fill the agent and the disposition from the call's timeline when the recording row lacks them (the
    row is created when recording starts, before an agent answers)."""
    for e in events:
        if e.type == ev.AGENT_ANSWERED and not rec.get("agent"):
            rec["agent"] = e.data.get("agent")
        elif e.type == ev.HANGUP and not rec.get("disposition"):
            rec["disposition"] = e.data.get("disposition")
    return rec


def _fill_from_board(ctx: WebContext, page: dict[str, Any]) -> dict[str, Any]:
    for item in page["items"]:
        call = ctx.board.get(item["call_id"])
        if call is not None:
            item["agent"] = item["agent"] or call.agent or None
            item["disposition"] = item["disposition"] or call.disposition or None
    return page


def review_data(ctx: WebContext, user: User, recording_id: int, approval_id: int | None = None) -> dict[str, Any]:
    """Everything the review page shows; raises AccessDenied (ledgered) for a hidden recording unless
    ``approval_id`` is the user's valid approval for it."""
    info = recordings(ctx).get(actor_of(user), recording_id, approval_id=approval_id)
    events = ctx.timeline.events(info.call_id)
    shown = review.evidence(events, ctx.cadence) if events else []
    start = recording_start(events)
    analysis = info.analysis or {}
    return {
        "recording": with_call_facts(info.as_dict(), events),
        "peaks": analysis.get("peaks", []),
        "silences": analysis.get("silences", []),
        "timeline": timeline_rows(events),
        # Evidence times on the recording's clock, like the timeline under the player.
        "evidence": [e.as_dict() | {"at": None if e.at is None else round(e.at - start, 2)} for e in shown],
        "reviews": review.reviews_of(ctx.url, info.call_id),
        "comments": review.comments_of(ctx.url, info.call_id),
        # who listened in on the call live, when, in which mode and why (the access ledger's entries).
        "monitoring": supervision_entries(ctx.url, info.call_id),
        "approval_id": approval_id,
    }


def _approval_param(value: object) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise BadRequest("approval: expected an approval number") from None


@requires(*REVIEW_ROLES)
async def list_page(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    q = dict(request.query_params)
    filters, page = list_filters(ctx, q)
    result = await asyncio.to_thread(recordings(ctx).list, actor_of(user), filters, page=page, per_page=PER_PAGE)
    pages = max(1, -(-result.total // PER_PAGE))
    return render(request, "qa_list.html", page="qa", result=_fill_from_board(ctx, result.as_dict()), q=q,
                  pages=pages,
                  flags=FLAG_LABELS, dispositions=DISPOSITION_LABELS, tz=ctx.settings.service.tz)


@requires(*REVIEW_ROLES)
async def list_api(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    filters, page = list_filters(ctx, dict(request.query_params))
    result = await asyncio.to_thread(recordings(ctx).list, actor_of(user), filters, page=page, per_page=PER_PAGE)
    return JSONResponse(_fill_from_board(ctx, result.as_dict()))


@requires(*REVIEW_ROLES)
async def review_page(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    recording_id = _recording_id(request)
    approval_id = _approval_param(request.query_params.get("approval"))
    try:
        data = await asyncio.to_thread(review_data, ctx, user, recording_id, approval_id)
    except AccessDenied as exc:
        # Where access is lacking, the page offers to request it (申请调阅, R-111) instead of a dead end.
        return render(request, "qa_request.html", status_code=403, page="qa", recording_id=recording_id,
                      message=str(exc))
    return render(request, "qa_review.html", page="qa", data=data, items=review.ITEMS,
                  dispositions=DISPOSITION_LABELS, flags=FLAG_LABELS, tz=ctx.settings.service.tz)


@requires(*REVIEW_ROLES)
async def review_api(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    return JSONResponse(await asyncio.to_thread(review_data, ctx, user, _recording_id(request)))


@requires(*REVIEW_ROLES)
async def play(request: Request, user: User) -> Response:
    """Authorise and ledger one play (R-111); returns the audio URL with its ticket."""
    ctx: WebContext = request.app.state.ctx
    recording_id = _recording_id(request)
    body = await _json(request)
    purpose = str(body.get("purpose") or "质检复核 (QA review)")
    approval_id = _approval_param(body.get("approval_id"))
    playback = await asyncio.to_thread(
        recordings(ctx).open_for_playback, actor_of(user), recording_id, purpose=purpose, approval_id=approval_id,
    )
    tickets = _tickets(ctx)
    now = time.monotonic()
    for key in [k for k, t in tickets.items() if t.expires < now]:
        del tickets[key]
    token = secrets.token_urlsafe(24)
    tickets[token] = PlayTicket(user.id, recording_id, playback.path, playback.media_type, now + TICKET_SECONDS,
                                approval_id)
    return JSONResponse({"url": f"/api/recordings/{recording_id}/audio?ticket={token}",
                         "ledger_seq": playback.ledger_seq, "media_type": playback.media_type})


@requires(*REVIEW_ROLES)
async def audio(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    ticket = _tickets(ctx).get(request.query_params.get("ticket", ""))
    if ticket is None or ticket.user_id != user.id or ticket.recording_id != _recording_id(request) \
            or ticket.expires < time.monotonic():
        raise NotAllowed("没有有效的播放授权 (play the recording from its review page; every play is ledgered)")
    if ticket.approval_id is not None:
        why = await asyncio.to_thread(recordings(ctx).requests.refusal, actor_of(user), ticket.approval_id,
                                      ticket.recording_id, "play")
        if why is not None:
            raise NotAllowed(why)
    # Inline only, never as an attachment: R-112 allows in-browser replay, not download.
    return FileResponse(ticket.path, media_type=ticket.media_type, content_disposition_type="inline",
                        headers={"Cache-Control": "no-store"})


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("body: not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    return body


@requires(*REVIEW_ROLES)
async def save_review(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    body = await _json(request)
    items = body.get("items")
    if not isinstance(items, dict):
        raise BadRequest("items: expected an object of item → true/false/null")

    def run() -> dict[str, Any]:
        data = review_data(ctx, user, _recording_id(request))
        shown = [review.Evidence(**e) for e in data["evidence"]]
        return review.save_review(ctx.url, data["recording"]["call_id"], user.name, items, shown,
                                  str(body.get("notes", "")))

    return JSONResponse(await asyncio.to_thread(run))


@requires(*REVIEW_ROLES)
async def add_comment(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    body = await _json(request)
    try:
        at = float(body.get("at", 0))
    except (TypeError, ValueError):
        raise BadRequest("at: seconds into the recording") from None

    def run() -> dict[str, Any]:
        info = recordings(ctx).get(actor_of(user), _recording_id(request))
        return review.add_comment(ctx.url, info.call_id, user.name, at, str(body.get("text", "")))

    return JSONResponse(await asyncio.to_thread(run), status_code=201)


def routes() -> list[BaseRoute]:
    return [
        Route("/qa", list_page),
        Route("/qa/{recording_id}", review_page),
        Route("/api/recordings", list_api),
        Route("/api/recordings/{recording_id}", review_api),
        Route("/api/recordings/{recording_id}/play", play, methods=["POST"]),
        Route("/api/recordings/{recording_id}/audio", audio),
        Route("/api/recordings/{recording_id}/review", save_review, methods=["POST"]),
        Route("/api/recordings/{recording_id}/comments", add_comment, methods=["POST"]),
    ]
