"""A supervisor's list of customers for a periodic or questionnaire campaign (R-95 item 7, R-102).

One customer per line: a work-order number (the order's caller and name are called back, and the call is linked
to it), or a phone number with an optional name after a comma (``13800138000,王先生``). Blank lines and lines
starting with ``#`` are skipped. A line is one task of the campaign, made once: loading the list again adds only
what is new. What cannot be called is counted with its reason (not dialable, on the do-not-call list, an unknown
order), never silently dropped; a malformed line stops the load before anything is written, naming its line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.callbacks.campaigns import get_campaign
from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.tasks import new_task
from callcenter.config import Settings
from callcenter.tickets.models import WorkOrder

ORDER_NUMBER = re.compile(r"^[A-Z]{1,4}\d{8}-\d{6}$")  # GD20261123-000042
MAX_LINES = 100_000


@dataclass(frozen=True)
class Customer:
    line: int
    number: str | None
    name: str | None
    order: str | None


@dataclass
class LoadReport:
    campaign: str
    made: int = 0
    already: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"campaign": self.campaign, "made": self.made, "already": self.already, "skipped": dict(self.skipped)}


def parse_list(lines: Iterable[str]) -> list[Customer]:
    """The customers of a list, or one :class:`CallbackError` naming the first bad line."""
    out: list[Customer] = []
    for n, raw in enumerate(lines, start=1):
        if n > MAX_LINES:
            raise CallbackError(f"list: more than {MAX_LINES} lines; split it")
        text = raw.strip().lstrip("\ufeff")
        if not text or text.startswith("#"):
            continue
        first, _, rest = (part.strip() for part in text.partition(","))
        if ORDER_NUMBER.match(first):
            if rest:
                raise CallbackError(f"list line {n}: an order number stands alone ({text[:60]!r})")
            out.append(Customer(n, None, None, first))
        elif first and len(first) <= 32 and len(rest) <= 64 and "," not in rest:
            out.append(Customer(n, first, rest or None, None))
        else:
            raise CallbackError(f"list line {n}: expected an order number, or a number and an optional name "
                                f"(13800138000,王先生), got {text[:60]!r}")
    return out


def load_list(session: Session, settings: Settings, campaign_name: str, customers: list[Customer],
              at: datetime) -> LoadReport:
    """One task per customer of the campaign (loading again adds only the new ones)."""
    campaign = get_campaign(session, campaign_name)
    report = LoadReport(campaign.name)
    numbers = [c.order for c in customers if c.order]
    orders = {o.number: o for o in session.scalars(select(WorkOrder).where(WorkOrder.number.in_(numbers)))}
    for customer in customers:
        order = orders.get(customer.order) if customer.order else None
        if customer.order and order is None:
            report.skipped["unknown_order"] += 1
            continue
        number = order.caller_number if order is not None else customer.number
        key = f"list:{campaign.name}:{customer.order or number}"
        task, made = new_task(
            session, settings, campaign, number=number, dedup_key=key[:160], at=at,
            order_id=order.id if order is not None else None, order_number=customer.order,
            customer_name=order.caller_name if order is not None else customer.name,
            notes=f"list line {customer.line}",
        )
        if not made:
            report.already += 1
        elif task.status == "skipped":
            report.skipped[task.skip_reason or "skipped"] += 1
        else:
            report.made += 1
    session.flush()
    return report
