"""The panel's softphone routes (issue 15): the seat's registration for the browser, the tab claim, the bundle.

The browser side (the state machine) is tested with Node (tests/js); the page in Chromium is in
test_softphone_page_browser.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from callcenter.calls.softphone_seats import SeatSecrets
from callcenter.config import Settings
from callcenter.web import softphone_pages
from callcenter.web.app import create_app
from callcenter.web.context import WebContext
from callcenter.web.users import add_user

PASSWORD = "correct-horse-1"


@pytest.fixture
def phone_settings(web_settings: Settings, tmp_path: Path) -> Settings:
    secrets = tmp_path / "seat-secrets.json"
    pbx = replace(web_settings.pbx, secrets_file=secrets, public_host="pbx.example.test")
    settings = replace(web_settings, pbx=pbx)
    add_user(settings.database.url, "phone1", "agent", PASSWORD, work_number="8003", seat="webrtc")
    add_user(settings.database.url, "phone2", "agent", PASSWORD, work_number="8004", seat="webrtc")
    SeatSecrets(secrets).ensure(["8003"])  # 8004's secret was never written: the admin has not run the config
    return settings


@pytest.fixture
def phone_client(phone_settings: Settings, web_ctx: WebContext) -> Iterator[TestClient]:
    ctx = replace(web_ctx, settings=phone_settings)
    with TestClient(create_app(ctx), base_url="http://testserver") as c:
        yield c


def sign_in_as(client: TestClient, name: str) -> str:
    from tests.web.conftest import sign_in

    return sign_in(client, name)


def test_a_webrtc_seat_gets_its_own_registration_never_cached(phone_client: TestClient,
                                                              phone_settings: Settings) -> None:
    sign_in_as(phone_client, "phone1")
    r = phone_client.get("/api/agent/softphone")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    secret = SeatSecrets(phone_settings.pbx.secrets_file).secret("8003")
    assert {k: body[k] for k in ("seat", "ws_url", "sip_uri", "username", "password")} == {
        "seat": "webrtc", "ws_url": "wss://pbx.example.test:8089/ws", "sip_uri": "sip:8003@pbx.example.test",
        "username": "8003", "password": secret}
    assert body["agent"] and body["holder"] is None
    assert body["bundle"] in (None, softphone_pages.BUNDLE_URL)


def test_a_desk_seat_registers_nothing_from_the_browser(client: TestClient,
                                                        signed_in: Callable[[str], str]) -> None:
    signed_in("agent1")
    body = client.get("/api/agent/softphone").json()
    assert body["seat"] == "desk"
    assert body["password"] == "" and body["ws_url"] == ""


def test_a_webrtc_seat_without_a_secret_is_told_plainly(phone_client: TestClient) -> None:
    sign_in_as(phone_client, "phone2")
    r = phone_client.get("/api/agent/softphone")
    assert r.status_code == 503
    assert "8004" in r.json()["error"] and "callcenter asterisk config" in r.json()["error"]
    assert r.json()["seat"] == "webrtc"


def test_only_signed_in_agents_get_credentials(phone_client: TestClient) -> None:
    assert phone_client.get("/api/agent/softphone").status_code == 401


def test_a_tab_claims_the_seat_and_the_panel_names_the_holder(phone_client: TestClient) -> None:
    token = sign_in_as(phone_client, "phone1")
    headers = {"X-CSRF-Token": token}
    first = "a" * 32
    second = "b" * 32
    assert phone_client.post("/api/agent/softphone/claim", json={"tab": first}).status_code == 403  # CSRF
    r = phone_client.post("/api/agent/softphone/claim", json={"tab": first}, headers=headers)
    assert r.json() == {"holder": first, "previous": None}
    assert phone_client.get("/api/agent/panel").json()["softphone_holder"] == first
    r = phone_client.post("/api/agent/softphone/claim", json={"tab": second}, headers=headers)
    assert r.json() == {"holder": second, "previous": first}
    assert phone_client.get("/api/agent/softphone").json()["holder"] == second
    assert phone_client.get("/api/agent/panel").json()["softphone_holder"] == second
    for bad in ({"tab": "x"}, {"tab": 5}, {}, {"tab": "a b c d e f g h"}):
        r = phone_client.post("/api/agent/softphone/claim", json=bad, headers=headers)
        assert r.status_code == 400 and r.json()["error"].startswith("tab:"), bad
    r = phone_client.post("/api/agent/softphone/claim", content=b"{", headers={**headers,
                          "Content-Type": "application/json"})
    assert r.status_code == 400


def test_the_panel_carries_the_softphone_and_its_modules_are_served(phone_client: TestClient) -> None:
    sign_in_as(phone_client, "phone1")
    page = phone_client.get("/agent").text
    assert 'id="softphone"' in page and 'id="sp-answer"' in page
    assert 'type="module"' in page and "softphone/panel.js" in page
    assert "空格" in page and "回车" in page  # the answer keys are written on the page
    for name in ("panel.js", "phone.js", "machine.js", "jssip_ua.js", "softphone.css"):
        r = phone_client.get(f"/static/softphone/{name}")
        assert r.status_code == 200, name
    assert "javascript" in phone_client.get("/static/softphone/machine.js").headers["content-type"]


def test_a_missing_bundle_is_warned_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(softphone_pages, "_warned", [])
    missing = tmp_path / "vendor" / "jssip.min.js"
    with capture_logs() as logs:
        assert softphone_pages.warn_if_bundle_missing(missing) is False
        assert softphone_pages.warn_if_bundle_missing(missing) is False
    assert [e["event"] for e in logs] == ["softphone.bundle_missing"]
    assert logs[0]["path"] == str(missing)
    missing.parent.mkdir()
    missing.write_text("var JsSIP = {};")
    assert softphone_pages.warn_if_bundle_missing(missing) is True


def test_the_bundle_url_is_offered_only_when_the_file_is_there(phone_client: TestClient, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    sign_in_as(phone_client, "phone1")
    monkeypatch.setattr(softphone_pages, "BUNDLE", tmp_path / "absent.js")
    assert phone_client.get("/api/agent/softphone").json()["bundle"] is None
    present = tmp_path / "jssip.min.js"
    present.write_text("var JsSIP = {};")
    monkeypatch.setattr(softphone_pages, "BUNDLE", present)
    assert phone_client.get("/api/agent/softphone").json()["bundle"] == "/static/vendor/jssip.min.js"
