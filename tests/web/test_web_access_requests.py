"""Access requests over HTTP (R-111, R-112, R-114): the 申请调阅 form where access is lacking, 我的申请, the
approval queue, plays and watermarked downloads under an approval, and 403 with the reason for an expired,
refused, revoked or forged one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydub.generators import Sine
from starlette.testclient import TestClient

from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.recordings.watermark import read_watermark
from callcenter.store import session_scope
from callcenter.web.app import create_app
from callcenter.web.context import WebContext
from callcenter.web.qa_pages import recordings

PASSWORD = "correct-horse-1"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
def ctx(web_settings: Settings, clock: Clock) -> WebContext:
    return WebContext(web_settings, Timeline(web_settings.database.url), now=clock)


@pytest.fixture
def app_client(ctx: WebContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), base_url="http://testserver") as c:
        yield c


def _wav(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.wav"
    Sine(440).to_audio_segment(duration=2000, volume=-12).set_frame_rate(8000).export(path, format="wav").close()
    return path


@pytest.fixture
def recs(ctx: WebContext, tmp_path: Path, clock: Clock) -> dict[str, int]:
    from callcenter.tickets import service as tickets

    service = recordings(ctx)
    service.clock = lambda: clock().astimezone(UTC)
    service.requests.clock = service.clock
    start = clock.now - timedelta(minutes=5)
    plain = service.import_recording(_wav(tmp_path, "plain"), call_id="plain-1", started_at=start, agent="agent1",
                                     caller="13800138000", disposition="normal")
    with session_scope(ctx.url) as s:
        order = tickets.create_order_for_call(s, ctx.settings, "secret-1", category="complaint",
                                              summary="涉密", accepted_at=start, actor="agent1", confidential=True)
    secret = service.import_recording(_wav(tmp_path, "secret"), call_id="secret-1", started_at=start,
                                      agent="agent1", caller="13900139000", order_numbers=[order.number])
    return {"plain": plain.id, "secret": secret.id}


def _csrf(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text)
    assert match, path
    return match.group(1)


def _as(client: TestClient, name: str) -> str:
    client.cookies.clear()
    r = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": _csrf(client, "/login")},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(client, r.headers["location"])


def _file(client: TestClient, token: str, **fields: str) -> int:
    r = client.post("/requests", data={"csrf_token": token, **fields}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("=", 1)[1])


def _decide(client: TestClient, token: str, request_id: int, decision: str, **fields: str) -> None:
    r = client.post(f"/approvals/{request_id}/decision", data={"csrf_token": token, "decision": decision,
                                                                "reason": "投诉复核", "valid_hours": "2", **fields},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def _play(client: TestClient, token: str, rid: int, approval: int | None) -> object:
    return client.post(f"/api/recordings/{rid}/play", json={"purpose": "复核", "approval_id": approval},
                       headers={"X-CSRF-Token": token})


def test_request_approve_play_then_expire(app_client: TestClient, recs: dict[str, int], clock: Clock,
                                          ctx: WebContext) -> None:
    c, secret = app_client, recs["secret"]
    token = _as(c, "qa1")
    page = c.get(f"/qa/{secret}")
    assert page.status_code == 403 and "无权访问" in page.text and 'id="request-form"' in page.text
    nav = c.get("/requests").text
    assert 'id="nav-requests"' in nav and 'id="nav-approvals"' not in nav
    assert c.get("/approvals").status_code == 403
    rid = _file(c, token, recording_ids=str(secret), action="play", purpose="客户投诉复核")
    mine = c.get(f"/requests?filed={rid}").text
    assert f"申请 #{rid} 已提交" in mine and "待审批" in mine
    pending = _play(c, token, secret, rid)
    assert pending.status_code == 403 and "尚未审批" in pending.json()["error"]

    boss = _as(c, "boss")
    queue = c.get("/approvals").text
    assert 'id="nav-approvals"' in queue and f'data-id="{rid}"' in queue and "客户投诉复核" in queue
    _decide(c, boss, rid, "approve")
    assert "已批准" in c.get("/approvals").text

    token = _as(c, "qa1")
    assert f'href="/qa/{secret}?approval={rid}"' in c.get("/requests").text
    assert c.get(f"/qa/{secret}?approval={rid}").status_code == 200
    granted = _play(c, token, secret, rid)
    assert granted.status_code == 200 and c.get(granted.json()["url"]).status_code == 200
    forged = _play(c, token, secret, rid + 100)
    assert forged.status_code == 403 and "不是您的有效审批" in forged.json()["error"]
    other = _play(c, token, recs["plain"], rid)
    assert other.status_code == 403 and "不包括录音" in other.json()["error"]
    clock.now += timedelta(hours=2)
    expired = _play(c, token, secret, rid)
    assert expired.status_code == 403 and "过期" in expired.json()["error"]
    assert "已过期" in c.get("/requests").text
    assert recordings(ctx).verify_ledger().ok


def test_refused_and_revoked_approvals_answer_403_with_the_reason(app_client: TestClient,
                                                                  recs: dict[str, int], ctx: WebContext) -> None:
    c, secret = app_client, recs["secret"]
    token = _as(c, "qa1")
    refused = _file(c, token, recording_ids=str(secret), action="play", purpose="看看")
    revoked = _file(c, token, recording_ids=str(secret), action="play", purpose="投诉复核")
    boss = _as(c, "boss")
    r = c.post(f"/approvals/{refused}/decision", data={"csrf_token": boss, "decision": "refuse",
                                                       "reason": "用途不明确", "valid_hours": "2"},
               follow_redirects=False)
    assert r.status_code == 303
    _decide(c, boss, revoked, "approve")
    token = _as(c, "qa1")
    granted = _play(c, token, secret, revoked)
    assert granted.status_code == 200
    audio_url = granted.json()["url"]
    assert c.get(audio_url).status_code == 200
    boss = _as(c, "boss")
    r = c.post(f"/approvals/{revoked}/revoke", data={"csrf_token": boss, "reason": "投诉已撤回"},
               follow_redirects=False)
    assert r.status_code == 303
    token = _as(c, "qa1")
    no = _play(c, token, secret, refused)
    assert no.status_code == 403 and "已被拒绝:用途不明确" in no.json()["error"]
    gone = _play(c, token, secret, revoked)
    assert gone.status_code == 403 and "已被撤销:投诉已撤回" in gone.json()["error"]
    # The play granted before the revocation stops too: its audio requests re-check the approval.
    stopped = c.get(audio_url)
    assert stopped.status_code == 403 and "已被撤销" in stopped.json()["error"]
    assert recordings(ctx).verify_ledger().ok


def test_an_approved_download_is_a_watermarked_attachment(app_client: TestClient, recs: dict[str, int],
                                                          tmp_path: Path, ctx: WebContext) -> None:
    c, plain = app_client, recs["plain"]
    token = _as(c, "qa1")
    rid = _file(c, token, recording_ids=str(plain), action="download", purpose="提交仲裁")
    early = c.post(f"/requests/{rid}/copy/{plain}", data={"csrf_token": token})
    assert early.status_code == 403 and "尚未审批" in early.text
    _decide(c, _as(c, "boss"), rid, "approve")
    token = _as(c, "qa1")
    r = c.post(f"/requests/{rid}/copy/{plain}", data={"csrf_token": token})
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    out = tmp_path / "got.wav"
    out.write_bytes(r.content)
    mark = read_watermark(out)
    assert mark is not None and "qa1" in mark and f"#{rid}" in mark
    # The supervisor who approved it cannot use it: an approval is its requester's alone.
    boss = _as(c, "boss")
    stolen = c.post(f"/requests/{rid}/copy/{plain}", data={"csrf_token": boss})
    assert stolen.status_code == 403 and "不是您的有效审批" in stolen.text
    assert recordings(ctx).verify_ledger().ok


def test_subject_access_request_needs_the_identity_confirmed(app_client: TestClient,
                                                             recs: dict[str, int]) -> None:
    c = app_client
    token = _as(c, "qa1")
    rid = _file(c, token, call_id="plain-1", action="play", purpose="客户本人申请听取 (R-114)",
                subject_kind="customer", subject_name="王先生", subject_contact="13800138000",
                subject_verification="回拨登记号码核对")
    boss = _as(c, "boss")
    assert "已核验身份" in c.get("/approvals").text
    r = c.post(f"/approvals/{rid}/decision", data={"csrf_token": boss, "decision": "approve", "reason": "本人",
                                                   "valid_hours": "2"}, follow_redirects=False)
    assert r.status_code == 400 and "确认已核验申请人身份" in r.text
    _decide(c, boss, rid, "approve", identity_confirmed="1")
    assert "已批准" in c.get("/approvals").text
    # A request for a call that is not the subject's is refused with the reason.
    r = c.post("/requests", data={"csrf_token": _as(c, "qa1"), "call_id": "secret-1", "action": "play",
                                  "purpose": "x", "subject_kind": "customer", "subject_name": "王先生",
                                  "subject_contact": "13800138000", "subject_verification": "核对"})
    assert r.status_code == 400 and "not a call of this customer" in r.text


def test_bad_request_fields_are_named(app_client: TestClient, recs: dict[str, int]) -> None:
    c = app_client
    token = _as(c, "qa1")
    r = c.post("/requests", data={"csrf_token": token, "recording_ids": "12x", "action": "play", "purpose": "x"})
    assert r.status_code == 400 and "recording ids" in r.text
    r = c.post("/api/access-requests", json={"recording_ids": [recs["plain"]], "action": "play", "purpose": ""},
               headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and "purpose" in r.json()["error"]
    r = c.post("/api/access-requests", json={"recording_ids": [recs["plain"]], "action": "play",
                                             "purpose": "抽检"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 201 and r.json()["state"] == "pending"
    assert [i["id"] for i in c.get("/api/access-requests").json()["items"]] == [r.json()["id"]]
    boss = _as(c, "boss")
    r = c.post(f"/api/access-requests/{r.json()['id']}/decision", json={"decision": "approve", "reason": "x",
                                                                         "valid_hours": "9999"},
               headers={"X-CSRF-Token": boss})
    assert r.status_code == 400 and "valid_hours" in r.json()["error"]
