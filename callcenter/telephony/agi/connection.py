"""One FastAGI socket on asyncio: the environment block, then one command at a time with a timeout.

:class:`AGIConnection` is an :class:`asyncio.Protocol`: the event loop hands it bytes as they arrive, it splits
them into lines and feeds the codec (:mod:`.codec`), which does all parsing. A reply line resolves the pending
command's future directly from ``data_received``, so a command costs one task wake-up, with no reader task
and no stream buffer in between (bench/agi.py). The same callback reports a ``HANGUP`` line, or the socket
closing, the moment it arrives, even while no command is in flight — the caller may hang up while the script
waits on a timer, and the call must end then, not at the next command.

After a command timeout the reply stream can no longer be trusted (a late reply would be taken for the next
command's), so the connection is closed rather than reused.

Timeouts use one watchdog timer per connection, not a timer per command: a command only moves the deadline,
and the timer, when it fires early for an older deadline, re-arms itself for the current one. Creating and
cancelling a heap timer for each of a call's commands was a tenth of the server's CPU in bench/agi.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from callcenter.logs import get_logger
from callcenter.telephony.agi.codec import (
    MAX_ENV_LINES,
    MAX_LINE_BYTES,
    AGICommandTimeout,
    AGIEnvironmentError,
    AGIHangup,
    AGIProtocolError,
    EnvironmentReader,
    Reply,
    ReplyReader,
    check_line_length,
    decode_line,
    format_command,
    parse_200,
    parse_environment,
)

log = get_logger(__name__)

# The whole agi_ block is buffered before parsing; beyond this it is hostile (MAX_ENV_LINES full lines).
MAX_ENV_BYTES = MAX_ENV_LINES * 512
# asyncio runs a timer up to one clock tick before its time; a watchdog firing that close is on time.
_EARLY = time.get_clock_info("monotonic").resolution


class AGIConnection(asyncio.Protocol):
    """Commands and replies over one FastAGI socket."""

    def __init__(
        self,
        *,
        command_timeout: float = 10.0,
        env_timeout: float | None = None,
        on_open: Callable[[AGIConnection], bool] | None = None,
        on_environment: Callable[[AGIConnection], None] | None = None,
        on_lost: Callable[[AGIConnection], None] | None = None,
        on_hangup: Callable[[str], None] | None = None,
    ) -> None:
        """``on_open`` may refuse the connection (return False); ``on_environment`` runs once the ``agi_``
        block is in, ``on_lost`` when the socket is gone; ``env_timeout`` bounds the wait for the block."""
        self.command_timeout = command_timeout
        self.env_timeout = env_timeout
        self.on_open = on_open
        self.on_environment = on_environment
        self.on_lost = on_lost
        self.on_hangup = on_hangup
        self._watchdog: asyncio.TimerHandle | None = None
        self._watch_at = 0.0  # when the armed watchdog fires
        self._deadline = 0.0  # when what is being waited for (the environment, or _pending) is overdue
        self._pending_name = ""
        self._pending_wait = 0.0
        self.env: dict[str, str] = {}
        self.hung_up = False
        self.closed = False
        self.last_ms = 0.0
        self.error: AGIProtocolError | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._env_reader: EnvironmentReader | None = EnvironmentReader()
        self._env_waiter: asyncio.Future[dict[str, str]] | None = None
        self._pending: asyncio.Future[Reply] | None = None
        self._reader: ReplyReader | None = None  # made on the first line that is not a plain 200 reply
        self._paused: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self.on_open is not None and not self.on_open(self):
            self.closed = True
            transport.close()
            return
        if self.env_timeout is not None:
            self._arm(asyncio.get_running_loop(), self.env_timeout)

    # ------------------------------------------------------------------ the watchdog

    def _arm(self, loop: asyncio.AbstractEventLoop, wait: float) -> None:
        """What is waited for now is overdue ``wait`` seconds from now; the timer moves only to fire earlier."""
        self._deadline = deadline = loop.time() + wait
        if self._watchdog is None or self._watch_at > deadline:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watch_at = deadline
            self._watchdog = loop.call_at(deadline, self._watch)

    def _watch(self) -> None:
        self._watchdog = None
        waiting = self._env_reader is not None and self.env_timeout is not None and not self.closed
        if not waiting and self._pending is None:
            return  # nothing in flight: the next command arms it again
        loop = asyncio.get_running_loop()
        if self._deadline - loop.time() > _EARLY:  # fired for an earlier command's deadline
            self._watch_at = self._deadline
            self._watchdog = loop.call_at(self._deadline, self._watch)
        elif self._env_reader is not None:
            self._fail(AGIEnvironmentError(f"no complete AGI environment within {self.env_timeout:g} s"))
        elif self._pending is not None:
            self._time_out()

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        if self._env_reader is not None:
            buffer = self._environment(buffer)
            if buffer is None:
                return
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if not self._line(buffer[start : end + 1]):
                self._buffer = b""
                return
            start = end + 1
        rest = buffer[start:]
        if len(rest) > MAX_LINE_BYTES:
            self._fail(AGIProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes"))
            rest = b""
        self._buffer = rest

    def eof_received(self) -> bool | None:
        return None  # close the transport: Asterisk never half-closes a live AGI session

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        error = self.error or AGIHangup("Asterisk closed the AGI connection")
        if self._env_reader is not None:
            self._env_reader = None
            self._resolve_env(AGIEnvironmentError(f"peer closed the connection inside the AGI environment: {error}"))
        self._mark_hung_up("socket_closed" if self.error is None else "protocol_error")
        self._fail_pending(error)
        self._disarm()
        if self._paused is not None and not self._paused.done():
            self._paused.set_result(None)
        if self.on_lost is not None:
            self.on_lost(self)

    def pause_writing(self) -> None:
        self._paused = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._paused is not None and not self._paused.done():
            self._paused.set_result(None)
        self._paused = None

    # ------------------------------------------------------------------ lines

    def _environment(self, buffer: bytes) -> bytes | None:
        """Parse the ``agi_`` block once its blank line is in; returns the bytes after it (None: wait/failed)."""
        end = buffer.find(b"\n\n")
        if end < 0:
            if buffer.startswith(b"\n"):
                end = -1  # a blank first line: an empty environment, refused by the codec
            else:
                if len(buffer) > MAX_ENV_BYTES:
                    self._fail(AGIEnvironmentError(f"AGI environment larger than {MAX_ENV_BYTES} bytes"))
                    return None
                self._buffer = buffer
                return None
        try:
            self.env = parse_environment(buffer[: end + 1] if end >= 0 else b"")
        except AGIProtocolError as exc:
            self._fail(exc)
            return None
        self._env_reader = None
        self._buffer = b""
        self._resolve_env(None)
        return buffer[end + 2 :] if end >= 0 else buffer[1:]

    def _line(self, raw: bytes) -> bool:
        """Handle one complete line; False once the connection has been failed."""
        try:
            if self._env_reader is not None:
                if self._env_reader.feed(raw):
                    self.env = self._env_reader.env
                    self._env_reader = None
                    self._resolve_env(None)
                return True
            self._dispatch(raw)
            return True
        except AGIProtocolError as exc:
            self._fail(exc)
            return False

    def _dispatch(self, raw: bytes) -> None:
        if self._pending is None:
            # Nothing asked: only an asynchronous HANGUP is legitimate here.
            idle = ReplyReader()
            if idle.feed(raw) is not None or not idle.hung_up:
                log.warning("agi.unsolicited_line", line=raw[:80].decode("utf-8", "replace"))
            if idle.hung_up:
                self._mark_hung_up("hangup")
            return
        future = self._pending
        parser = self._reader
        if parser is None and raw.startswith(b"200 "):
            # The common reply, straight to parse_200: what ReplyReader.feed does for a "200 " line.
            check_line_length(raw)
            line = decode_line(raw)
            reply: Reply | None = parse_200(line, line[4:])
        else:
            if parser is None:
                parser = self._reader = ReplyReader()
            try:
                reply = parser.feed(raw)
            except AGIProtocolError as exc:
                if type(exc) is AGIProtocolError:
                    raise  # a malformed reply: the stream is out of step, the whole connection is failed
                self._pending = None
                if not future.done():
                    future.set_exception(exc)
                return
            finally:
                if parser.hung_up:
                    self._mark_hung_up("hangup")
        if reply is not None:
            self._pending = None
            if not future.done():
                future.set_result(reply)

    def _fail(self, exc: AGIProtocolError) -> None:
        """A hostile or broken peer: log, fail whatever waits, close."""
        if self.error is None:
            self.error = exc
            log.warning("agi.protocol_error", error=str(exc))
        if self._env_reader is not None:
            self._env_reader = None
            self._resolve_env(exc)
        self._fail_pending(exc)
        if self._transport is not None:
            self._transport.close()

    def _resolve_env(self, error: BaseException | None) -> None:
        if error is not None and self.error is None and isinstance(error, AGIProtocolError):
            self.error = error
        if self._env_waiter is not None and not self._env_waiter.done():
            if error is None:
                self._env_waiter.set_result(self.env)
            else:
                self._env_waiter.set_exception(error)
        if error is None and self.on_environment is not None:
            self.on_environment(self)

    def _mark_hung_up(self, why: str) -> None:
        if self.hung_up:
            return
        self.hung_up = True
        if self.on_hangup is not None:
            try:
                self.on_hangup(why)
            except Exception:  # a faulty listener must not break the connection
                log.exception("agi.on_hangup_failed")

    def _fail_pending(self, error: BaseException) -> None:
        if self._pending is not None:
            future = self._pending
            self._pending = None
            if not future.done():
                future.set_exception(error)

    # ------------------------------------------------------------------ environment

    async def read_environment(self, limit: float = 5.0) -> dict[str, str]:
        """The ``agi_`` block (once complete); raises :class:`AGIEnvironmentError` on a bad, huge or unfinished
        block. The server does not need this (it is called back by ``on_environment``); tests and tools do."""
        if self._env_reader is None:
            if self.error is not None:
                raise self.error
            return self.env
        self._env_waiter = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self._env_waiter, limit)
        except TimeoutError:
            await self.close()
            raise AGIEnvironmentError(f"no complete AGI environment within {limit:g} s") from None

    def start(self) -> None:
        """Nothing to start: the event loop delivers data as it arrives (kept for the transports' shared API)."""

    # ------------------------------------------------------------------ commands

    async def execute(self, name: str, *args: object, limit: float | None = None) -> Reply:
        """Send one command and return its reply; raises the codec's typed errors (510/511/520, hang-up,
        timeout). One command at a time (the call's worker serialises them). ``last_ms``: its round trip."""
        line = format_command(name, *args)
        if self.closed or self._transport is None or self._transport.is_closing():
            raise AGIHangup("AGI connection is closed")
        if self._pending is not None:
            raise AGIProtocolError(f"{name}: another AGI command is still waiting for its reply")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        self._pending = future
        self._reader = None
        started = time.perf_counter()
        self._transport.write(line)
        if self._paused is not None:
            await self._paused
        wait = self.command_timeout if limit is None else limit
        self._pending_name, self._pending_wait = name, wait
        if self._pending is future:  # the socket may have closed while the write was paused
            self._arm(loop, wait)
        try:
            return await future
        except asyncio.CancelledError:
            if self._pending is future:
                self._pending = None  # a late reply will be logged as unsolicited
            raise
        finally:
            self.last_ms = (time.perf_counter() - started) * 1000.0

    def _time_out(self) -> None:
        future = self._pending
        if future is None:
            return
        self._pending = None
        if not future.done():
            future.set_exception(AGICommandTimeout(f"no reply to {self._pending_name} within {self._pending_wait:g} s"))
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    async def close(self) -> None:
        """Close the socket (buffered output is still flushed by the transport); safe to call twice."""
        self.closed = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        self._fail_pending(AGIHangup("AGI connection closed"))
        self._disarm()
