"""Prompt catalogues: sandboxed templates, strict variables, the locale chain, per-call variables."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from callcenter.config import Settings
from callcenter.scripting.catalogue import compile_prompt, greeting_time, prompt_variables, time_of_day
from callcenter.scripting.errors import RenderError, ScriptLoadError
from callcenter.scripting.library import ScriptLibrary
from callcenter.scripting.model import Mark

MARK = Mark("prompts/zh-CN.yaml", 7, 10)


def test_caller_supplied_values_never_run_as_template_code(library: ScriptLibrary, settings: Settings) -> None:
    variables = prompt_variables(settings.service, caller={"surname": "{{ 7*7 }}", "honorific": "先生"})
    text = library.catalogues.render("address.named", "zh-CN", variables)
    assert text == "{{ 7*7 }}先生,请问有什么可以帮助您?"
    assert "49" not in text


def test_a_surname_with_jinja_statements_is_spoken_as_written(library: ScriptLibrary, settings: Settings) -> None:
    surname = "{% for i in range(3) %}王{% endfor %}"
    variables = prompt_variables(settings.service, caller={"surname": surname, "honorific": "女士"})
    assert library.catalogues.render("address.named", "zh-CN", variables).startswith(surname + "女士,")


def test_attribute_access_outside_the_records_is_refused_at_load() -> None:
    expected = r"prompts/zh-CN.yaml:7:10: prompt 'k': undefined variable hotline.__class__"
    with pytest.raises(ScriptLoadError, match=expected):
        compile_prompt("k", "zh-CN", "{{ hotline.__class__.__mro__ }}", MARK)


@pytest.mark.parametrize("source", ["{{ hotline['__class__'] }}", "{{ caller|attr('__class__') }}"])
def test_the_sandbox_refuses_python_internals_at_render(source: str) -> None:
    prompt = compile_prompt("k", "zh-CN", source, MARK)
    with pytest.raises(RenderError, match=r"prompts/zh-CN.yaml:7:10: prompt 'k' \(zh-CN\)"):
        prompt.render({"hotline": "江南云商", "caller": {"surname": "王"}})


def test_an_undefined_variable_at_render_time_is_an_error_not_a_gap(library: ScriptLibrary) -> None:
    with pytest.raises(RenderError, match=r"zh-CN.yaml:5:17: prompt 'greeting.agent' \(zh-CN\): 'agent' is undefined"):
        library.catalogues.render("greeting.agent", "zh-CN", {"hotline": "江南云商"})


def test_the_locale_chain_falls_back_to_mandarin(library: ScriptLibrary, settings: Settings) -> None:
    variables = prompt_variables(settings.service)
    catalogues = library.catalogues
    assert catalogues.chain("zh-sichuan") == ("zh-sichuan", "zh-CN")
    assert catalogues.render("ivr.menu", "zh-sichuan", variables) == "咨询请按1,人工请按0。"
    assert catalogues.lookup("silent.s2", "zh-sichuan").locale == "zh-CN"
    assert catalogues.render("ivr.menu", "zh-CN", variables) == "咨询请按1,人工服务请按0。"


def test_an_unknown_key_names_the_chain_it_searched(library: ScriptLibrary) -> None:
    expected = r"unknown prompt key 'nope' in locale 'zh-sichuan' \(looked in zh-sichuan, zh-CN\)"
    with pytest.raises(RenderError, match=expected):
        library.catalogues.lookup("nope", "zh-sichuan")


def test_prompts_without_variables_are_rendered_once_at_load(library: ScriptLibrary) -> None:
    s1 = library.catalogues.lookup("silent.s1", "zh-CN")
    assert s1.constant == "您好!请问有什么可以帮助您?" and not s1.per_call
    welcome = library.catalogues.lookup("ivr.welcome", "zh-CN")
    assert welcome.constant is None and not welcome.per_call  # hotline only: fixed for a centre
    assert library.catalogues.lookup("greeting.agent", "zh-CN").per_call


def test_agent_label_is_the_work_number_unless_the_centre_chose_names(settings: Settings) -> None:
    agent = {"work_number": "1001", "name": "李华"}
    assert prompt_variables(settings.service, agent=agent)["agent"]["label"] == "1001"
    by_name = replace(settings.service, agent_label="name")
    assert prompt_variables(by_name, agent=agent)["agent"]["label"] == "李华"


def test_caller_address_before_and_after_the_name_is_known(settings: Settings) -> None:
    assert prompt_variables(settings.service)["caller"]["address"] == "先生(女士)"  # R-08, 000:215
    known = prompt_variables(settings.service, caller={"surname": "王", "honorific": "先生"})
    assert known["caller"]["address"] == "王先生"
    unsure = prompt_variables(settings.service, caller={"surname": "李"})
    assert unsure["caller"]["address"] == "李女士"  # 女士 when unsure (setting)


@pytest.mark.parametrize(
    ("hour", "part", "greeting"),
    [
        (5, "上午", "早上好"),
        (10, "上午", "早上好"),
        (11, "中午", "中午好"),
        (13, "下午", "下午好"),
        (18, "晚上", "晚上好"),
        (2, "晚上", "晚上好"),
    ],
)
def test_time_of_day(hour: int, part: str, greeting: str) -> None:
    now = datetime(2026, 11, 23, hour, 30)
    assert (time_of_day(now), greeting_time(now)) == (part, greeting)


def test_time_variables_are_undefined_without_a_time(settings: Settings) -> None:
    assert "time_of_day" not in prompt_variables(settings.service)
    assert prompt_variables(settings.service, now=datetime(2026, 1, 1, 9))["greeting_time"] == "早上好"
