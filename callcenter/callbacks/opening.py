"""The R-105 opening an agent says when the customer answers, with its holiday variant.

R-105 (001:402): 「您好!请问是X先生/女士吗?我是新颖装饰的客服专员。想针对我们公司装修质量和服务的满意程度做个
简单的回访。可能会占用您几分钟时间,请问您现在是否方便。」 — the company is the centre (``service.center``), the
matter is the campaign's subject. On the statutory holidays R-105 names (元旦、春节、五一、中秋、国庆) the
greeting is a holiday one: 「春节好」 in the Spring Festival, 「节日好」 on the others (001:402, 001:404).
"""

from __future__ import annotations

from datetime import date

import chinese_calendar

# chinese_calendar's names of the holidays R-105 names, and the greeting each gets.
HOLIDAY_GREETINGS = {
    "New Year's Day": "节日好",  # 元旦
    "Spring Festival": "春节好",  # 春节
    "Labour Day": "节日好",  # 五一
    "Mid-autumn Festival": "节日好",  # 中秋
    "National Day": "节日好",  # 国庆
}
HONORIFICS = ("先生", "女士", "小姐")


def greeting(day: date) -> str:
    """「您好」, or the R-105 holiday greeting when ``day`` is one of the statutory holidays it names."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # a year the package does not know: no holiday is assumed
        return "您好"
    return HOLIDAY_GREETINGS.get(name, "您好") if on_holiday else "您好"


def addressee(customer_name: str | None) -> str:
    """「X先生/女士」 as R-105 writes it: the agent picks the honorific; a name that carries one keeps it."""
    name = (customer_name or "").strip()
    if name.endswith(HONORIFICS):
        return name
    return f"{name}先生/女士" if name else "机主本人"


def opening_text(day: date, customer_name: str | None, center: str, subject: str) -> str:
    return (
        f"{greeting(day)}!请问是{addressee(customer_name)}吗?我是{center}的客服专员。"
        f"想针对我们公司{subject}的满意程度做个简单的回访。可能会占用您几分钟时间,请问您现在是否方便?"
    )


def holiday_of(day: date) -> str:
    """The name of the statutory holiday R-105 names that ``day`` falls in (chinese_calendar's English name, as
    the prompt catalogue's ``holiday`` variable takes it), or ""."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return ""
    return name if on_holiday and name in HOLIDAY_GREETINGS else ""
