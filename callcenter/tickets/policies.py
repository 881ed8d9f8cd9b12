"""SLA policies as data: which clocks a work order runs, how long each is, and how it is counted.

Each :class:`Limit` says its clock explicitly:

* ``minutes`` / ``hours`` — **wall clock**, from the instant of acceptance (or closing); nights, weekends and
  holidays count (docs/design.md).
* ``working_days`` — **working days**: ends at 24:00 of the N-th working day after the anchor day, the anchor
  day not counted (Civil Code art. 201-202), statutory holidays and make-up days (调休) respected.
* ``days`` — **calendar days**: ends at 24:00 of the N-th day after the anchor day; when that day is a rest day
  the period ends with the next working day (Civil Code art. 203). ``days`` with N = 0 means "the same day".

The default policy is the call-centre rule set of source 003 (R-78, R-79, R-101, docs/design.md); the other
sources' limits (R-80, section 12 of the catalogue) ship as named presets chosen with ``tickets.policy``.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.tickets.categories import CATEGORIES
from callcenter.tickets.errors import SLAConfigError

UNITS = {"minutes": "wall clock", "hours": "wall clock", "working_days": "working days", "days": "calendar days"}
ANCHORS = ("accepted", "closed")
ALL = frozenset(CATEGORIES)
COMPLAINTS = frozenset(c for c, cat in CATEGORIES.items() if cat.is_complaint)
# Deadline names a service event meets (service.py): first contact, reply, close, callback, feedback.
DEADLINE_NAMES = ("first_contact", "reply", "close", "callback", "feedback")


@dataclass(frozen=True)
class Limit:
    name: str
    title: str
    amount: int
    unit: str
    anchor: str = "accepted"
    categories: frozenset[str] = ALL
    # None: every order of those categories; True: major ones only; False: general ones only.
    major: bool | None = None
    source: str = ""

    @property
    def clock(self) -> str:
        return UNITS[self.unit]

    @property
    def text(self) -> str:
        if self.unit == "days" and self.amount == 0:
            return "same day"
        unit = self.unit.replace("_", " ")
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"

    def applies(self, category: str, major: bool) -> bool:
        return category in self.categories and (self.major is None or self.major == major)


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    title: str
    limits: tuple[Limit, ...]

    def limits_for(self, category: str, major: bool) -> tuple[Limit, ...]:
        return tuple(limit for limit in self.limits if limit.applies(category, major))


def _check(policy: SlaPolicy) -> SlaPolicy:
    seen: set[tuple[str, str, bool | None]] = set()
    for limit in policy.limits:
        where = f"policy {policy.name}, limit {limit.name}"
        if limit.unit not in UNITS:
            raise SLAConfigError(f"{where}: unknown unit {limit.unit!r} (one of {', '.join(UNITS)})")
        if limit.anchor not in ANCHORS:
            raise SLAConfigError(f"{where}: unknown anchor {limit.anchor!r}")
        if limit.name not in DEADLINE_NAMES:
            raise SLAConfigError(f"{where}: unknown deadline name (one of {', '.join(DEADLINE_NAMES)})")
        if not 0 <= limit.amount <= 366 or (limit.amount == 0 and limit.unit != "days"):
            raise SLAConfigError(f"{where}: amount {limit.amount} out of range")
        for cat in limit.categories:
            if cat not in CATEGORIES:
                raise SLAConfigError(f"{where}: unknown category {cat!r}")
        for cat in limit.categories:
            for major in (False, True):
                if limit.applies(cat, major):
                    key = (limit.name, cat, major)
                    if key in seen:
                        raise SLAConfigError(f"{where}: two limits named {limit.name} apply to {cat} (major={major})")
                    seen.add(key)
    return policy


NOT_MAJOR = False

# Default: 003 (广安爱众 客户中心规范), the only call-centre work-order rule set (catalogue §11.4, docs/design.md).
CALL_CENTER_003 = SlaPolicy(
    "call_center_003",
    "呼叫中心工单时限 (003:251, 003:297)",
    (
        # contact the complainant within 45 minutes of the work order (wall clock).
        Limit("first_contact", "联系客户", 45, "minutes", categories=COMPLAINTS, source="R-78 003:251, 003:297"),
        # R-92 / 003:163: opinions and suggestions → contact within 1 working day.
        Limit("first_contact", "联系客户", 1, "working_days", categories=frozenset({"opinion", "suggestion"}),
              source="R-92 003:163"),
        # reply within 2 working days, close within 5 working days, counted from acceptance.
        Limit("reply", "答复", 2, "working_days", source="R-79 003:297"),
        Limit("close", "处结", 5, "working_days", major=NOT_MAJOR, source="R-79 003:297"),
        # a major complaint is handled within 10 days — calendar days as written (catalogue R-79 note).
        Limit("close", "处结", 10, "days", categories=COMPLAINTS, major=True, source="R-79 003:297"),
        # callback within 2 working days after closing.
        Limit("callback", "回访", 2, "working_days", anchor="closed", source="R-101 003:297"),
    ),
)

# 003:509: the public commitment for first contact is 1 working day (internal target stays 45 minutes).
CALL_CENTER_003_EXTERNAL = SlaPolicy(
    "call_center_003_external",
    "呼叫中心工单时限, 对外承诺 (003:509)",
    tuple(
        Limit("first_contact", "联系客户", 1, "working_days", categories=COMPLAINTS, source="R-78 003:509")
        if lim.name == "first_contact" and lim.unit == "minutes"
        else lim
        for lim in CALL_CENTER_003.limits
    ),
)

# 002 客戶服務管理制度: reply within 24 h (002:181, 002:343), handle within 3 working days, special cases 7
# (002:205, 002:357), feedback form within 24 h after handling (002:209).
MANAGEMENT_002 = SlaPolicy(
    "management_002",
    "客戶服務管理制度 (002:181-209, 002:357)",
    (
        Limit("reply", "答復", 24, "hours", source="R-80 002:181, 002:343"),
        Limit("close", "處理", 3, "working_days", major=NOT_MAJOR, source="R-80 002:205"),
        Limit("close", "處理(特殊狀況)", 7, "working_days", categories=COMPLAINTS, major=True,
              source="R-80 002:205, 002:357"),
        Limit("feedback", "反饋", 24, "hours", anchor="closed", categories=COMPLAINTS, source="R-80 002:209"),
        # 000:205 (6): complaint customers get a callback within one week.
        Limit("callback", "回訪", 7, "days", anchor="closed", categories=COMPLAINTS, source="R-80 000:205"),
    ),
)

# 002:927-929: complaints settled the same day; big issues a clear answer within 3 days (002:805).
SAME_DAY_002 = SlaPolicy(
    "same_day_002",
    "當日解決 (002:927-929, 002:805)",
    (
        Limit("reply", "當日答復", 0, "days", major=NOT_MAJOR, source="R-80 002:929"),
        Limit("close", "當日協商解決", 0, "days", major=NOT_MAJOR, source="R-80 002:927"),
        Limit("reply", "明確答復", 3, "days", categories=COMPLAINTS, major=True, source="R-80 002:805"),
        Limit("callback", "回訪", 7, "days", anchor="closed", categories=COMPLAINTS, source="R-80 000:205"),
    ),
)

PRESETS: dict[str, SlaPolicy] = {
    p.name: _check(p) for p in (CALL_CENTER_003, CALL_CENTER_003_EXTERNAL, MANAGEMENT_002, SAME_DAY_002)
}
DEFAULT_POLICY = CALL_CENTER_003.name


def policy(name: str) -> SlaPolicy:
    try:
        return PRESETS[name]
    except KeyError:
        raise SLAConfigError(f"tickets.policy: unknown SLA policy {name!r} (one of {', '.join(PRESETS)})") from None
