"""The demo's callback campaign (回访, R-94..R-105), dialled beside its inbound calls by the real dialer.

A survey campaign rings simulated customers who answer and press 满意 / 基本满意 / 不满意, who are busy, who never
answer, and one who hangs up during the opening; a preview campaign puts two customers in the agents' callback
queue (an agent signed in to the panel clicks 呼叫). Both campaigns call at any hour of any day, so the demo shows
them whenever it runs; a centre's own campaigns keep R-103's hours (``callcenter callbacks campaign add``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callcenter.config import Settings
from callcenter.logs import get_logger

log = get_logger(__name__)

SURVEY, PREVIEW = "演示·满意度回访", "演示·预览回访"
ALL_DAY = "00:00-24:00"
# Seconds the customer waits after the question ends before pressing a key.
KEY_AFTER_QUESTION = 2.0


@dataclass(frozen=True)
class DemoCustomer:
    number: str
    name: str
    behaviour: str  # "key:<digit>", "busy", "no_answer", "hangs_up_opening", "talks"


SURVEYED = (
    DemoCustomer("13700000001", "王先生", "key:1"),
    DemoCustomer("13700000002", "李女士", "key:2"),
    DemoCustomer("13700000003", "张先生", "key:3"),
    DemoCustomer("13700000004", "刘女士", "busy"),
    DemoCustomer("13700000005", "陈先生", "no_answer"),
    DemoCustomer("13700000006", "杨女士", "hangs_up_opening"),
)
PREVIEWED = (
    DemoCustomer("13700000011", "赵先生", "talks"),
    DemoCustomer("13700000012", "吴女士", "talks"),
)


def customer_of(demo: DemoCustomer, lengths: Mapping[str, float], window: float = 5.0) -> Any:
    """The simulated phone of one demo customer; key presses fall in the survey question's window."""
    from callcenter.sim.ari_parties import SimCaller, SimCustomer

    question_ends = lengths.get("callback.opening", 20.0) + window + lengths.get("callback.survey.ask", 10.0)
    kind, _, digit = demo.behaviour.partition(":")
    if kind == "busy":
        return SimCustomer(demo.number, busy=True)
    if kind == "no_answer":
        return SimCustomer(demo.number, answer_at_ring=None)
    if kind == "hangs_up_opening":
        return SimCustomer(demo.number, answer_at_ring=2, after_answer=SimCaller(number=demo.number, hangup_at=4.0))
    if kind == "key":
        press = question_ends + KEY_AFTER_QUESTION
        return SimCustomer(demo.number, answer_at_ring=2, after_answer=SimCaller(
            number=demo.number, dtmf=((press, digit),), hangup_at=press + lengths.get("callback.survey.thanks", 8)))
    return SimCustomer(demo.number, answer_at_ring=1, after_answer=SimCaller(
        number=demo.number, speech=((2.0, 3.0), (12.0, 4.0), (25.0, 3.0)), hangup_at=40.0))


def seed(settings: Settings, group: str, now: datetime) -> int:
    """Create the demo campaigns and their tasks (once); returns how many tasks were made."""
    from callcenter.callbacks.campaigns import add_campaign, get_campaign
    from callcenter.callbacks.errors import CallbackError
    from callcenter.callbacks.tasks import new_task
    from callcenter.store import session_scope

    made = 0
    with session_scope(settings.database.url) as session:
        for name, mode, script, customers in ((SURVEY, "survey", "callback_survey", SURVEYED),
                                              (PREVIEW, "preview", "callback_preview", PREVIEWED)):
            try:
                campaign = get_campaign(session, name)
            except CallbackError:
                campaign = add_campaign(session, name=name, kind="questionnaire", mode=mode, agent_group=group,
                                        script=script, at=now, hours=ALL_DAY, rest_days=True, max_attempts=2,
                                        retry="2m")
            for demo in customers:
                _, created = new_task(session, settings, campaign, number=demo.number, at=now,
                                      dedup_key=f"demo:{name}:{demo.number}", customer_name=demo.name)
                made += created
    return made


async def start_demo_callbacks(settings: Settings, sim: Any, lengths: Mapping[str, float]) -> None:
    """Give the simulator the demo's customers and put the campaigns in the store; the dialer does the rest."""
    for demo in (*SURVEYED, *PREVIEWED):
        sim.add_customer(customer_of(demo, lengths))
    made = await asyncio.to_thread(seed, settings, settings.telephony.default_group, datetime.now(UTC))
    log.info("demo.callbacks", tasks=made)
