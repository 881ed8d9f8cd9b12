"""The AGI wire format, sans-I/O: the ``agi_`` environment block, command lines, and Asterisk's replies.

Nothing here touches a socket (docs/design.md, Habits): lines go in, values or typed errors come out, so the FastAGI
server, the classic-AGI adapter and the conformance transcripts all exercise the same rules.

Asterisk facts the parser follows (docs.asterisk.org, AGI Commands; docs/design.md "Asterisk facts"):

- The session opens with ``agi_<name>: <value>`` lines ended by one blank line. FastAGI adds
  ``agi_network: yes`` and ``agi_network_script: <path of the agi:// URL>``.
- Every command is answered by one line ``200 result=<value>[ (<data>)][ endpos=<n>]…``;
  STREAM FILE / WAIT FOR DIGIT return ``0`` or the *decimal ASCII code* of the digit pressed, ``-1`` on
  hang-up or error, EXEC returns the application's own return value (``-2``: no such application).
- ``510 Invalid or unknown command``; ``511 Command Not Permitted on a dead channel or intercept routine``;
  ``520 Invalid command syntax.  Proper usage not available.`` on one line, or the multi-line form
  ``520-Invalid command syntax.  Proper usage follows:`` … ``520 End of proper usage.`` — and the usage
  text does not always end in a newline, so the terminator may be glued to the last usage line.
- With FastAGI, when the caller hangs up Asterisk writes a bare ``HANGUP`` line on the socket (unless the
  dialplan set ``AGISIGHUP=no``); it may arrive between commands or before the reply to a pending command.

Sources: https://docs.asterisk.org/Latest_API/API_Documentation/AGI_Commands/ (stream_file, wait_for_digit,
exec, get_variable), …/Dialplan_Applications/AGI (FastAGI, AGISIGHUP), and res_agi.c for the 511/520 wording.

Limits protect the server from a hostile or broken peer: a line longer than :data:`MAX_LINE_BYTES`, an
environment of more than :data:`MAX_ENV_LINES` lines, a key that is not ``agi_…``, or a usage reply longer
than :data:`MAX_USAGE_LINES` is an :class:`AGIProtocolError`, never an unbounded read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from callcenter.errors import CallcenterError

# res_agi.c reads commands into a 2048-byte buffer (AGI_BUF_LEN); env values are channel data (caller name,
# URL arguments). 8 KiB is four times the largest honest line.
MAX_LINE_BYTES = 8192
# About 25 fixed agi_ keys plus up to 128 agi_arg_N (res_agi.c MAX_ARGS).
MAX_ENV_LINES = 160
# The longest usage text in res_agi.c is under 40 lines.
MAX_USAGE_LINES = 200

HANGUP_LINE = "HANGUP"
USAGE_END = "520 End of proper usage."

_STATUS = re.compile(r"^(\d{3})([ -])(.*)$")
# result=<value>, then an optional "(data)" ended by end of line or the next key=, then key=value pairs.
_RESULT = re.compile(r"^result=(?P<result>\S*)(?: \((?P<data>.*?)\)(?=$| \w+=))?(?P<rest>.*)$")
_KEY_VALUE = re.compile(r"(\w+)=(\S*)")
_ARG_SAFE = re.compile(r"^[^\s\"\\]+$")


class AGIProtocolError(CallcenterError):
    """The peer broke the AGI protocol (malformed or oversized line, unexpected reply)."""


class AGIEnvironmentError(AGIProtocolError):
    """The ``agi_`` block is malformed, oversized, or the peer went away before its blank line."""


class AGIHangup(AGIProtocolError):
    """The call is gone: a ``HANGUP`` line, ``result=-1 (hangup)``, or the socket closed mid-command."""


class AGIDeadChannel(AGIHangup):
    """511: Asterisk refuses the command because the channel has hung up."""


class AGIInvalidCommand(AGIProtocolError):
    """510: Asterisk does not know the command (a bug on our side, or an older Asterisk)."""


class AGIUsageError(AGIProtocolError):
    """520: the command's arguments were wrong; ``usage`` holds Asterisk's explanation."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class AGICommandTimeout(AGIProtocolError):
    """No reply within the command timeout: the peer is stuck or gone without closing the socket."""


# ------------------------------------------------------------------ environment


def parse_env_line(line: str) -> tuple[str, str]:
    """``"agi_channel: PJSIP/1001-0001"`` → ``("agi_channel", "PJSIP/1001-0001")``; raises on anything else."""
    key, sep, value = line.partition(":")
    key = key.strip()
    # The common case without a regex (this runs ~25 times per call): agi_ + letters, digits, underscores.
    name = key[4:]
    if not (sep and key.startswith("agi_") and 0 < len(name) <= 64 and name.replace("_", "a").isalnum()
            and name.isascii()):
        raise AGIEnvironmentError(f"malformed AGI environment line {line[:80]!r} (expected 'agi_<name>: <value>')")
    return key, value.strip()


def parse_environment(block: bytes, max_lines: int = MAX_ENV_LINES) -> dict[str, str]:
    """The whole ``agi_`` block at once (up to and including its blank line), with the same limits as
    :class:`EnvironmentReader`: the FastAGI server receives it in one or two reads, so one pass is cheaper
    than a call per line."""
    fast = _environment_fast(block, max_lines)
    if fast is not None:
        return fast
    lines = block.split(b"\n")
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise AGIEnvironmentError("AGI environment is empty (blank line before any agi_ variable)")
    if len(lines) > max_lines:
        raise AGIEnvironmentError(f"AGI environment has more than {max_lines} lines")
    env: dict[str, str] = {}
    for raw in lines:
        if len(raw) > MAX_LINE_BYTES:
            raise AGIProtocolError(f"AGI line of {len(raw)} bytes exceeds the limit of {MAX_LINE_BYTES}")
        key, value = parse_env_line(raw.decode("utf-8", errors="replace").rstrip("\r"))
        env[key] = value
    return env


# One well-formed environment line: a bare agi_ key (the name rule of parse_env_line), a colon, the value.
_ENV_LINE = re.compile(r"^(agi_[A-Za-z0-9_]{1,64}):(.*)$", re.MULTILINE)


def _environment_fast(block: bytes, max_lines: int) -> dict[str, str] | None:
    """The usual block in one decode and one regex pass, or None when any line is not plainly well formed
    (then the line-by-line path gives the verdict and the exact error). It accepts only what that path
    accepts, with the same values: every line must match, and a block no longer than a line cannot hold an
    oversized one."""
    count = block.count(b"\n")
    if not block.endswith(b"\n") or count > max_lines or len(block) > MAX_LINE_BYTES:
        return None
    pairs = _ENV_LINE.findall(block.decode("utf-8", errors="replace"))
    if len(pairs) != count or not pairs:
        return None
    return {key: value.strip() for key, value in pairs}


@dataclass
class EnvironmentReader:
    """Feed the peer's first lines one at a time; ``done`` once the blank line that ends the block arrived."""

    max_lines: int = MAX_ENV_LINES
    env: dict[str, str] = field(default_factory=dict)
    done: bool = False
    lines: int = 0

    def feed(self, raw: bytes) -> bool:
        check_line_length(raw)
        line = decode_line(raw)
        if line == "":
            if not self.env:
                raise AGIEnvironmentError("AGI environment is empty (blank line before any agi_ variable)")
            self.done = True
            return True
        self.lines += 1
        if self.lines > self.max_lines:
            raise AGIEnvironmentError(f"AGI environment has more than {self.max_lines} lines")
        key, value = parse_env_line(line)
        self.env[key] = value
        return False


def check_line_length(raw: bytes) -> None:
    if len(raw) > MAX_LINE_BYTES:
        raise AGIProtocolError(f"AGI line of {len(raw)} bytes exceeds the limit of {MAX_LINE_BYTES}")


def decode_line(raw: bytes) -> str:
    """Asterisk passes channel data through as bytes; a caller name in GBK must not crash the server."""
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


# ------------------------------------------------------------------ commands


def quote_arg(arg: object) -> str:
    """One argument as res_agi.c's parse_args reads it: bare when safe, else double-quoted with escapes.

    A newline would end the command and start another one chosen by whoever controlled the value (a prompt
    name, a caller-supplied digit string): refused outright.
    """
    text = str(arg)
    if "\n" in text or "\r" in text or "\0" in text:
        raise AGIProtocolError(f"AGI argument {text[:40]!r} contains a line break")
    if _ARG_SAFE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_NAMES: set[str] = set()  # command names already checked (a handful, used on every call)


# Lines already formatted from string arguments (a script repeats the same prompts and applications); bounded,
# emptied when full. Only all-str arguments are stored: 1 == True == 1.0 would share a key but not a text.
_LINES: dict[tuple[str, tuple[object, ...]], bytes] = {}
_LINES_MAX = 4096


def format_command(name: str, *args: object) -> bytes:
    """``format_command("STREAM FILE", "zh-CN/greeting", "")`` → ``b'STREAM FILE zh-CN/greeting ""\\n'``."""
    key = (name, args)
    try:
        line = _LINES.get(key)
    except TypeError:  # an unhashable argument: formatted every time
        return _format_command(name, *args)
    if line is not None:
        return line
    encoded = _format_command(name, *args)
    if all(type(a) is str for a in args):
        if len(_LINES) >= _LINES_MAX:
            _LINES.clear()
        _LINES[key] = encoded
    return encoded


def _format_command(name: str, *args: object) -> bytes:
    if name not in _NAMES:
        if not re.fullmatch(r"[A-Z]+( [A-Z]+)*", name):
            raise AGIProtocolError(f"not an AGI command name: {name!r}")
        _NAMES.add(name)
    parts = [name, *(quote_arg(a) for a in args)]
    line = " ".join(parts) + "\n"
    if len(line.encode()) > 2048:  # res_agi.c AGI_BUF_LEN: Asterisk would truncate it
        raise AGIProtocolError(f"AGI command {name} is longer than Asterisk's 2048-byte buffer")
    return line.encode()


def app_args(*args: object) -> str:
    """EXEC's options string: application arguments joined by commas (``Dial(PJSIP/8001,15)``)."""
    out = []
    for a in args:
        text = str(a)
        if "," in text or "\n" in text:
            raise AGIProtocolError(f"application argument {text[:40]!r} contains a comma or line break")
        out.append(text)
    return ",".join(out)


# ------------------------------------------------------------------ replies


@dataclass(frozen=True, slots=True)
class Reply:
    """One parsed reply. ``result`` is the raw text after ``result=`` (may be empty, e.g. GET DATA timeout)."""

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    line: str = ""

    @property
    def value(self) -> int | None:
        try:
            return int(self.result)
        except ValueError:
            return None

    @property
    def digit(self) -> str:
        """The DTMF digit an ASCII-code result stands for (STREAM FILE, WAIT FOR DIGIT, EXEC BackgroundDetect);
        empty when the result is 0 (no digit) or not a digit's code."""
        v = self.value
        if v is None or v <= 0 or v > 127:
            return ""
        ch = chr(v)
        return ch if ch in "0123456789*#ABCD" else ""

    @property
    def failed(self) -> bool:
        """result=-1: error or hang-up, as every AGI command documents it."""
        return self.value == -1

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "result": self.result}
        if self.data is not None:
            out["data"] = self.data
        if self.endpos is not None:
            out["endpos"] = self.endpos
        return out


# Replies already parsed, by their raw line: a call's replies are mostly the same few lines ("200 result=0",
# "200 result=0 endpos=8000"), and Reply is frozen. Bounded, emptied when full; only replies without extra keys
# are stored, and they share one read-only empty mapping.
_REPLIES: dict[bytes, Reply] = {}
_REPLIES_MAX = 4096
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


def reply_200(raw: bytes) -> Reply:
    """One raw ``200 …`` line (with its newline) as a :class:`Reply`; what :meth:`ReplyReader.feed` gives it."""
    reply = _REPLIES.get(raw)
    if reply is not None:
        return reply
    check_line_length(raw)
    line = decode_line(raw)
    reply = parse_200(line, line[4:])
    if not reply.extra:
        if len(_REPLIES) >= _REPLIES_MAX:
            _REPLIES.clear()
        reply = _REPLIES[raw] = Reply(reply.code, reply.result, reply.data, reply.endpos, _NO_EXTRA, reply.line)
    return reply


def parse_200(line: str, rest: str) -> Reply:
    m = _RESULT.match(rest)
    if not m:
        raise AGIProtocolError(f"AGI 200 reply without result=: {line[:80]!r}")
    extra = dict(_KEY_VALUE.findall(m.group("rest") or ""))
    endpos_text = extra.pop("endpos", None)
    endpos = None
    if endpos_text is not None:
        try:
            endpos = int(endpos_text)
        except ValueError:
            raise AGIProtocolError(f"AGI reply with a non-numeric endpos: {line[:80]!r}") from None
    return Reply(200, m.group("result"), m.group("data"), endpos, extra, line)


@dataclass
class ReplyReader:
    """Assembles one reply from the lines after a command; notes any ``HANGUP`` line on the way.

    ``feed`` returns the :class:`Reply` once complete, ``None`` when it needs another line, and raises the
    typed error for 510 / 511 / 520. ``hung_up`` stays True once a ``HANGUP`` line was seen.
    """

    hung_up: bool = False
    _usage: list[str] | None = None

    def feed(self, raw: bytes) -> Reply | None:
        check_line_length(raw)
        line = decode_line(raw)
        if self._usage is not None:
            return self._feed_usage(line)
        if line.strip() == HANGUP_LINE:
            self.hung_up = True
            return None
        if line == "":
            return None  # stray blank lines (some proxies add CRLF pairs) carry nothing
        m = _STATUS.match(line)
        if not m:
            raise AGIProtocolError(f"unexpected line from Asterisk: {line[:80]!r}")
        code, sep, rest = int(m.group(1)), m.group(2), m.group(3)
        if code == 520 and sep == "-":
            self._usage = [rest]
            return None
        return self._final(code, rest, line)

    def _feed_usage(self, line: str) -> Reply | None:
        assert self._usage is not None
        if line.startswith("520 ") or line.endswith(USAGE_END):
            head = line[: -len(USAGE_END)] if line.endswith(USAGE_END) else ""
            if head:
                self._usage.append(head)
            usage = "\n".join(self._usage)
            self._usage = None
            raise AGIUsageError("Asterisk replied 520: invalid command syntax", usage)
        self._usage.append(line)
        if len(self._usage) > MAX_USAGE_LINES:
            raise AGIProtocolError(f"AGI usage reply longer than {MAX_USAGE_LINES} lines")
        return None

    def _final(self, code: int, rest: str, line: str) -> Reply | None:
        if code == 200:
            return parse_200(line, rest)
        if code == 100:  # "100 result=0 Trying..." precedes the real reply of some commands
            return None
        if code == 510:
            raise AGIInvalidCommand(f"Asterisk replied 510: {rest}")
        if code == 511:
            raise AGIDeadChannel(f"Asterisk replied 511: {rest}")
        if code == 520:
            raise AGIUsageError(f"Asterisk replied 520: {rest}", rest)
        raise AGIProtocolError(f"unknown AGI reply code {code}: {line[:80]!r}")
