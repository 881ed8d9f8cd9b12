"""Classic AGI (``callcenter agi`` run by Asterisk on stdin/stdout) on pyst2, made safe for a service.

pyst2 is the project's AGI library and speaks the command set here, but three of its habits break a
long-running bridge, so :class:`ClassicAGI` wraps it instead of using ``asterisk.agi.AGI()`` as is:

- ``AGI.__init__`` installs a SIGHUP handler, which raises ``ValueError`` outside the main thread, and
  prints every line to stderr (Asterisk shows a classic AGI's stderr on its console). We build the object
  without it; the CLI installs SIGHUP on the event loop instead.
- ``get_result`` does ``int('')`` on FastAGI's bare ``HANGUP`` line, reports 511 as ``AGIUnknownError`` and,
  in a 520 usage reply whose terminator is glued to the last usage line (res_agi.c does not always end the
  usage text with a newline), keeps reading past the reply. At end of file ``readline()`` returns ``''``
  forever, so that loop never ends; and it treats the one-line ``520 Invalid command syntax.  Proper usage not
  available.`` as the start of a multi-line reply and waits for a terminator that never comes.
  :class:`_LineSource` feeds pyst2 clean lines: it drops ``HANGUP`` lines (noting the hang-up), drops
  ``100 Trying`` lines, splits a glued usage terminator, ends a one-line 520, bounds line length, and raises
  :class:`AGIHangup` at end of file.
- Its exceptions are translated to this package's typed errors so the channel sees one vocabulary.

:class:`ClassicTransport` presents the same ``execute`` coroutine as the FastAGI
:class:`~callcenter.telephony.agi.connection.AGIConnection` (pyst2 blocks, so each command runs in a
worker thread), which is what lets one conformance suite and one :class:`AGIChannel` serve both paths.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import IO, Any

from asterisk import agi as pyst2

from callcenter.telephony.agi.codec import (
    MAX_LINE_BYTES,
    USAGE_END,
    AGICommandTimeout,
    AGIDeadChannel,
    AGIEnvironmentError,
    AGIHangup,
    AGIInvalidCommand,
    AGIProtocolError,
    AGIUsageError,
    EnvironmentReader,
    Reply,
    quote_arg,
)


class _Silent:
    """A stderr that swallows pyst2's per-line debug prints."""

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass


class _LineSource:
    """The ``stdin`` pyst2 reads from: clean reply lines only (see the module docstring)."""

    def __init__(self, raw: IO[Any], on_hangup: Callable[[], None]) -> None:
        self._raw = raw
        self._on_hangup = on_hangup
        self._queued: list[str] = []

    def readline(self) -> str:
        while True:
            if self._queued:
                return self._queued.pop(0)
            line = self._raw.readline(MAX_LINE_BYTES + 2)
            if isinstance(line, bytes):
                line = line.decode("utf-8", errors="replace")
            if line == "":
                raise AGIHangup("Asterisk closed the AGI connection")
            if len(line) > MAX_LINE_BYTES or not line.endswith("\n"):
                raise AGIProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes or cut short")
            text = line.rstrip("\r\n")
            if text.strip() == "HANGUP":
                self._on_hangup()
                continue
            if text.startswith("100 "):  # "100 result=0 Trying..." precedes the real reply
                continue
            if text.endswith(USAGE_END) and not text.startswith("520 "):
                self._queued.append(USAGE_END + "\n")
                return text[: -len(USAGE_END)] + "\n"
            if text.startswith("520 ") and text != USAGE_END:
                # One-line 520: pyst2 would wait for a terminator that never comes; give it one.
                self._queued.append(USAGE_END + "\n")
            return line


class ClassicAGI(pyst2.AGI):
    """pyst2's AGI over any line streams, without its signal handler and stderr chatter."""

    def __init__(self, stdin: IO[Any], stdout: IO[Any]) -> None:  # no super().__init__: see the docstring
        self.hung_up = False
        self._raw_out = stdout
        self.stdin = _LineSource(stdin, self._note_hangup)
        self.stdout = _TextOut(stdout)
        self.stderr = _Silent()
        self._got_sighup = False
        self.env: dict[str, str] = {}

    def _note_hangup(self) -> None:
        self.hung_up = True

    def read_environment(self) -> dict[str, str]:
        """The agi_ block, parsed with the codec's limits (pyst2's own reader has none)."""
        env = EnvironmentReader()
        while not env.done:
            line = self.stdin._raw.readline(MAX_LINE_BYTES + 2)
            raw = line if isinstance(line, bytes) else line.encode()
            if not raw:
                raise AGIEnvironmentError("peer closed the connection inside the AGI environment")
            env.feed(raw)
        self.env = env.env
        return self.env

    def command(self, name: str, *args: object) -> Reply:
        """Run one command through pyst2's ``execute`` and translate its result and exceptions."""
        quoted = [quote_arg(a) for a in args]
        try:
            result = self.execute(name, *quoted)
        except pyst2.AGIResultHangup:
            raise AGIHangup(f"{name}: Asterisk reported a hang-up") from None
        except pyst2.AGIAppError:
            # pyst2 raises on result=-1 and drops the rest of the line (endpos is lost on this path).
            return Reply(200, "-1")
        except pyst2.AGIInvalidCommand as exc:
            raise AGIInvalidCommand(f"Asterisk replied 510: {exc}") from None
        except pyst2.AGIUsageError as exc:
            raise AGIUsageError("Asterisk replied 520: invalid command syntax", str(exc).strip()) from None
        except pyst2.AGIUnknownError as exc:
            code = exc.args[0] if exc.args else None
            if code == 511:
                raise AGIDeadChannel("Asterisk replied 511: dead channel") from None
            raise AGIProtocolError(f"unexpected AGI reply code {code!r}") from None
        except ValueError:
            raise AGIProtocolError(f"{name}: unparseable AGI reply") from None
        return _to_reply(result)


class _TextOut:
    """pyst2 writes ``str``; a socket file wants bytes."""

    def __init__(self, raw: IO[Any]) -> None:
        self._raw = raw
        self._binary = "b" in getattr(raw, "mode", "") or not hasattr(raw, "encoding")

    def write(self, text: str) -> None:
        self._raw.write(text.encode() if self._binary else text)

    def flush(self) -> None:
        self._raw.flush()


def _to_reply(result: dict[str, tuple[str, str]]) -> Reply:
    value, data = result.get("result", ("", ""))
    extra = {k: v for k, (v, _d) in result.items() if k not in {"result", "endpos"}}
    endpos = None
    if "endpos" in result:
        try:
            endpos = int(result["endpos"][0])
        except ValueError:
            raise AGIProtocolError(f"non-numeric endpos {result['endpos'][0]!r}") from None
    return Reply(200, value, data or None, endpos, extra)


class ClassicTransport:
    """The asyncio face of :class:`ClassicAGI`: same ``execute``/``close`` as the FastAGI connection."""

    def __init__(
        self,
        stdin: IO[Any],
        stdout: IO[Any],
        *,
        command_timeout: float = 10.0,
        on_hangup: Callable[[str], None] | None = None,
    ) -> None:
        self.agi = ClassicAGI(stdin, stdout)
        self.command_timeout = command_timeout
        self.on_hangup = on_hangup
        self.env: dict[str, str] = {}
        self.closed = False
        self.last_ms = 0.0
        self._lock = asyncio.Lock()
        self._reported = False

    @property
    def hung_up(self) -> bool:
        return self.agi.hung_up

    def mark_hung_up(self, why: str = "sighup") -> None:
        """SIGHUP from Asterisk (classic AGI) or a HANGUP line seen by pyst2's reader."""
        self.agi.hung_up = True
        self._report(why)

    def _report(self, why: str) -> None:
        if not self._reported and self.on_hangup is not None:
            self._reported = True
            self.on_hangup(why)

    async def read_environment(self, limit: float = 5.0) -> dict[str, str]:
        try:
            self.env = await asyncio.wait_for(asyncio.to_thread(self.agi.read_environment), limit)
        except TimeoutError:
            raise AGIEnvironmentError(f"no complete AGI environment within {limit:g} s") from None
        return self.env

    def start(self) -> None:
        """Nothing to start: pyst2 reads replies inside each command."""

    async def execute(self, name: str, *args: object, limit: float | None = None) -> Reply:
        async with self._lock:
            if self.closed:
                raise AGIHangup("AGI connection is closed")
            started = time.perf_counter()
            limit = self.command_timeout if limit is None else limit
            try:
                reply = await asyncio.wait_for(asyncio.to_thread(self.agi.command, name, *args), limit)
            except TimeoutError:
                # The worker thread stays blocked on the read until the peer closes; the transport is unusable.
                self.closed = True
                raise AGICommandTimeout(f"no reply to {name} within {limit:g} s") from None
            except AGIHangup:
                self.mark_hung_up("socket_closed")
                raise
            finally:
                self.last_ms = (time.perf_counter() - started) * 1000.0
            if self.agi.hung_up:
                self._report("hangup")
            return reply

    async def close(self) -> None:
        self.closed = True
