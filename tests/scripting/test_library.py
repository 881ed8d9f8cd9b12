"""The standard script library (scripts/) on the virtual clock: exact wording and exact times.

Every script is simulated against silent, speaking, DTMF and hanging-up callers. Expected times are derived,
never typed in: a prompt lasts ``len(text) / scripts.speech_chars_per_second`` seconds when it has no audio
(docs/script-format.md), so the library is copied without ``sounds/`` and every duration below is computed
from the expected wording, which is the catalogue's derived template (docs/standards.md) for its R-number.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.calls.rings import cadence
from callcenter.calls.runner import session_config
from callcenter.config import PROJECT_ROOT, Settings, load_settings
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.durations import configured_durations
from callcenter.scripting.library import ScriptLibrary, load_library
from callcenter.scripting.linter import lint
from callcenter.scripting.model import ListenAction, TransferAction
from callcenter.scripting.options import STANDARD_PAUSE_SECONDS
from callcenter.scripting.session import SessionConfig
from callcenter.scripting.simulate import simulate

SCRIPTS = PROJECT_ROOT / "scripts"
WORK_NUMBER = "1001"
PAUSE = STANDARD_PAUSE_SECONDS  # 「稍停5秒」

# ---------------------------------------------------------------- the expected wording (derived templates)

GREETING = "您好,欢迎致电江南云商客户服务热线,客服代表1001号很高兴为您服务,请问有什么可以帮助您?"
S2 = "您好,请问有什么可以帮助您?"
S3 = "对不起,您的电话没有声音,请您换一部电话再次打来,好吗?再见!"
L1 = "对不起!请您大声一点,好吗?"
L2 = "对不起!您的电话声音太小,请您换一部电话打来,好吗?"  # R-17, 挂来 → 打来
NOISE = "对不起,您的电话杂音太大,听不清,请您换一部电话再次打来好吗?再见!"
D1 = "对不起,请您讲普通话,好吗?谢谢!"
D2 = "对不起,请您找一个可以讲普通话的人来,好吗?谢谢!"
RECHECK = "对不起,让您久等了,请问有什么可以帮助您?"
UNRESOLVED = "对不起,请您找到可以讲普通话的人以后再次打来,好吗?谢谢!再见!"
PERSONAL = "对不起,公司有规定,上班时间不允许接听私人电话,请您下班后再与她联系,谢谢您,再见!"
MALICIOUS = "对不起,您所咨询的内容不是我们的服务范围,请您挂机,再见。"
FAREWELL = "谢谢,欢迎再次拨打,再见!"
HOLD = "对不起,请稍等。"
RESUME = "对不起,让您久等了。"
WELCOME = "您好,欢迎致电江南云商客户服务热线。"
# the callback opening, for a customer whose name is not on the order (先生(女士), R-08).
CALLBACK_OPENING = ("您好!请问是先生(女士)吗?我是江南云商的客服专员。"
                    "想针对您反映问题的处理质量和服务的满意程度做个简单的回访。可能会占用您几分钟时间,请问您现在是否方便?")
MENU = "业务咨询请按1,投诉请按2,意见和建议请按3,人工服务请按0。"
AGAIN = "对不起,请您重新选择。"
TRANSFER = "请稍等,我帮您找客服代表。"
QUEUE_SORRY = "对不起,让您久等了,请您稍等。"
QUEUE_BUSY = "对不起,让您久等了,现在客服代表都在忙,请您稍后再次打来,好吗?再见!"
MEDIA = "您好,对不起,我正在工作期间,不方便接受采访,我们已通知公司专门接洽部门,请您稍候!"

# Scripts that only speak one prompt and hand the call back: (script, prompt key, exact text, R-number).
ONE_PROMPT = [
    ("greeting_reply", "greeting.reply", "您好,请问有什么可以帮助您?", "R-07"),
    ("ask_name", "address.ask_name", "请问您贵姓?", "R-09"),
    ("speakerphone", "speakerphone.pickup", "对不起,您的声音太小,请您拿起话筒说话好吗?", "R-16"),
    ("dialect_d1", "dialect.d1", D1, "R-19"),
    ("caller_cannot_hear", "hearing.louder", "对不起,请问有什么可以帮助您?", "R-22"),
    ("repeat_request", "repeat.request", "对不起,麻烦您将刚才反映的问题再复述一遍,好吗?", "R-25"),
    ("anxious_caller", "anxious.calm", "请您别着急,慢慢讲,我们会尽力帮您解决。", "R-26"),
    ("provocative_caller", "provocative.respect", "请尊重我们的工作,先生(女士)。", "R-27"),
    (
        "out_of_scope",
        "scope.refer",
        "先生(女士),很乐意能为您提供帮助,但因您所咨询的业务不属于我公司的业务范畴,很遗憾不能为您提供帮助,"
        "建议您拨打114号进行咨询,好吗?",
        "R-29",
    ),
    ("criticism", "criticism.thanks", "感谢您的批评指正,我们将及时改正,不断提高服务水平。", "R-30"),
    ("praise", "praise.thanks", "谢谢,这是我们应该做的。", "R-31"),
    ("suggestion", "suggestion.thanks", "非常感谢您给我们提出的宝贵建议,我们将不断改进服务。", "R-32"),
    (
        "cannot_answer_now",
        "followup.take_number",
        "我们会将您反映的问题与相关部门联系,请您留下联系电话,我们将尽快给您答复。",
        "R-36",
    ),
    (
        "dissatisfied_not_pursuing",
        "satisfaction.understanding",
        "谢谢您的理解与支持,我们将不断改进服务,让您满意。",
        "R-33",
    ),
    ("escalate_reply_soon", "escalation.reply_soon", "我们将把您的要求及时上报相关部门,并尽快给您答复。", "R-34"),
    (
        "escalate_cannot_meet",
        "escalation.cannot_meet",
        "您的要求我们会及时上报上级主管部门。但由于某些方面的原因,我们可能在一段时间之内无法满足您的需要,请您理解。",
        "R-35",  # XX → 某些 (the source's own words): the engine has no reason variable
    ),
    ("person_unavailable", "message.offer", "对不起,他现在不在,您能留下口讯或联系电话吗?", "R-41"),  # 名片 → 联系电话
    ("write_down", "info.write_down", "麻烦您记录一下,谢谢!", "R-42"),
    ("misunderstanding", "mistake.misunderstanding", "不好意思,我想我们可能是误会了。", "R-43"),
    ("own_mistake", "mistake.apology", "实在对不起,我不是那个意思。", "R-43"),
    ("outage_investigating", "outage.investigating", "我们正在全力查找事故原因,并安排维修工作。", "R-50"),
    (
        "outage_special",
        "outage.special",
        "这次故障情况很特殊,我们已经启动应急预案,调用所有维修人员到现场工作,相信会尽快恢复供应。",
        "R-50",
    ),
    ("notify_when_available", "callback.notify", "请您留下您的电话和姓名,等货到通知您。", "R-51"),  # 你 → 您
    ("closing_check", "closing.check", "您还有别的事吗?", "R-46"),
    ("named_caller", "address.named", "先生(女士),请问有什么可以帮助您?", "R-08"),
]

# Greetings that count as step S1 of the silent-call sequence (docs/design.md): (script, exact text at 09:00).
S1_GREETINGS = [
    ("silent_call", GREETING),
    ("greeting_center", "您好,江南云商客服中心为您服务,请问有什么帮助您?"),
    ("greeting_short", "您好!江南云商客服中心。"),
    ("greeting_time_of_day", "您好,早上好!" + GREETING.removeprefix("您好,")),
    ("greeting_holiday", "您好,早上好!" + GREETING.removeprefix("您好,")),
]


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def base_settings() -> Settings:
    return load_settings(environ={})


@pytest.fixture(scope="module")
def standard_library(tmp_path_factory: pytest.TempPathFactory, base_settings: Settings) -> ScriptLibrary:
    """The library without recorded audio, so each prompt lasts its documented text estimate."""
    root = tmp_path_factory.mktemp("scripts")
    for path in SCRIPTS.glob("*.yaml"):
        shutil.copy(path, root / path.name)
    shutil.copytree(SCRIPTS / "prompts", root / "prompts")
    settings = dataclasses.replace(base_settings.scripts, directory=root)
    return load_library(root, settings)


@pytest.fixture(scope="module")
def cps(base_settings: Settings) -> float:
    return base_settings.scripts.speech_chars_per_second


def seconds(text: str, cps: float) -> float:
    """docs/script-format.md: a prompt without audio lasts len(text) / chars_per_second."""
    return round(len(text) / cps, 3)


def call_variables(
    settings: Settings, *, caller: dict[str, str] | None = None, now: datetime | None = None, holiday: str = ""
) -> dict[str, Any]:
    return prompt_variables(
        settings.service,
        agent={"work_number": WORK_NUMBER, "name": "李明"},
        caller=caller,
        now=now or datetime(2026, 3, 2, 9, 0),
        holiday=holiday,
    )


def entry_config(settings: Settings, **durations: float) -> SessionConfig:
    """The session settings of a real entry: answer after the configured rings of the cadence (R-01)."""
    config = session_config(settings)
    if durations:
        config = dataclasses.replace(config, durations={**config.durations, **durations})
    return config


def run(
    standard_library: ScriptLibrary,
    settings: Settings,
    script: str,
    *callers: str,
    variables: dict[str, Any] | None = None,
    locale: str | None = None,
    answered: bool | None = None,
    **durations: float,
) -> list[dict[str, Any]]:
    return simulate(
        standard_library,
        script,
        callers or ("silent",),
        variables=variables if variables is not None else call_variables(settings),
        locale=locale,
        config=entry_config(settings, **durations),
        answered=answered,
    )


def said(timeline: Iterable[dict[str, Any]]) -> list[tuple[float, str, str]]:
    return [(e["t"], e["key"], e["text"]) for e in timeline if e["type"] == "say"]


def of_type(timeline: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in timeline if e["type"] == kind]


def hangup(timeline: list[dict[str, Any]]) -> dict[str, Any] | None:
    found = of_type(timeline, "hangup")
    assert len(found) <= 1
    return found[0] if found else None


def answer_at(settings: Settings) -> float:
    return cadence(settings.telephony.ring_cadence).answer_delay(settings.telephony.answer_after_rings)


# ---------------------------------------------------------------- R-15 silent call (docs/design.md timing)


def silent_sequence(start: float, first: str, cps: float) -> tuple[list[tuple[float, str]], float]:
    """(when each of S1, S2, S3 starts, when the call is hung up): every 5 s window from a prompt's end."""
    s2_at = start + seconds(first, cps) + PAUSE
    s3_at = s2_at + seconds(S2, cps) + PAUSE
    return [(start, first), (s2_at, S2), (s3_at, S3)], s3_at + seconds(S3, cps) + PAUSE


def test_silent_call_entry_hangs_up_exactly_5_s_after_the_closing_prompt(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "silent_call")
    answered = answer_at(base_settings)
    assert [e["type"] for e in timeline[:3]] == ["ring", "answer", "record"]
    assert timeline[1]["t"] == answered
    expected, hangup_at = silent_sequence(answered, GREETING, cps)
    assert [(t, text) for t, _, text in said(timeline)] == expected
    assert [k for _, k, _ in said(timeline)] == ["greeting.standard", "silent.s2", "silent.s3"]
    assert [e["seconds"] for e in of_type(timeline, "silence")] == [PAUSE, PAUSE, PAUSE]
    assert hangup(timeline) == {"t": hangup_at, "type": "hangup", "disposition": "silent", "by": "system"}
    s3_end = expected[2][0] + seconds(S3, cps)
    assert hangup_at - s3_end == pytest.approx(PAUSE)


def test_the_ivr_greets_without_an_agent_clause_when_no_agent_is_on_the_line(standard_library, base_settings, cps):
    # The `silent` entry answers with no agent: R-04 without 「客服代表…很高兴为您服务」, and the same timing.
    variables = prompt_variables(base_settings.service, now=datetime(2026, 3, 2, 9, 0))
    timeline = run(standard_library, base_settings, "silent_call", variables=variables)
    ivr_greeting = "您好,欢迎致电江南云商客户服务热线,请问有什么可以帮助您?"
    expected, hangup_at = silent_sequence(answer_at(base_settings), ivr_greeting, cps)
    assert [(t, text) for t, _, text in said(timeline)] == expected
    assert hangup(timeline)["t"] == hangup_at
    assert not of_type(timeline, "error")


@pytest.mark.parametrize(("label", "said_as"), [("work_number", "1001号"), ("name", "李明")])
def test_the_agent_is_named_by_work_number_or_name_per_setting(standard_library, base_settings, label, said_as):
    # docs/design.md: 工号 by default; the display name when the centre chooses it.
    service = dataclasses.replace(base_settings.service, agent_label=label)
    settings = dataclasses.replace(base_settings, service=service)
    timeline = run(
        standard_library, settings, "silent_call", "speech@20", variables=call_variables(settings), answered=True
    )
    assert said(timeline)[0][2] == GREETING.replace("1001号", said_as)


@pytest.mark.parametrize(("script", "first"), S1_GREETINGS)
def test_every_greeting_is_step_s1_of_the_silent_sequence(standard_library, base_settings, cps, script, first):
    timeline = run(standard_library, base_settings, script, answered=True)
    expected, hangup_at = silent_sequence(0.0, first, cps)
    assert [(t, text) for t, _, text in said(timeline)] == expected
    assert hangup(timeline) == {"t": hangup_at, "type": "hangup", "disposition": "silent", "by": "system"}


@pytest.mark.parametrize("window", [0, 1, 2])
@pytest.mark.parametrize("caller", ["speech", "dtmf"])
def test_speech_or_a_digit_in_any_window_ends_the_silent_sequence(standard_library, base_settings, cps, window, caller):
    expected, _ = silent_sequence(0.0, GREETING, cps)
    start, text = expected[window]
    at = start + seconds(text, cps) + PAUSE / 2  # the middle of that prompt's 5 s window
    spec = f"speech@{at}" if caller == "speech" else f"dtmf:5@{at}"
    timeline = run(standard_library, base_settings, "silent_call", spec, answered=True)
    assert [(t, x) for t, _, x in said(timeline)] == expected[: window + 1]
    assert hangup(timeline) is None  # the call goes on normally
    assert of_type(timeline, "end")[0]["t"] == at
    assert len(of_type(timeline, "silence")) == window


def test_speech_while_a_silent_call_prompt_plays_stops_it_and_ends_the_sequence(standard_library, base_settings, cps):
    expected, _ = silent_sequence(0.0, GREETING, cps)
    s2_at = expected[1][0]
    at = s2_at + 1.0
    timeline = run(standard_library, base_settings, "silent_call", f"speech@{at}", answered=True)
    assert of_type(timeline, "stop") == [{"t": at, "type": "stop", "key": "silent.s2"}]
    assert said(timeline)[-1][1] == "silent.s2"
    assert hangup(timeline) is None


def test_a_caller_hanging_up_during_the_silent_sequence_ends_the_call_then(standard_library, base_settings, cps):
    expected, _ = silent_sequence(0.0, GREETING, cps)
    at = expected[1][0] + seconds(S2, cps) + 1.0
    timeline = run(standard_library, base_settings, "silent_call", f"hangup@{at}", answered=True)
    assert hangup(timeline)["t"] == at
    assert hangup(timeline)["by"] == "caller"
    assert all(t < at for t, _, _ in said(timeline))


def test_an_agent_cannot_release_during_the_silent_sequence(standard_library, base_settings, cps):
    # R-23 / docs/design.md: no situation ends in a hang-up without its apology and its 5 s.
    timeline = run(standard_library, base_settings, "silent_call", "release@8", answered=True)
    assert len(of_type(timeline, "release_refused")) == 1
    _, hangup_at = silent_sequence(0.0, GREETING, cps)
    assert hangup(timeline) == {"t": hangup_at, "type": "hangup", "disposition": "silent", "by": "system"}


# ---------------------------------------------------------------- time of day and holidays


@pytest.mark.parametrize(("hour", "wish"), [(7, "早上好"), (12, "中午好"), (15, "下午好"), (20, "晚上好")])
def test_the_time_of_day_greeting_follows_the_clock(standard_library, base_settings, hour, wish):
    variables = call_variables(base_settings, now=datetime(2026, 3, 2, hour, 30))
    timeline = run(
        standard_library, base_settings, "greeting_time_of_day", "speech@30", variables=variables, answered=True
    )
    assert said(timeline)[0][2] == f"您好,{wish}!" + GREETING.removeprefix("您好,")


@pytest.mark.parametrize(
    ("holiday", "wish"),
    [
        ("元旦", "新年好"),
        ("New Year's Day", "新年好"),  # as chinese_calendar names it
        ("春节", "春节好"),
        ("Spring Festival", "春节好"),
        ("国庆节", "节日好"),
        ("Labour Day", "节日好"),
        ("Mid-autumn Festival", "节日好"),
        ("清明节", "下午好"),  # not one of R-151's five: no wishes on a day of remembrance
        ("Tomb-sweeping Day", "下午好"),
        ("", "下午好"),
    ],
)
def test_the_holiday_greeting_wishes_the_catalogues_words(standard_library, base_settings, cps, holiday, wish):
    variables = call_variables(base_settings, now=datetime(2026, 10, 1, 15, 0), holiday=holiday)
    timeline = run(standard_library, base_settings, "greeting_holiday", variables=variables, answered=True)
    text = f"您好,{wish}!" + GREETING.removeprefix("您好,")
    expected, hangup_at = silent_sequence(0.0, text, cps)
    assert [(t, x) for t, _, x in said(timeline)] == expected
    assert hangup(timeline)["t"] == hangup_at


# ---------------------------------------------------------------- R-16 .. R-18 cannot hear the caller


def test_low_volume_l1_then_l2_then_5_s_then_hang_up(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "low_volume", answered=True)
    l2_at = seconds(L1, cps) + PAUSE
    assert said(timeline) == [(0.0, "lowvol.l1", L1), (l2_at, "lowvol.l2", L2)]
    assert hangup(timeline) == {
        "t": l2_at + seconds(L2, cps) + PAUSE,
        "type": "hangup",
        "disposition": "low_volume",
        "by": "system",
    }


@pytest.mark.parametrize("caller", ["speech", "dtmf"])
def test_low_volume_ends_when_the_caller_is_heard_after_l1(standard_library, base_settings, cps, caller):
    at = seconds(L1, cps) + 2.0
    spec = f"speech@{at}" if caller == "speech" else f"dtmf:1@{at}"
    timeline = run(standard_library, base_settings, "low_volume", spec, answered=True)
    assert said(timeline) == [(0.0, "lowvol.l1", L1)]
    assert hangup(timeline) is None


@pytest.mark.parametrize("caller", ["speech@{t}+3", "dtmf:1@{t}"])
def test_low_volume_l2_always_waits_its_5_s_then_hangs_up(standard_library, base_settings, cps, caller):
    # 「然后过5秒挂机」: what the line carries after L2 changes nothing.
    spec = caller.format(t=seconds(L2, cps) + 1.0)
    timeline = run(standard_library, base_settings, "low_volume_l2", spec, answered=True)
    assert said(timeline) == [(0.0, "lowvol.l2", L2)]
    assert hangup(timeline)["t"] == seconds(L2, cps) + PAUSE
    assert hangup(timeline)["disposition"] == "low_volume"


@pytest.mark.parametrize("caller", ["silent", "speech@2+20", "dtmf:3@{t}", "speech@{t}+1"])
def test_noise_apologises_waits_5_s_and_hangs_up_whatever_the_line_carries(
    standard_library, base_settings, cps, caller
):
    # noise counts as talking on Asterisk, so speech never shortens or cancels the 5 s.
    spec = caller.format(t=seconds(NOISE, cps) + 2.0)
    timeline = run(standard_library, base_settings, "noise", spec, answered=True)
    assert said(timeline) == [(0.0, "noise.closing", NOISE)]
    assert hangup(timeline) == {
        "t": seconds(NOISE, cps) + PAUSE,
        "type": "hangup",
        "disposition": "noise",
        "by": "system",
    }


def test_noise_cannot_be_hung_up_directly_by_the_agent(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "noise", "release@1", answered=True)  # R-23 「不可以直接挂机」
    assert len(of_type(timeline, "release_refused")) == 1
    assert hangup(timeline)["t"] == seconds(NOISE, cps) + PAUSE


def test_a_caller_who_hangs_up_after_the_noise_apology_is_released_by_the_caller(standard_library, base_settings, cps):
    at = seconds(NOISE, cps) + 1.5
    timeline = run(standard_library, base_settings, "noise", f"hangup@{at}", answered=True)
    assert hangup(timeline)["t"] == at
    assert hangup(timeline)["by"] == "caller"


# ---------------------------------------------------------------- R-19 .. R-21 dialect


def dialect_timeline(cps: float, recheck: float, maximum: float) -> tuple[list[tuple[float, str]], float, float]:
    """What dialect_d2 says to a silent caller and when: D2, then on hold; every ``recheck`` s a re-check;
    the first time the wait is entered ``maximum`` s or more after its first entry, the apology; 5 s; hang up."""
    says = [(0.0, D2)]
    first_wait = t = seconds(D2, cps)
    while t - first_wait < maximum:
        t += recheck
        says.append((round(t, 3), RECHECK))
        t += seconds(RECHECK, cps)
    says.append((round(t, 3), UNRESOLVED))
    return says, first_wait, round(t + seconds(UNRESOLVED, cps) + PAUSE, 3)


def test_dialect_d2_keeps_the_line_open_until_the_configured_maximum(standard_library, base_settings, cps):
    durations = configured_durations(base_settings.service)
    timeline = run(standard_library, base_settings, "dialect_d2", answered=True)
    expected, first_wait, hangup_at = dialect_timeline(cps, durations["dialect_recheck"], durations["dialect_max"])
    assert [(t, x) for t, _, x in said(timeline)] == expected
    assert hangup(timeline) == {"t": hangup_at, "type": "hangup", "disposition": "dialect_unresolved", "by": "system"}
    assert hangup_at >= first_wait + durations["dialect_max"] + PAUSE  # never released before the maximum
    holds, unholds = of_type(timeline, "hold"), of_type(timeline, "unhold")
    assert holds[0]["t"] == first_wait
    assert len(holds) == len(unholds)  # the caller hears the apology off hold


def test_dialect_d2_follows_the_centres_own_durations(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "dialect_d2", answered=True, dialect_recheck=10.0, dialect_max=45.0)
    expected, _, hangup_at = dialect_timeline(cps, 10.0, 45.0)
    assert [(t, x) for t, _, x in said(timeline)] == expected
    assert hangup(timeline)["t"] == hangup_at


@pytest.mark.parametrize("caller", ["speech", "dtmf"])
def test_a_mandarin_speaker_on_the_line_ends_the_hold_and_the_dialect_script(
    standard_library, base_settings, cps, caller
):
    durations = configured_durations(base_settings.service)
    at = seconds(D2, cps) + durations["dialect_recheck"] * 2.5  # somewhere in the third wait
    spec = f"speech@{at}" if caller == "speech" else f"dtmf:1@{at}"
    timeline = run(standard_library, base_settings, "dialect_d2", spec, answered=True)
    assert hangup(timeline) is None
    assert of_type(timeline, "unhold")[-1]["t"] == at
    assert of_type(timeline, "end")[0]["t"] == at
    assert [x for _, _, x in said(timeline)] == [D2, RECHECK, RECHECK]


def test_the_agent_cannot_release_a_dialect_call_before_the_maximum(standard_library, base_settings):
    timeline = run(standard_library, base_settings, "dialect_d2", "release@60", answered=True)
    assert of_type(timeline, "release_refused")[0]["t"] == 60
    assert hangup(timeline)["disposition"] == "dialect_unresolved"


def test_dialect_d1_asks_for_mandarin_and_leaves_the_judgement_to_the_agent(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "dialect_d1", "speech@20", answered=True)
    assert said(timeline) == [(0.0, "dialect.d1", D1)]
    assert of_type(timeline, "end")[0]["t"] == seconds(D1, cps)
    assert hangup(timeline) is None


# ---------------------------------------------------------------- the one-prompt situations


@pytest.mark.parametrize(("script", "key", "text", "rule"), ONE_PROMPT, ids=[s[0] for s in ONE_PROMPT])
@pytest.mark.parametrize("caller", ["silent", "speech@1", "dtmf:1@1"])
def test_situation_scripts_say_their_exact_wording_then_hand_back(
    standard_library, base_settings, cps, script, key, text, rule, caller
):
    timeline = run(standard_library, base_settings, script, caller, answered=True)
    assert said(timeline) == [(0.0, key, text)], rule
    assert of_type(timeline, "end") == [{"t": seconds(text, cps), "type": "end"}]
    assert hangup(timeline) is None  # none of them may end the call


@pytest.mark.parametrize(("script", "key", "text", "rule"), ONE_PROMPT, ids=[s[0] for s in ONE_PROMPT])
def test_a_caller_hanging_up_mid_prompt_ends_the_call_at_once(
    standard_library, base_settings, cps, script, key, text, rule
):
    at = round(seconds(text, cps) / 2, 3)
    timeline = run(standard_library, base_settings, script, f"hangup@{at}", answered=True)
    assert hangup(timeline)["t"] == at
    assert hangup(timeline)["by"] == "caller"
    assert not of_type(timeline, "end")


@pytest.mark.parametrize(
    ("caller", "address"),
    [({"surname": "王", "honorific": "先生"}, "王先生"), ({"surname": "李"}, "李女士"), (None, "先生(女士)")],
)
def test_a_named_caller_is_addressed_by_surname_and_honorific(standard_library, base_settings, caller, address):
    # R-08; R-10 and docs/design.md: 女士 is the default female honorific.
    variables = call_variables(base_settings, caller=caller)
    timeline = run(standard_library, base_settings, "named_caller", variables=variables, answered=True)
    assert said(timeline)[0][2] == f"{address},请问有什么可以帮助您?"
    timeline = run(standard_library, base_settings, "provocative_caller", variables=variables, answered=True)
    assert said(timeline)[0][2] == f"请尊重我们的工作,{address}。"


def test_a_surname_typed_by_the_agent_is_spoken_as_text_not_run_as_a_template(standard_library, base_settings):
    variables = call_variables(base_settings, caller={"surname": "{{ 7*7 }}", "honorific": "先生"})
    timeline = run(standard_library, base_settings, "named_caller", variables=variables, answered=True)
    assert said(timeline)[0][2] == "{{ 7*7 }}先生,请问有什么可以帮助您?"


# ---------------------------------------------------------------- calls the centre may end


def test_personal_call_waits_for_the_caller_to_hang_up_first(standard_library, base_settings, cps):
    wait = configured_durations(base_settings.service)["caller_hangup_wait"]
    timeline = run(standard_library, base_settings, "personal_call", answered=True)
    assert said(timeline) == [(0.0, "personal.refuse", PERSONAL)]
    assert hangup(timeline) == {
        "t": seconds(PERSONAL, cps) + wait,
        "type": "hangup",
        "disposition": "normal",
        "by": "system",
    }
    at = seconds(PERSONAL, cps) + 2.0
    by_caller = run(standard_library, base_settings, "personal_call", f"hangup@{at}", answered=True)
    assert hangup(by_caller)["t"] == at
    assert hangup(by_caller)["by"] == "caller"
    leaves_number = run(standard_library, base_settings, "personal_call", f"speech@{at}", answered=True)
    assert hangup(leaves_number) is None  # 「或请其留下联系电话」: the agent takes it


@pytest.mark.parametrize("caller", ["silent", "speech@{t}+4", "dtmf:9@{t}"])
def test_malicious_call_asks_to_hang_up_and_releases_5_s_after_the_goodbye(
    standard_library, base_settings, cps, caller
):
    spec = caller.format(t=seconds(MALICIOUS, cps) + 1.0)
    timeline = run(standard_library, base_settings, "malicious_call", spec, answered=True)
    assert said(timeline) == [(0.0, "malicious.refuse", MALICIOUS)]
    assert hangup(timeline) == {
        "t": seconds(MALICIOUS, cps) + PAUSE,
        "type": "hangup",
        "disposition": "malicious",
        "by": "system",
    }


# ---------------------------------------------------------------- hold and resume


def test_hold_says_please_wait_then_holds(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "hold", answered=True)
    assert said(timeline) == [(0.0, "hold.wait", HOLD)]
    assert of_type(timeline, "hold") == [{"t": seconds(HOLD, cps), "type": "hold"}]
    assert hangup(timeline) is None


def test_resume_takes_the_caller_off_hold_and_apologises(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "resume", answered=True)
    assert of_type(timeline, "unhold") == [{"t": 0.0, "type": "unhold"}]
    assert said(timeline) == [(0.0, "hold.resume", RESUME)]
    assert of_type(timeline, "end")[0]["t"] == seconds(RESUME, cps)


# ---------------------------------------------------------------- R-49 media call


@pytest.mark.parametrize("caller", ["silent", "speech@3", "dtmf:1@3"])
def test_media_call_declines_the_interview_then_holds_for_the_department(standard_library, base_settings, cps, caller):
    # R-49 「请您稍候」, then the wait of R-40 (music, no open microphone); the prompt is not cut short, and the
    # script never ends the call: notifying the PR department is the agent's work.
    timeline = run(standard_library, base_settings, "media_call", caller, answered=True)
    assert said(timeline) == [(0.0, "media.decline", MEDIA)]
    assert not of_type(timeline, "stop")
    assert of_type(timeline, "hold") == [{"t": seconds(MEDIA, cps), "type": "hold"}]
    assert of_type(timeline, "end")[0]["t"] == seconds(MEDIA, cps)
    assert hangup(timeline) is None


def test_the_agent_takes_a_held_journalist_back_with_an_apology(standard_library, base_settings, cps):
    at = seconds(MEDIA, cps) + 40.0
    timeline = run(standard_library, base_settings, "media_call", f"script:resume@{at}", answered=True)
    assert of_type(timeline, "unhold") == [{"t": at, "type": "unhold"}]  # apologise on resuming
    assert said(timeline) == [(0.0, "media.decline", MEDIA), (at, "hold.resume", RESUME)]
    assert hangup(timeline) is None


def test_a_journalist_who_hangs_up_while_held_ends_the_call_then(standard_library, base_settings, cps):
    at = seconds(MEDIA, cps) + 10.0
    timeline = run(standard_library, base_settings, "media_call", f"hangup@{at}", answered=True)
    assert hangup(timeline) == {"t": at, "type": "hangup", "disposition": "normal", "by": "caller"}


# ---------------------------------------------------------------- closing


def test_closing_waits_for_the_caller_to_hang_up_first(standard_library, base_settings, cps):
    wait = configured_durations(base_settings.service)["caller_hangup_wait"]
    timeline = run(standard_library, base_settings, "closing", answered=True)
    assert said(timeline) == [(0.0, "closing.thanks", FAREWELL)]
    assert hangup(timeline) == {
        "t": seconds(FAREWELL, cps) + wait,
        "type": "hangup",
        "disposition": "normal",
        "by": "system",
    }


def test_the_caller_who_hangs_up_after_the_farewell_is_the_one_who_released(standard_library, base_settings, cps):
    at = seconds(FAREWELL, cps) + 2.0
    timeline = run(standard_library, base_settings, "closing", f"hangup@{at}", answered=True)
    assert hangup(timeline) == {"t": at, "type": "hangup", "disposition": "normal", "by": "caller"}


def test_a_caller_who_answers_the_farewell_restarts_the_wait(standard_library, base_settings, cps):
    wait = configured_durations(base_settings.service)["caller_hangup_wait"]
    first, second = seconds(FAREWELL, cps) + 1.0, seconds(FAREWELL, cps) + 20.0
    timeline = run(standard_library, base_settings, "closing", f"speech@{first}", f"speech@{second}", answered=True)
    assert len(said(timeline)) == 1
    assert hangup(timeline)["t"] == second + wait


def test_the_agent_may_release_only_once_the_farewell_has_been_said(standard_library, base_settings, cps):
    early = run(standard_library, base_settings, "closing", "release@1", answered=True)
    assert of_type(early, "release_refused")
    at = seconds(FAREWELL, cps) + 1.0
    late = run(standard_library, base_settings, "closing", f"release@{at}", answered=True)
    assert hangup(late) == {"t": at, "type": "hangup", "disposition": "normal", "by": "agent"}


# ---------------------------------------------------------------- entries: inbound, main menu (section 8)


def test_inbound_welcomes_then_hands_the_caller_to_an_agent_whose_greeting_is_s1(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "inbound")
    answered = answer_at(base_settings)
    transfer_at = answered + seconds(WELCOME, cps)
    assert said(timeline)[0] == (answered, "ivr.welcome", WELCOME)
    assert of_type(timeline, "transfer") == [{"t": transfer_at, "type": "transfer", "group": "default"}]
    expected, hangup_at = silent_sequence(transfer_at, GREETING, cps)
    assert [(t, x) for t, _, x in said(timeline)[1:]] == expected
    assert hangup(timeline)["t"] == hangup_at


def test_inbound_caller_who_speaks_to_the_agent_is_left_with_the_agent(standard_library, base_settings, cps):
    at = answer_at(base_settings) + seconds(WELCOME, cps) + seconds(GREETING, cps) + 1.0
    timeline = run(standard_library, base_settings, "inbound", f"speech@{at}")
    assert [k for _, k, _ in said(timeline)] == ["ivr.welcome", "greeting.standard"]
    assert hangup(timeline) is None


def test_a_queue_nobody_answers_apologises_each_round_then_says_goodbye(standard_library, base_settings, cps):
    timeline = run(standard_library, base_settings, "inbound", "no_agent")
    t = answer_at(base_settings) + seconds(WELCOME, cps)
    rounds = sum(1 for e in timeline if e["type"] == "say" and e["key"] == "queue.sorry")
    expected = [(answer_at(base_settings), WELCOME)]
    for _ in range(rounds):
        expected.append((t, QUEUE_SORRY))
        t += seconds(QUEUE_SORRY, cps)
    expected.append((t, QUEUE_BUSY))
    assert rounds == standard_library.script("agent_queue").state("queue").max_visits  # R-140 on every return
    assert [(when, x) for when, _, x in said(timeline)] == expected
    assert hangup(timeline) == {
        "t": round(t + seconds(QUEUE_BUSY, cps) + PAUSE, 3),
        "type": "hangup",
        "disposition": "no_agent",
        "by": "system",
    }


def test_a_caller_who_gives_up_in_the_queue_hangs_up_first(standard_library, base_settings, cps):
    at = answer_at(base_settings) + seconds(WELCOME, cps) + seconds(QUEUE_SORRY, cps) * 2.5
    timeline = run(standard_library, base_settings, "inbound", "no_agent", f"hangup@{at}")
    assert hangup(timeline)["t"] == at
    assert hangup(timeline)["by"] == "caller"


def menu_starts(settings: Settings, cps: float) -> float:
    return answer_at(settings) + seconds(WELCOME, cps)


@pytest.mark.parametrize(
    ("digit", "state"), [("1", "consult"), ("2", "complaint"), ("3", "suggestion"), ("0", "agent")]
)
def test_each_menu_key_reaches_an_agent_in_one_step(standard_library, base_settings, cps, digit, state):
    menu_end = menu_starts(base_settings, cps) + seconds(MENU, cps)
    at = menu_end + 2.0
    timeline = run(standard_library, base_settings, "main_menu", f"dtmf:{digit}@{at}", f"speech@{at + 10}")
    states = [e["state"] for e in of_type(timeline, "state") if e["script"] == "main_menu"]
    assert states == ["welcome", "menu", state]
    assert said(timeline)[2] == (at, "ivr.transfer", TRANSFER)
    assert of_type(timeline, "transfer")[0]["t"] == at + seconds(TRANSFER, cps)
    assert said(timeline)[3][1] == "greeting.standard"


def test_zero_during_the_menu_prompt_reaches_a_person_at_once(standard_library, base_settings, cps):
    # the human option is easy to find: no need to hear the whole menu first.
    at = menu_starts(base_settings, cps) + 1.0
    timeline = run(standard_library, base_settings, "main_menu", f"dtmf:0@{at}", "hangup@40")
    assert of_type(timeline, "stop") == [{"t": at, "type": "stop", "key": "ivr.menu"}]
    assert said(timeline)[2][:2] == (at, "ivr.transfer")


def test_a_key_not_offered_brings_an_apology_and_the_menu_again(standard_library, base_settings, cps):
    at = menu_starts(base_settings, cps) + seconds(MENU, cps) + 1.0
    timeline = run(standard_library, base_settings, "main_menu", f"dtmf:7@{at}", "hangup@60")
    assert said(timeline)[2:4] == [(at, "ivr.again", AGAIN), (at + seconds(AGAIN, cps), "ivr.menu", MENU)]


def test_a_caller_who_speaks_instead_of_pressing_gets_a_person(standard_library, base_settings, cps):
    at = menu_starts(base_settings, cps) + seconds(MENU, cps) + 1.0
    timeline = run(standard_library, base_settings, "main_menu", f"speech@{at}", "hangup@60")
    assert said(timeline)[2] == (at, "ivr.transfer", TRANSFER)


def test_a_silent_caller_hears_the_menu_three_times_then_gets_a_person(standard_library, base_settings, cps):
    menu = standard_library.script("main_menu").state("menu")
    window = menu.action.window.resolve({})
    t = menu_starts(base_settings, cps)
    expected = [(answer_at(base_settings), WELCOME)]
    for _ in range(menu.max_visits):
        expected.append((t, MENU))
        t += seconds(MENU, cps) + window
    expected.append((t, TRANSFER))
    timeline = run(standard_library, base_settings, "main_menu", "hangup@70")
    assert [(when, x) for when, _, x in said(timeline)][: len(expected)] == expected
    assert hangup(timeline) == {"t": 70.0, "type": "hangup", "disposition": "normal", "by": "caller"}


def test_the_main_menu_obeys_section_8(standard_library):
    """R-136: one level; every menu offers 0 for a person, one step from a transfer; no advertising."""
    script = standard_library.script("main_menu")
    menus = [s for s in script.states.values() if isinstance(s.action, ListenAction)]
    assert len(menus) == 1  # one level only
    for menu in menus:
        human = script.state(menu.on["dtmf:0"].value)
        assert human.action.target.script == "agent_queue"
        assert isinstance(standard_library.script("agent_queue").state("ring").action, TransferAction)
    keys = {ref.key for s in script.states.values() for ref in s.say}
    assert keys == {"ivr.welcome", "ivr.menu", "ivr.again", "ivr.transfer"}  # nothing else is played, no adverts


# ---------------------------------------------------------------- every script × every kind of caller

# What each script says first, word for word (entries after the answer, situations at once).
FIRST_PROMPT: dict[str, tuple[str, str]] = {
    **{script: (key, text) for script, key, text, _ in ONE_PROMPT},
    **{script: (f"greeting.{script.removeprefix('greeting_')}", text) for script, text in S1_GREETINGS[1:]},
    "silent_call": ("greeting.standard", GREETING),
    "silent_followup": ("silent.s2", S2),
    "agent_queue": ("greeting.standard", GREETING),  # the agent answered at once: their greeting is S1
    "low_volume": ("lowvol.l1", L1),
    "low_volume_l2": ("lowvol.l2", L2),
    "noise": ("noise.closing", NOISE),
    "dialect_d2": ("dialect.d2", D2),
    "personal_call": ("personal.refuse", PERSONAL),
    "malicious_call": ("malicious.refuse", MALICIOUS),
    "hold": ("hold.wait", HOLD),
    "resume": ("hold.resume", RESUME),
    "agent_lost": ("hold.wait", HOLD),
    "media_call": ("media.decline", MEDIA),
    "closing": ("closing.thanks", FAREWELL),
    "main_menu": ("ivr.welcome", WELCOME),
    "inbound": ("ivr.welcome", WELCOME),
    "callback_survey": ("callback.opening", CALLBACK_OPENING),
    "callback_survey5": ("callback.opening", CALLBACK_OPENING),
    "callback_progressive": ("callback.connecting", "请稍等,我帮您接通客服专员。"),
}
# Scripts that say nothing while an agent answers at once (the preview callback's agent is already waiting).
SILENT_WITH_AN_AGENT = {"callback_preview"}


def test_the_first_prompt_table_covers_the_whole_library(standard_library):
    assert set(FIRST_PROMPT) | SILENT_WITH_AN_AGENT == set(standard_library.scripts)


@pytest.mark.parametrize("caller", ["silent", "speech@1", "hangup@1"])
def test_a_preview_callback_connects_the_waiting_agent_and_says_nothing(standard_library, base_settings, caller):
    timeline = run(standard_library, base_settings, "callback_preview", caller, answered=True)
    assert said(timeline) == []
    assert [e["status"] for e in of_type(timeline, "agent")] == ["answered"]


def test_a_preview_callback_whose_agent_left_apologises_then_releases(standard_library, base_settings):
    timeline = run(standard_library, base_settings, "callback_preview", "no_agent", answered=True)
    assert [key for _, key, _ in said(timeline)] == ["callback.sorry"]
    end = hangup(timeline)
    assert end is not None and end["disposition"] == "no_agent" and end["by"] == "system"


@pytest.mark.parametrize("caller", ["silent", "speech", "dtmf", "hangup"])
@pytest.mark.parametrize("script", sorted(FIRST_PROMPT))
def test_every_script_against_every_kind_of_caller(standard_library, base_settings, cps, script, caller):
    """The invariants every script keeps, whatever the caller does: its exact first words; a release by the
    centre only after an apology or farewell and its 5 s (R-23); a caller's hang-up ends everything then."""
    entry = standard_library.script(script).kind == "entry"
    start = answer_at(base_settings) if entry else 0.0
    key, text = FIRST_PROMPT[script]
    first_end = start + seconds(text, cps)
    spec = {
        "silent": "silent",
        "speech": f"speech@{first_end + 1.0}",
        "dtmf": f"dtmf:1@{first_end + 1.0}",
        "hangup": f"hangup@{round(start + seconds(text, cps) / 2, 3)}",
    }[caller]
    timeline = run(standard_library, base_settings, script, spec)
    assert said(timeline)[0] == (start, key, text)
    end = hangup(timeline)
    if caller == "hangup":
        assert end is not None and end["by"] == "caller" and end["t"] == float(spec.partition("@")[2])
    elif end is not None and end["by"] == "system":
        last = of_type(timeline, "say")[-1]
        assert end["t"] - (last["t"] + last["duration"]) >= PAUSE - 1e-9
        assert any(word in last["text"] for word in ("对不起", "再见")), last
    if end is not None:
        assert timeline[-1] is end  # nothing happens on a call that is gone


# ---------------------------------------------------------------- locales, lint, catalogue, README


def test_the_sichuan_locale_overrides_a_few_prompts_and_falls_back_to_mandarin(standard_library, base_settings, cps):
    d1 = run(standard_library, base_settings, "dialect_d1", locale="zh-sichuan", answered=True)
    assert said(d1)[0][2] == "请您别着急,慢慢讲,请问有什么可以帮助您?"
    inbound = run(standard_library, base_settings, "inbound", "speech@40", locale="zh-sichuan")
    assert said(inbound)[0][2] == "您好,欢迎致电江南云商客户服务热线,本线路的客服代表可以听懂四川话。"
    silent = run(standard_library, base_settings, "silent_call", locale="zh-sichuan", answered=True)
    assert [x for _, _, x in said(silent)] == [GREETING, S2, S3]  # zh-CN along the chain
    assert standard_library.catalogues.keys(["zh-sichuan"]) < standard_library.catalogues.keys(["zh-CN"])


def full_variables(settings: Settings) -> dict[str, Any]:
    return call_variables(settings, caller={"surname": "王", "honorific": "先生"}, holiday="春节")


@pytest.mark.parametrize("locale", ["zh-CN", "zh-sichuan"])
def test_no_prompt_contains_a_forbidden_phrase(standard_library, base_settings, locale):
    # R-52 喂, R-53 不知道 / 不归我们管 / 这与我无关, R-59 你 (always 您), R-54 fillers.
    forbidden = ["喂", "不知道", "不清楚", "不归我们管", "这与我无关", "你", "我晕", "天啊", "怎么这样", "真是的"]
    for key in standard_library.catalogues.keys([locale]):
        text = standard_library.catalogues.render(key, locale, full_variables(base_settings))
        assert not [w for w in forbidden if w in text], (key, text)


def test_every_prompt_is_used_by_a_script_and_every_key_is_grouped(standard_library):
    used = {ref.key for script in standard_library.scripts.values() for s in script.states.values() for ref in s.say}
    keys = standard_library.catalogues.keys()
    assert keys - used == {"fallback.apology"}  # said by the engine itself when a script fails
    assert all("." in key for key in keys)


def test_the_library_lints_clean(base_settings):
    # The real directory (with whatever audio it has), loaded leniently so every problem is listed.
    problems = lint(load_library(SCRIPTS, base_settings.scripts, strict=False), base_settings.service)
    assert [str(p) for p in problems] == []


def test_the_readme_lists_every_script_with_its_r_numbers(standard_library):
    readme = (SCRIPTS / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line for line in readme.splitlines() if line.startswith("| `")}
    assert set(rows) == set(standard_library.scripts)
    assert all("R-" in line.split("|")[-2] for line in rows.values())


def test_every_script_file_is_named_for_its_script(standard_library):
    assert {Path(s.path).stem for s in standard_library.scripts.values()} == set(standard_library.scripts)
    assert set(standard_library.scripts) == {p.stem for p in SCRIPTS.glob("*.yaml")}
