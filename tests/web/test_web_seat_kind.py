"""The admin's accounts page shows each agent's seat kind: a desk phone or the browser softphone (issue 15)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from callcenter.config import Settings
from callcenter.web.users import set_seat
from tests.web.conftest import sign_in


def test_the_accounts_page_shows_the_seat_kind(client: TestClient, web_settings: Settings) -> None:
    sign_in(client, "root")
    row = re.search(r'<tr data-name="agent1">.*?</tr>', client.get("/admin/users").text, re.S)
    assert row and '<td class="seat">桌面话机 (desk)</td>' in row.group(0)
    set_seat(web_settings.database.url, "agent1", "webrtc")
    page = client.get("/admin/users").text
    row = re.search(r'<tr data-name="agent1">.*?</tr>', page, re.S)
    assert row and '<td class="seat">浏览器软电话 (webrtc)</td>' in row.group(0)
    qa_row = re.search(r'<tr data-name="qa1">.*?</tr>', page, re.S)
    assert qa_row and '<td class="seat"></td>' in qa_row.group(0)  # only agents have seats
