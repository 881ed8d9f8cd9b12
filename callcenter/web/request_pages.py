"""Access requests on the web (R-111, R-112, R-114): 申请调阅 (file), 我的申请 (the requester's list), 审批
(the supervisors' queue), and the watermarked download or export an approval allows.

The domain rules are :mod:`callcenter.recordings.requests`; these pages only collect the fields, show the
states and pass the signed-in person as the actor. Every play, download and export re-checks its approval on
the server (:meth:`RecordingService.open_for_playback`); a refused approval answers 403 with its reason.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from typing import Any

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.recordings.requests import (
    ACTION_LABELS,
    APPROVERS,
    MAX_VALID_DAYS,
    REQUEST_ACTIONS,
    SUBJECT_KINDS,
    AccessRequests,
    RequestInfo,
    Subject,
)
from callcenter.web.access import requires
from callcenter.web.context import WebContext
from callcenter.web.errors import BadRequest
from callcenter.web.qa_pages import REVIEW_ROLES, actor_of, recordings
from callcenter.web.templating import render
from callcenter.web.users import User

SUBJECT_LABELS = {"customer": "客户本人", "employee": "员工本人"}


def requests_of(ctx: WebContext) -> AccessRequests:
    """The recordings service's request book (one clock for approvals and for their checks)."""
    return recordings(ctx).requests


def _int(value: object, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise BadRequest(f"{what}: expected a number") from None


def _ids(text: str) -> list[int]:
    parts = [p for p in text.replace(",", " ").replace(",", " ").split() if p]
    return [_int(p, "recording ids (录音编号)") for p in parts]


def _subject(fields: dict[str, str]) -> Subject | None:
    kind = fields.get("subject_kind", "")
    if not kind:
        return None
    if kind not in SUBJECT_KINDS:
        raise BadRequest(f"subject_kind: expected {' or '.join(SUBJECT_KINDS)}")
    return Subject(kind, fields.get("subject_name", ""), fields.get("subject_contact", ""),
                   fields.get("subject_verification", ""))


def _file(ctx: WebContext, user: User, fields: dict[str, str]) -> RequestInfo:
    action = fields.get("action", "")
    if action not in REQUEST_ACTIONS:
        raise BadRequest(f"action: expected one of {', '.join(REQUEST_ACTIONS)}")
    call_id = fields.get("call_id", "").strip() or None
    return requests_of(ctx).file(actor_of(user), action=action, purpose=fields.get("purpose", ""),
                                 recording_ids=_ids(fields.get("recording_ids", "")), call_id=call_id,
                                 subject=_subject(fields))


def _fields(form: FormData | dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in form.items() if not isinstance(v, list | dict)}


def _valid_until(ctx: WebContext, fields: dict[str, str]) -> datetime:
    hours = fields.get("valid_hours", "")
    try:
        value = float(hours)
    except ValueError:
        raise BadRequest("valid_hours (有效期): expected a number of hours") from None
    if not 0 < value <= MAX_VALID_DAYS * 24:
        raise BadRequest(f"valid_hours (有效期): more than 0 and at most {MAX_VALID_DAYS * 24} hours")
    return ctx.now() + timedelta(hours=value)


def _decide(ctx: WebContext, user: User, request_id: int, fields: dict[str, str]) -> RequestInfo:
    decision = fields.get("decision", "")
    if decision not in ("approve", "refuse"):
        raise BadRequest("decision: expected approve or refuse")
    approve = decision == "approve"
    return requests_of(ctx).decide(
        actor_of(user), request_id, approve=approve, reason=fields.get("reason", ""),
        valid_until=_valid_until(ctx, fields) if approve else None,
        identity_confirmed=fields.get("identity_confirmed") in ("1", "true", "on"),
    )


def _page_context(ctx: WebContext) -> dict[str, Any]:
    return {"actions": ACTION_LABELS, "subjects": SUBJECT_LABELS, "tz": ctx.settings.service.tz,
            "max_hours": MAX_VALID_DAYS * 24}


@requires(*REVIEW_ROLES)
async def mine_page(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    mine = await asyncio.to_thread(requests_of(ctx).mine, actor_of(user))
    q = request.query_params
    return render(request, "requests.html", page="requests", requests=[r.as_dict() for r in mine],
                  filed=q.get("filed", ""), prefill=q.get("recording", ""), error="", **_page_context(ctx))


@requires(*REVIEW_ROLES)
async def file_form(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    fields = _fields(await request.form())
    info = await asyncio.to_thread(_file, ctx, user, fields)
    return RedirectResponse(f"/requests?filed={info.id}", status_code=303)


@requires(*REVIEW_ROLES)
async def file_api(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    body = await request.json() if request.headers.get("content-length", "0") != "0" else {}
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    fields = _fields(body)
    if isinstance(body.get("recording_ids"), list):
        fields["recording_ids"] = " ".join(str(i) for i in body["recording_ids"])
    info = await asyncio.to_thread(_file, ctx, user, fields)
    return JSONResponse(info.as_dict(), status_code=201)


@requires(*REVIEW_ROLES)
async def mine_api(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    mine = await asyncio.to_thread(requests_of(ctx).mine, actor_of(user))
    return JSONResponse({"items": [r.as_dict() for r in mine]})


@requires(*APPROVERS)
async def queue_page(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    waiting, decided = await asyncio.to_thread(requests_of(ctx).queue, actor_of(user))
    return render(request, "approvals.html", page="approvals", waiting=[r.as_dict() for r in waiting],
                  decided=[r.as_dict() for r in decided], **_page_context(ctx))


@requires(*APPROVERS)
async def decide_form(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    fields = _fields(await request.form())
    await asyncio.to_thread(_decide, ctx, user, _int(request.path_params["request_id"], "request id"), fields)
    return RedirectResponse("/approvals", status_code=303)


@requires(*APPROVERS)
async def decide_api(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    body = await request.json()
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    info = await asyncio.to_thread(_decide, ctx, user, _int(request.path_params["request_id"], "request id"),
                                   _fields(body))
    return JSONResponse(info.as_dict())


@requires(*APPROVERS)
async def revoke_form(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    fields = _fields(await request.form())
    await asyncio.to_thread(requests_of(ctx).revoke, actor_of(user),
                            _int(request.path_params["request_id"], "request id"), reason=fields.get("reason", ""))
    return RedirectResponse("/approvals", status_code=303)


@requires(*REVIEW_ROLES)
async def copy(request: Request, user: User) -> Response:
    """A download or export under an approval: re-checked now, watermarked, ledgered, sent as an attachment."""
    ctx: WebContext = request.app.state.ctx
    approval_id = _int(request.path_params["request_id"], "approval id")
    recording_id = _int(request.path_params["recording_id"], "recording id")
    info = await asyncio.to_thread(requests_of(ctx).get, actor_of(user), approval_id)
    if info.action not in ("download", "export"):
        raise BadRequest(f"approval #{approval_id} is for {info.action}: open the recording's review page to play it")
    playback = await asyncio.to_thread(
        recordings(ctx).open_for_playback, actor_of(user), recording_id, purpose=info.purpose, action=info.action,
        approval_id=approval_id)
    folder = playback.path.parent
    return FileResponse(playback.path, media_type=playback.media_type, filename=playback.path.name,
                        content_disposition_type="attachment",
                        headers={"Cache-Control": "no-store", "X-Watermark-Ledger-Seq": str(playback.ledger_seq)},
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


def routes() -> list[BaseRoute]:
    return [
        Route("/requests", mine_page, methods=["GET"]),
        Route("/requests", file_form, methods=["POST"]),
        Route("/approvals", queue_page, methods=["GET"]),
        Route("/approvals/{request_id}/decision", decide_form, methods=["POST"]),
        Route("/approvals/{request_id}/revoke", revoke_form, methods=["POST"]),
        Route("/requests/{request_id}/copy/{recording_id}", copy, methods=["POST"]),
        Route("/api/access-requests", mine_api, methods=["GET"]),
        Route("/api/access-requests", file_api, methods=["POST"]),
        Route("/api/access-requests/{request_id}/decision", decide_api, methods=["POST"]),
    ]
