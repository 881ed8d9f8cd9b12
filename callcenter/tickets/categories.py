"""Work-order categories of section 4.2: the type (R-71, R-73) and the subject sub-category (R-72).

The type decides the clock (a complaint runs the complaint limits of R-78/R-79); the subject is for the
periodic statistics of R-89. Codes are ASCII so they are safe on a command line; each carries its Chinese name.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.tickets.errors import UnknownCategoryError


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    # Complaint records are kept a year and may be major; 003 handles 举报 like 投诉 (003:253).
    is_complaint: bool
    source: str


CATEGORIES: dict[str, Category] = {
    c.code: c
    for c in (
        Category("complaint", "投诉", True, "R-71 003:287"),
        Category("report", "举报", True, "R-71 003:291, R-76 003:253"),
        Category("opinion", "意见", False, "R-71 003:289"),
        Category("suggestion", "建议", False, "R-71 003:291, R-73 002:347"),
        Category("consultation", "咨询", False, "R-71 003:289, R-73 002:343"),
        # Service tickets: repairs (R-70 002:843 《維修服務單》, R-100 repair callbacks).
        Category("repair", "报修", False, "R-70 002:843, R-100 002:803"),
    )
}

# R-72 (003:271-281): subject categories; a centre outside utilities keeps the codes and renames the labels.
SUBCATEGORIES: dict[str, str] = {
    "safety": "安全(安全隐患、噪音污染等)",
    "supply_quality": "供应质量(压力、质量、停供等)",
    "network": "管网建设(工程、改造、施工、赔偿等)",
    "service_quality": "服务质量(态度、效率、环境、业务差错等)",
    "information": "信息沟通(信息披露、停供通知、技术支持等)",
    "other": "其他",
}


def category(code: str) -> Category:
    try:
        return CATEGORIES[code]
    except KeyError:
        known = ", ".join(CATEGORIES)
        raise UnknownCategoryError(f"unknown category {code!r} (R-71: one of {known})") from None


def check_subcategory(code: str | None) -> str | None:
    if code is None or code in SUBCATEGORIES:
        return code
    known = ", ".join(SUBCATEGORIES)
    raise UnknownCategoryError(f"unknown sub-category {code!r} (R-72: one of {known})")
