import io
import json
import sys

import structlog

from callcenter.logs import bind_call, configure_logging, get_logger, mask_number


def test_mobile_and_landline_numbers_are_masked() -> None:
    assert mask_number("13812345678") == "138****5678"
    assert mask_number("+8613812345678") == "+86138****5678"
    assert mask_number("来电 02887654321 转 8001") == "来电 028****4321 转 8001"
    assert mask_number("ring 3 of 3") == "ring 3 of 3"


def test_dates_and_ids_in_text_stay_readable() -> None:
    assert mask_number("20261122话务日报") == "20261122话务日报"
    assert mask_number("call 1795435109.12") == "call 1795435109.12"


def test_a_value_under_a_number_key_is_masked_whatever_its_shape() -> None:
    from callcenter.logs import mask_caller_numbers

    out = mask_caller_numbers(None, "info", {"caller": "88881234", "callee": "8001", "number": 13812345678})
    assert out == {"caller": "888*1234", "callee": "****", "number": "138****5678"}


def test_log_lines_are_json_with_call_id_and_no_full_caller_number() -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)
    try:
        structlog.contextvars.clear_contextvars()
        bind_call("call-42")
        get_logger("t").info("call offered", caller="13812345678", detail="callback to 13812345678")
    finally:
        structlog.contextvars.clear_contextvars()
        configure_logging("info", stream=sys.stderr)
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["call_id"] == "call-42"
    assert line["caller"] == "138****5678"
    assert "13812345678" not in out.getvalue()
