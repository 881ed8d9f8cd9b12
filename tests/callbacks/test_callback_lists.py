"""A supervisor's list of customers for a campaign (R-95 item 7, R-102): orders or numbers, each once, every one
that cannot be called counted with its reason; a malformed line stops the load and names its line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_callback_cli import cli  # noqa: F401 (fixture)

from callcenter.callbacks.campaigns import add_campaign
from callcenter.callbacks.dnc import add_number
from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.lists import load_list, parse_list
from callcenter.callbacks.models import CallbackTask
from callcenter.config import Settings
from tests.callbacks.conftest import MONDAY_10


def test_a_list_of_orders_and_numbers_makes_one_task_each_once(
    session: Session, cb_settings: Settings, closed_order: Callable[..., str]
) -> None:
    order = closed_order(caller="13800138001", name="李女士")
    add_campaign(session, name="年度回访", kind="periodic", mode="preview", agent_group="default",
                 script="callback_preview", at=MONDAY_10)
    add_number(session, "13800138009", reason="客户要求不再回访", by="boss", at=MONDAY_10)
    lines = ["# 2026 年度回访", order, "13800138002,王先生", "13800138003", "", "13800138009", "anonymous",
             "GD20990101-000001"]
    report = load_list(session, cb_settings, "年度回访", parse_list(lines), MONDAY_10)
    assert (report.made, report.already) == (3, 0)
    assert dict(report.skipped) == {"do_not_call": 1, "withheld": 1, "unknown_order": 1}
    tasks = {t.number: t for t in session.scalars(select(CallbackTask).where(CallbackTask.status == "due"))}
    assert (tasks["13800138001"].order_number, tasks["13800138001"].customer_name) == (order, "李女士")
    assert tasks["13800138002"].customer_name == "王先生"
    again = load_list(session, cb_settings, "年度回访", parse_list(lines), MONDAY_10)
    assert (again.made, again.already) == (0, 5)  # the counted skips are tasks too: nothing is made twice


@pytest.mark.parametrize(("line", "message"), [
    ("GD20261123-000042,王先生", "list line 2: an order number stands alone"),
    ("13800138000,王先生,北京", "list line 2: expected an order number, or a number and an optional name"),
])
def test_a_malformed_line_is_named(line: str, message: str) -> None:
    with pytest.raises(CallbackError, match=message):
        parse_list(["13800138000", line])


def test_the_cli_loads_a_file_and_refuses_an_unknown_campaign(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    path = tmp_path / "list.txt"
    path.write_text("13800138002,王先生\n13800138003\n", encoding="utf-8")
    code, _, err = cli("load", "无此计划", str(path))
    assert code == 2 and "无此计划" in err
    assert cli("campaign", "add", "问卷", "--kind", "questionnaire", "--mode", "survey", "--group", "default",
               "--script", "callback_survey")[0] == 0
    code, out, _ = cli("load", "问卷", str(path))
    assert code == 0 and "2 tasks made, 0 already there" in out
    code, _, err = cli("load", "问卷", str(tmp_path / "missing.txt"))
    assert code == 2 and "cannot be read" in err
