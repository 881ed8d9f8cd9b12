"""Callbacks the service dials (回访, R-94..R-105) on a real Asterisk 22, judged from the customer's side.

The running ``callcenter serve --ari`` dials the tasks put in its store, as it would a centre's: its dialer takes
due survey tasks every few seconds; a preview callback is started from the agent panel's API by agent 8002. The
customers are Local channels of the test dialplan (``[customers]``, tests/asterisk/pbx.py): one answers and
presses 1 (满意) in the question's window, one is busy, one congested, one never answers, one hangs up in the
opening. What the answering customers heard is read from their own recordings.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import wave
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.callbacks.campaigns import add_campaign
from callcenter.callbacks.tasks import new_task
from callcenter.config import load_settings
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.library import load_library
from callcenter.scripting.protocol import Play
from callcenter.store import session_scope
from callcenter.voice import PromptVoice
from tests.asterisk.conftest import Bridge
from tests.asterisk.hearing import MEASURED, hear, known_prompts, wait_until_hung_up
from tests.asterisk.pbx import espeak_wav
from tests.asterisk.test_seats import _sign_in_ready

ANSWERS, BUSY, CONGESTED, NEVER, LEAVES = "13900000011", "13900000012", "13900000013", "13900000014", "13900000015"
PREVIEWED = "13900000021"
EXPECTED = {ANSWERS: "reached", BUSY: "busy", CONGESTED: "congestion", NEVER: "no_answer", LEAVES: "hangup_opening"}
WINDOW = 5.0  # the opening's listening window (scripts/callback_survey.yaml)
PRESS_AFTER_QUESTION = 2.0


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _render(bridge: Bridge, keys: list[str], caller: dict[str, str]) -> dict[str, float]:
    """The prompts as the service renders them (the same folder, so the same files), with their lengths."""
    base = load_settings(environ={})
    settings = replace(base, scripts=replace(base.scripts, rendered_audio_directory=bridge.rendered))
    library = load_library(settings.scripts.directory, settings.scripts)
    voice = PromptVoice.of(settings.scripts)
    variables = prompt_variables(settings.service, caller=caller)

    async def render() -> dict[str, float]:
        out = {}
        for key in keys:
            path = await voice.media(Play("t", key, library.catalogues.render(key, "zh-CN", variables), "zh-CN"))
            out[key] = _seconds(path.parent / f"{path.name}.wav")
        return out

    return asyncio.run(render())


def _tasks(bridge: Bridge, campaign: str, mode: str, script: str, numbers: list[str]) -> dict[str, int]:
    settings = load_settings(environ={})
    settings = replace(settings, database=replace(settings.database, url=bridge.database))
    now = datetime.now(UTC)
    with session_scope(bridge.database) as session:
        made = add_campaign(session, name=campaign, kind="questionnaire", mode=mode, agent_group="default",
                            script=script, at=now, hours="00:00-24:00", rest_days=True, max_attempts=1)
        ids = {}
        for number in numbers:
            task, _ = new_task(session, settings, made, number=number, dedup_key=f"{campaign}:{number}", at=now,
                               customer_name="王先生")
            session.flush()
            ids[number] = task.id
        return ids


def _attempts(bridge: Bridge, ids: dict[str, int], timeout: float) -> dict[str, tuple[str, str | None, str | None]]:
    """(result, satisfaction, agent) of each task's attempt, once every task has one."""
    deadline = time.monotonic() + timeout
    while True:
        db = sqlite3.connect(bridge.database.removeprefix("sqlite:///"))
        try:
            rows = {number: db.execute(
                "select a.result, t.satisfaction, a.agent from callback_attempts a join callback_tasks t "
                "on t.id = a.task_id where a.task_id = ? and a.result is not null", (task_id,)).fetchone()
                for number, task_id in ids.items()}
        finally:
            db.close()
        if all(rows.values()) or time.monotonic() > deadline:
            return {n: tuple(r) if r else ("—", None, None) for n, r in rows.items()}  # type: ignore[misc]
        time.sleep(1.0)


@pytest.fixture(scope="module")
def survey(bridge: Bridge) -> dict[str, tuple[str, str | None, str | None]]:
    customers = bridge.pbx.root / "agents"
    lengths = _render(bridge, ["callback.opening", "callback.survey.ask", "callback.survey.thanks"],
                      {"surname": "王", "honorific": "先生"})
    press = lengths["callback.opening"] + WINDOW + lengths["callback.survey.ask"] + PRESS_AFTER_QUESTION
    (customers / f"customer-{ANSWERS}.press").write_text(f"{press:.1f}\n")
    (customers / f"customer-{ANSWERS}.key").write_text("1\n")
    placed = time.time()
    ids = _tasks(bridge, "满意度回访·真实", "survey", "callback_survey", list(EXPECTED))
    results = _attempts(bridge, ids, timeout=150)
    call = customers / f"customer-{ANSWERS}"
    wait_until_hung_up(call, timeout=60)
    heard = hear(call, placed, known_prompts(bridge.sounds, bridge.rendered))
    pressed_in = press - (lengths["callback.opening"] + WINDOW + lengths["callback.survey.ask"])
    MEASURED.append(f"callback survey: results {[results[n][0] for n in EXPECTED]}; the answering customer heard "
                    f"{heard.prompts()} and pressed 1 {pressed_in:.1f} s into the question's window")
    db = sqlite3.connect(bridge.database.removeprefix("sqlite:///"))
    try:
        for number in (BUSY, CONGESTED, NEVER):
            (notes,) = db.execute("select notes from callback_attempts where task_id = ?", (ids[number],)).fetchone()
            MEASURED.append(f"callback to {number}: Asterisk said {notes!r}")
    finally:
        db.close()
    results["heard"] = tuple(heard.prompts())  # type: ignore[assignment]
    return results


@pytest.mark.parametrize("number", list(EXPECTED))
def test_every_survey_attempt_ends_as_the_customer_made_it(
    survey: dict[str, tuple[str, str | None, str | None]], number: str
) -> None:
    assert survey[number][0] == EXPECTED[number]


def test_the_answer_is_the_satisfaction_and_the_customer_heard_opening_question_and_thanks(
    survey: dict[str, tuple[str, str | None, str | None]],
) -> None:
    assert survey[ANSWERS][1] == "满意"
    heard = [key for key in survey["heard"] if key is not None]  # type: ignore[union-attr]
    assert [k.split("|")[0] if "callback" in k else k for k in heard][:3] == [
        "callback.opening", "callback.survey.ask", "callback.survey.thanks"], survey["heard"]


def test_a_preview_callback_rings_the_agent_first_then_the_customer(bridge: Bridge) -> None:
    agents = bridge.pbx.root / "agents"
    espeak_wav("您好,客服代表8002号很高兴为您服务。", agents / "agent-speech.wav")
    (agents / f"customer-{PREVIEWED}.press").write_text("40\n")
    (agents / f"customer-{PREVIEWED}.key").write_text("0\n")
    (agents / "8002.clock").unlink(missing_ok=True)
    # The agent speaks once the customer is on the line: after the customer's 6 s of ringing.
    (agents / "8002.delay").write_text("9\n")
    ids = _tasks(bridge, "预览回访·真实", "preview", "callback_preview", [PREVIEWED])
    client = _sign_in_ready(bridge.web, "8002")
    try:
        queue = client.get("/api/agent/callbacks").json()["callbacks"]
        assert [c["id"] for c in queue] == [ids[PREVIEWED]]
        assert "请问是王先生吗" in queue[0]["opening"] and PREVIEWED not in queue[0]["number"]
        page = client.get("/agent").text  # the session's CSRF token is on the panel page
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        r = client.post(f"/api/agent/callbacks/{ids[PREVIEWED]}/call", json={}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 202, r.text
        results = _attempts(bridge, ids, timeout=90)
    finally:
        client.close()
        (agents / "8002.delay").unlink(missing_ok=True)
    call = agents / f"customer-{PREVIEWED}"
    wait_until_hung_up(call, timeout=60)
    seat = {k: float(v) for k, v in (line.split() for line in (agents / "8002.clock").read_text().splitlines())}
    customer = {k: float(v) for k, v in (line.split() for line in call.with_suffix(".clock").read_text().splitlines())}
    # The seat answers at once (Answer() is its first step after noting the ringing); its "answered" mark comes
    # after MixMonitor starts, so the ringing marks are the ones to compare.
    MEASURED.append(f"preview callback: {results[PREVIEWED]}; the customer's phone rang "
                    f"{customer['ringing'] - seat['ringing']:+.2f} s after the agent's")
    assert results[PREVIEWED][0] == "reached" and results[PREVIEWED][2] == "8002"
    assert seat["ringing"] < customer["ringing"]  # the agent first, then the customer
    heard = hear(call, customer["ringing"], known_prompts(bridge.sounds, bridge.rendered))
    assert heard.stretches and None in heard.prompts(), heard  # the agent's words, which are no prompt
