"""The AGI wire format, sans-I/O: environment limits, command quoting, reply parsing (docs.asterisk.org)."""

from __future__ import annotations

import pytest

from callcenter.telephony.agi.codec import (
    MAX_ENV_LINES,
    AGIDeadChannel,
    AGIEnvironmentError,
    AGIInvalidCommand,
    AGIProtocolError,
    AGIUsageError,
    EnvironmentReader,
    ReplyReader,
    app_args,
    format_command,
    parse_env_line,
    quote_arg,
    reply_200,
)


def _reply(*lines: str):
    reader = ReplyReader()
    out = None
    for line in lines:
        out = reader.feed(line.encode() + b"\n")
    return out, reader


def test_env_line_parsing_keeps_colons_and_empty_values() -> None:
    assert parse_env_line("agi_request: agi://127.0.0.1:4573/main") == ("agi_request", "agi://127.0.0.1:4573/main")
    assert parse_env_line("agi_accountcode: ") == ("agi_accountcode", "")


@pytest.mark.parametrize("line", ["garbage", "agi_: x", "channel: x", "agi_x y: z", ": value"])
def test_malformed_env_lines_are_refused(line: str) -> None:
    with pytest.raises(AGIEnvironmentError, match="malformed"):
        parse_env_line(line)


def test_environment_reader_stops_at_the_blank_line_and_bounds_lines() -> None:
    env = EnvironmentReader()
    assert env.feed(b"agi_network: yes\n") is False
    assert env.feed(b"agi_calleridname: \xe7\x8e\x8b\n") is False
    assert env.feed(b"\n") is True
    assert env.env == {"agi_network": "yes", "agi_calleridname": "王"}
    big = EnvironmentReader()
    with pytest.raises(AGIEnvironmentError, match="more than"):
        for i in range(MAX_ENV_LINES + 1):
            big.feed(b"agi_arg_%d: x\n" % i)
    with pytest.raises(AGIProtocolError, match="exceeds"):
        EnvironmentReader().feed(b"agi_x: " + b"y" * 9000 + b"\n")
    with pytest.raises(AGIEnvironmentError, match="empty"):
        EnvironmentReader().feed(b"\n")


def test_invalid_utf8_does_not_crash() -> None:
    env = EnvironmentReader()
    env.feed(b"agi_calleridname: \xcd\xf5\n")  # GBK 王
    assert env.env["agi_calleridname"] == "\ufffd\ufffd"


def test_arguments_are_quoted_and_line_breaks_refused() -> None:
    assert quote_arg("greeting") == "greeting"
    assert quote_arg("") == '""'
    assert quote_arg('a "b" c') == '"a \\"b\\" c"'
    assert format_command("STREAM FILE", "/s/zh-CN/x", "") == b'STREAM FILE /s/zh-CN/x ""\n'
    with pytest.raises(AGIProtocolError, match="line break"):
        format_command("STREAM FILE", "x\nHANGUP", "")  # a newline would smuggle in a second command
    with pytest.raises(AGIProtocolError, match="not an AGI command"):
        format_command("stream file; HANGUP", "x")
    with pytest.raises(AGIProtocolError, match="2048"):
        format_command("NOOP", "x" * 3000)
    assert app_args("PJSIP/8001", 15, "g") == "PJSIP/8001,15,g"
    with pytest.raises(AGIProtocolError, match="comma"):
        app_args("PJSIP/8001,PJSIP/9999")


def test_200_replies() -> None:
    reply, _ = _reply("200 result=49 endpos=12640")
    assert (reply.value, reply.digit, reply.endpos) == (49, "1", 12640)
    reply, _ = _reply("200 result=1 (王(先生))")
    assert reply.data == "王(先生)"
    reply, _ = _reply("200 result=1 (speech) endpos=1234 results=foo")
    assert (reply.data, reply.endpos, reply.extra) == ("speech", 1234, {"results": "foo"})
    reply, _ = _reply("200 result= (timeout)")
    assert (reply.result, reply.data, reply.value) == ("", "timeout", None)
    reply, _ = _reply("200 result=-1 endpos=0")
    assert reply.failed and reply.digit == ""
    with pytest.raises(AGIProtocolError, match="endpos"):
        _reply("200 result=0 endpos=abc")
    with pytest.raises(AGIProtocolError, match="without result"):
        _reply("200 nothing")


@pytest.mark.parametrize("line", [
    "200 result=0", "200 result=49 endpos=12640", "200 result=1 (王(先生))", "200 result= (timeout)",
    "200 result=1 (speech) endpos=1234 results=foo", "200 result=-1 endpos=0",
])
def test_the_servers_reply_shortcut_gives_what_the_reader_gives(line: str) -> None:
    raw = line.encode() + b"\n"
    expected, _ = _reply(line)
    for _ in range(2):  # parsed, then from the cache of seen lines
        got = reply_200(raw)
        assert (got.code, got.result, got.data, got.endpos, dict(got.extra), got.line) == (
            expected.code, expected.result, expected.data, expected.endpos, dict(expected.extra), expected.line)


def test_cached_replies_cannot_be_changed_through_their_extra_keys() -> None:
    reply = reply_200(b"200 result=0\n")
    assert reply_200(b"200 result=0\n") is reply
    with pytest.raises(TypeError):
        reply.extra["x"] = "y"  # type: ignore[index]
    with pytest.raises(AGIProtocolError, match="without result"):
        reply_200(b"200 nothing\n")
    with pytest.raises(AGIProtocolError, match="exceeds"):
        reply_200(b"200 result=0 " + b"x" * 9000 + b"\n")


def test_formatted_lines_are_reused_only_for_the_same_text() -> None:
    assert format_command("WAIT FOR DIGIT", "5000") == b"WAIT FOR DIGIT 5000\n"
    assert format_command("WAIT FOR DIGIT", 5000) == b"WAIT FOR DIGIT 5000\n"
    assert format_command("SET VARIABLE", "X", True) == b"SET VARIABLE X True\n"
    assert format_command("SET VARIABLE", "X", 1) == b"SET VARIABLE X 1\n"  # 1 == True, not the same text
    assert format_command("SET VARIABLE", "X", 1.0) == b"SET VARIABLE X 1.0\n"
    assert format_command("SET VARIABLE", "X", ["a b"]) == b"SET VARIABLE X \"['a b']\"\n"  # unhashable
    with pytest.raises(AGIProtocolError, match="line break"):
        format_command("STREAM FILE", "x\nHANGUP", "")  # refused every time, never cached
    with pytest.raises(AGIProtocolError, match="line break"):
        format_command("STREAM FILE", "x\nHANGUP", "")


def test_hangup_line_is_noted_and_the_reply_still_read() -> None:
    reply, reader = _reply("HANGUP", "200 result=-1")
    assert reader.hung_up and reply.failed


def test_error_codes_are_typed() -> None:
    with pytest.raises(AGIInvalidCommand):
        _reply("510 Invalid or unknown command")
    with pytest.raises(AGIDeadChannel):
        _reply("511 Command Not Permitted on a dead channel or intercept routine")
    with pytest.raises(AGIUsageError) as one_line:
        _reply("520 Invalid command syntax.  Proper usage not available.")
    assert "not available" in one_line.value.usage
    with pytest.raises(AGIUsageError) as glued:
        _reply("520-Invalid command syntax.  Proper usage follows:", "Answers channel.520 End of proper usage.")
    assert glued.value.usage.endswith("Answers channel.")
    with pytest.raises(AGIProtocolError, match="unknown AGI reply code"):
        _reply("404 nope")
    with pytest.raises(AGIProtocolError, match="unexpected line"):
        _reply("hello")


def test_usage_reply_is_bounded() -> None:
    reader = ReplyReader()
    reader.feed(b"520-Invalid command syntax.  Proper usage follows:\n")
    with pytest.raises(AGIProtocolError, match="longer than"):
        for _ in range(500):
            reader.feed(b"usage text\n")
