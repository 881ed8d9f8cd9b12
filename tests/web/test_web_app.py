"""The web app over HTTP: sign-in, roles checked on the server, CSRF, cookies, the panel's API, QA access."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydub.generators import Sine
from sqlalchemy import func, select
from starlette.testclient import TestClient

from callcenter.calls import events as ev
from callcenter.calls.agents import AgentState
from callcenter.recordings.models import LedgerEntry
from callcenter.scripting.protocol import ReleaseRequested, ScriptRequested
from callcenter.store import session_scope
from callcenter.web.context import WebContext
from callcenter.web.qa_pages import recordings

ROLE_PAGES = {"agent1": "/agent", "qa1": "/qa", "boss": "/wallboard", "root": "/wallboard"}


class RecordingControl:
    """Test double of the live-call registry: remembers what the panel sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    async def send(self, call_id: str, event: ScriptRequested | ReleaseRequested) -> bool:
        self.sent.append((call_id, event))
        return True


def put_call(ctx: WebContext, call_id: str, steps: list[tuple[float, str, dict]]) -> None:
    t0 = ctx.now() - timedelta(seconds=60)
    for t, kind, data in steps:
        ctx.timeline.append(call_id, kind, data, at=t0 + timedelta(seconds=t), offset=t)
    for event in ctx.timeline.flush_sync():
        ctx.feed(event)


def ringing_call(ctx: WebContext, call_id: str = "c1", ring: int = 2) -> None:
    put_call(ctx, call_id, [
        (0, ev.CALL_OFFERED, {"caller": "13800138000", "locale": "zh-CN", "group": "default"}),
        (1, ev.QUEUE_ENTERED, {"group": "default"}),
        *[(1 + 5 * i, ev.AGENT_RINGING, {"agent": "agent1", "ring": i + 1}) for i in range(ring)],
    ])


@pytest.mark.parametrize(("name", "home"), sorted(ROLE_PAGES.items()))
def test_each_role_signs_in_to_its_own_page(client: TestClient, signed_in: Callable[[str], str], name: str,
                                            home: str) -> None:
    signed_in(name)
    page = client.get(home)
    assert page.status_code == 200 and "退出" in page.text


def test_session_cookie_is_httponly_and_samesite(client: TestClient) -> None:
    token = client.get("/login")
    cookie = token.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize(("name", "path"), [
    ("agent1", "/wallboard"), ("agent1", "/qa"), ("agent1", "/api/wallboard"), ("agent1", "/api/recordings"),
    ("qa1", "/agent"), ("qa1", "/wallboard"), ("qa1", "/api/agent/panel"), ("boss", "/agent"),
])
def test_the_server_refuses_pages_and_apis_outside_the_role(client: TestClient, signed_in: Callable[[str], str],
                                                            name: str, path: str) -> None:
    signed_in(name)
    assert client.get(path).status_code == 403


def test_signed_out_pages_redirect_and_apis_answer_401(client: TestClient) -> None:
    assert client.get("/agent", follow_redirects=False).headers["location"].startswith("/login")
    assert client.get("/api/agent/panel").status_code == 401


def test_wrong_password_shows_the_form_again(client: TestClient) -> None:
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"name": "agent1", "password": "wrong-one!", "csrf_token": token})
    assert r.status_code == 401 and "用户名或密码错误" in r.text


def test_state_changes_need_the_csrf_token(client: TestClient, signed_in: Callable[[str], str]) -> None:
    token = signed_in("agent1")
    assert client.post("/api/agent/state", json={"state": "ready"}).status_code == 403
    assert client.post("/api/agent/state", json={"state": "ready"},
                       headers={"X-CSRF-Token": "forged"}).status_code == 403
    ok = client.post("/api/agent/state", json={"state": "ready"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json() == {"state": "ready", "reason": None}
    bad = client.post("/api/agent/state", json={"state": "asleep"}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and "state: expected one of" in bad.json()["error"]


def test_signing_out_takes_an_idle_seat_offline_and_leaves_a_call_alone(
        client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str]) -> None:
    """R-01, R-02: no call for a seat nobody sits at. A seat on a call keeps it (the router frees it after)."""
    token = signed_in("agent1")
    assert client.post("/api/agent/state", json={"state": "ready"}, headers={"X-CSRF-Token": token}).status_code == 200
    assert web_ctx.agents.get("agent1").state is AgentState.READY
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert web_ctx.agents.get("agent1").state is AgentState.OFFLINE
    assert client.get("/api/agent/panel").status_code == 401  # and signed out

    token = signed_in("agent1")
    assert client.post("/api/agent/state", json={"state": "ready"}, headers={"X-CSRF-Token": token}).status_code == 200
    # A call reserves the seat (another process's router, so this page's view still says ready) …
    reserved = web_ctx.agents.store.reserve("default", call_id="c-9", holder="elsewhere", now=datetime.now(UTC),
                                            lease_seconds=60)
    assert reserved is not None and reserved.id == "agent1"
    client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    # … and the sign-out leaves it ringing for that call.
    assert [(a.id, a.state) for a in web_ctx.agents.store.snapshot()[0]] == [("agent1", AgentState.RINGING)]


def test_not_ready_takes_a_known_reason_code(client: TestClient, signed_in: Callable[[str], str]) -> None:
    """Issue 15: 未就绪 with 小休 / 用餐 / 培训 / 会议 (or the centre's own); an unknown code is a 400 and one line."""
    token = signed_in("agent1")
    headers = {"X-CSRF-Token": token}
    meal = client.post("/api/agent/state", json={"state": "not_ready", "reason": "meal"}, headers=headers)
    assert meal.status_code == 200 and meal.json() == {"state": "not_ready", "reason": "meal"}
    panel = client.get("/api/agent/panel").json()
    assert panel["agent"]["reason"] == "meal" and panel["agent"]["reason_label"] == "用餐"
    assert panel["reasons"]["break"] == "小休"
    nap = client.post("/api/agent/state", json={"state": "not_ready", "reason": "nap"}, headers=headers)
    error = nap.json()["error"]
    assert nap.status_code == 400 and error.startswith("reason: unknown reason code 'nap'") and "\n" not in error
    ready = client.post("/api/agent/state", json={"state": "ready", "reason": "meal"}, headers=headers)
    assert ready.status_code == 400 and "only not_ready takes a reason code" in ready.json()["error"]


def test_login_itself_needs_the_csrf_token(client: TestClient) -> None:
    client.get("/login")
    r = client.post("/login", data={"name": "agent1", "password": "correct-horse-1"})
    assert r.status_code == 403


def test_panel_shows_the_ringing_call_with_its_ring_count_and_greeting(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str]
) -> None:
    signed_in("agent1")
    ringing_call(web_ctx, ring=2)
    panel = client.get("/api/agent/panel").json()
    assert panel["call"]["phase"] == "ringing" and panel["call"]["ring"] == 2 and panel["ring_limit"] == 3
    # R-04 with the agent's 工号 (R-12 default): rendered by the engine's catalogue.
    assert panel["card"]["key"] == "greeting.standard"
    assert "客服代表8001号很高兴为您服务" in panel["card"]["text"]


def test_surname_typed_by_the_agent_renders_the_named_address(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str]
) -> None:
    token = signed_in("agent1")
    ringing_call(web_ctx)
    put_call(web_ctx, "c1", [(12, ev.AGENT_ANSWERED, {"agent": "agent1", "rings": 3})])
    bad = client.post("/api/agent/address", json={"call_id": "c1", "surname": "Li", "honorific": "先生"},
                      headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and "surname" in bad.json()["error"]
    client.post("/api/agent/address", json={"call_id": "c1", "surname": "李", "honorific": "先生"},
                headers={"X-CSRF-Token": token})
    card = client.get("/api/agent/panel").json()["card"]
    assert card["key"] == "address.named" and card["text"].startswith("李先生")


def test_a_repeat_caller_is_greeted_by_name_with_past_orders(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str]
) -> None:
    from callcenter.tickets import service as tickets

    with session_scope(web_ctx.url) as s:
        tickets.create_order(s, web_ctx.settings, category="repair", summary="水表漏水", actor="agent1",
                             accepted_at=datetime.now(UTC) - timedelta(days=3), caller_number="13800138000",
                             caller_name="王先生")
    signed_in("agent1")
    ringing_call(web_ctx)
    put_call(web_ctx, "c1", [(12, ev.AGENT_ANSWERED, {"agent": "agent1", "rings": 3})])
    panel = client.get("/api/agent/panel").json()
    assert [o["summary"] for o in panel["past_orders"]] == ["水表漏水"]
    assert panel["address"]["surname"] == "王" and panel["address"]["honorific"] == "先生"
    assert panel["card"]["text"].startswith("王先生,")


def test_situation_button_and_release_go_to_the_live_session(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str]
) -> None:
    control = RecordingControl()
    web_ctx.control = control
    token = signed_in("agent1")
    ringing_call(web_ctx)
    h = {"X-CSRF-Token": token}
    early = client.post("/api/agent/script", json={"call_id": "c1", "script": "silent_call"}, headers=h)
    assert early.status_code == 400  # not answered yet
    put_call(web_ctx, "c1", [(12, ev.AGENT_ANSWERED, {"agent": "agent1", "rings": 3})])
    assert client.post("/api/agent/script", json={"call_id": "c1", "script": "silent_call"}, headers=h).is_success
    assert client.post("/api/agent/script", json={"call_id": "c1", "script": "rm -rf"}, headers=h).status_code == 400
    assert client.post("/api/agent/release", json={"call_id": "c1"}, headers=h).is_success
    assert control.sent == [("c1", ScriptRequested("silent_call", by="agent1")), ("c1", ReleaseRequested("agent1"))]
    other = client.post("/api/agent/release", json={"call_id": "not-mine"}, headers=h)
    assert other.status_code == 409


def test_work_order_from_the_call_has_deadlines_and_reaches_the_timeline(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str]
) -> None:
    token = signed_in("agent1")
    ringing_call(web_ctx)
    put_call(web_ctx, "c1", [(12, ev.AGENT_ANSWERED, {"agent": "agent1", "rings": 3})])
    h = {"X-CSRF-Token": token}
    missing = client.post("/api/workorders", json={"call_id": "c1", "category": "complaint", "summary": ""},
                          headers=h)
    assert missing.status_code == 400 and "summary" in missing.json()["error"]
    r = client.post("/api/workorders", json={"call_id": "c1", "category": "complaint", "major": True,
                                              "confidential": False, "summary": "水费多收"}, headers=h)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["category"] == "complaint" and order["major"] is True and order["deadlines"]
    assert all(d["title"] for d in order["deadlines"])
    assert [e.type for e in web_ctx.timeline.events("c1")][-1] == ev.WORK_ORDER_CREATED


def _wav(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.wav"
    Sine(440).to_audio_segment(duration=2000, volume=-12).set_frame_rate(8000).export(path, format="wav").close()
    return path


@pytest.fixture
def two_recordings(web_ctx: WebContext, tmp_path: Path) -> dict[str, int]:
    """One ordinary recording and one linked to a confidential work order (R-82)."""
    from callcenter.tickets import service as tickets

    service = recordings(web_ctx)
    start = datetime.now(UTC) - timedelta(minutes=5)
    plain = service.import_recording(_wav(tmp_path, "plain"), call_id="plain-1", started_at=start, agent="agent1",
                                     caller="13800138000", disposition="normal")
    with session_scope(web_ctx.url) as s:
        order = tickets.create_order_for_call(s, web_ctx.settings, "secret-1", category="complaint",
                                              summary="涉密", accepted_at=start, actor="agent1", confidential=True)
    secret = service.import_recording(_wav(tmp_path, "secret"), call_id="secret-1", started_at=start,
                                      agent="agent1", order_numbers=[order.number])
    return {"plain": plain.id, "secret": secret.id}


def _ledger_size(url: str) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def test_confidential_recording_is_hidden_by_page_and_api_without_the_grant(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], two_recordings: dict[str, int]
) -> None:
    signed_in("qa1")
    listed = client.get("/api/recordings").json()
    assert [i["call_id"] for i in listed["items"]] == ["plain-1"] and listed["total"] == 1
    assert "secret-1" not in client.get("/qa").text
    assert client.get(f"/qa/{two_recordings['secret']}").status_code == 403
    assert client.get(f"/api/recordings/{two_recordings['secret']}").status_code == 403
    h = {"X-CSRF-Token": client.cookies and _token(client, f"/qa/{two_recordings['plain']}")}
    assert client.post(f"/api/recordings/{two_recordings['secret']}/play", json={}, headers=h).status_code == 403


def _token(client: TestClient, path: str) -> str:
    import re

    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text).group(1)


def test_granted_reviewer_sees_the_confidential_recording(
    client: TestClient, signed_in: Callable[[str], str], two_recordings: dict[str, int]
) -> None:
    signed_in("qa_secret")
    assert client.get(f"/qa/{two_recordings['secret']}").status_code == 200


def test_every_play_is_ledgered_and_audio_needs_the_play_ticket(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str], two_recordings: dict[str, int]
) -> None:
    token = signed_in("qa1")
    rid = two_recordings["plain"]
    assert client.get(f"/api/recordings/{rid}/audio?ticket=guess").status_code == 403
    before = _ledger_size(web_ctx.url)
    grant = client.post(f"/api/recordings/{rid}/play", json={"purpose": "抽检"}, headers={"X-CSRF-Token": token})
    assert grant.status_code == 200 and _ledger_size(web_ctx.url) == before + 1
    audio = client.get(grant.json()["url"])
    assert audio.status_code == 200 and len(audio.content) > 1000
    assert "attachment" not in audio.headers.get("content-disposition", "")  # no download


def test_review_is_saved_with_its_evidence_and_comments_pinned(
    client: TestClient, signed_in: Callable[[str], str], two_recordings: dict[str, int]
) -> None:
    token = signed_in("qa1")
    rid = two_recordings["plain"]
    data = client.get(f"/api/recordings/{rid}").json()
    assert [e["key"] for e in data["evidence"]] == [] or len(data["evidence"]) == 4
    h = {"X-CSRF-Token": token}
    items = {"answered_within_three_rings": True, "greeting_played": True, "silent_protocol_followed": None,
             "release_order": False}
    saved = client.post(f"/api/recordings/{rid}/review", json={"items": items}, headers=h).json()
    assert saved["score"] == 67
    c = client.post(f"/api/recordings/{rid}/comments", json={"at": 1.5, "text": "语气生硬"}, headers=h)
    assert c.status_code == 201
    again = client.get(f"/api/recordings/{rid}").json()
    assert again["comments"][0]["at"] == 1.5 and again["reviews"][0]["score"] == 67


def test_wallboard_api_counts_waiting_calls_and_agents(
    client: TestClient, web_ctx: WebContext, signed_in: Callable[[str], str]
) -> None:
    signed_in("boss")
    ringing_call(web_ctx, "w1", ring=1)
    board = client.get("/api/wallboard").json()
    assert board["calls_waiting"] == 1 and board["calls_ringing"] == 1
    assert board["chart_svg"].startswith("<svg") and {"open_orders", "overdue_orders", "agents"} <= set(board)


def test_websocket_refuses_strangers_and_foreign_origins(client: TestClient, signed_in: Callable[[str], str]) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_json()
    signed_in("boss")
    with pytest.raises(WebSocketDisconnect), client.websocket_connect(
            "/ws", headers={"origin": "http://evil.example"}) as ws:
        ws.receive_json()
    with client.websocket_connect("/ws?after=0") as ws:
        assert ws.receive_json() == {"kind": "live", "last": 0}


