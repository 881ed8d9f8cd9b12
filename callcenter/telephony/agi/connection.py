"""One FastAGI socket on asyncio: the environment block, then one command at a time with a timeout.

:class:`AGIConnection` is an :class:`asyncio.Protocol`: the event loop hands it bytes as they arrive, it splits
them into lines and feeds the codec (:mod:`.codec`), which does all parsing. A reply line resolves the pending
command's future directly from ``data_received``, so a command costs one task wake-up, with no reader task
and no stream buffer in between (bench/agi.py). The same callback reports a ``HANGUP`` line, or the socket
closing, the moment it arrives, even while no command is in flight — the caller may hang up while the script
waits on a timer, and the call must end then, not at the next command.

After a command timeout the reply stream can no longer be trusted (a late reply would be taken for the next
command's), so the connection is closed rather than reused.

Timeouts: a connection has one watched deadline (:mod:`.deadlines`, shared by all of a server's connections),
not a timer per command: a command only moves the deadline, and the watch, when it fires for an older one,
re-arms itself for the current one. A heap timer per command was a tenth of the server's CPU in bench/agi.py,
and one per connection still a twentieth.
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
    Reply,
    ReplyReader,
    format_command,
    parse_environment,
    reply_200,
)
from callcenter.telephony.agi.deadlines import Deadlines, deadlines_for

log = get_logger(__name__)

# The whole agi_ block is buffered before parsing; beyond this it is hostile (MAX_ENV_LINES full lines).
MAX_ENV_BYTES = MAX_ENV_LINES * 512
# asyncio runs a timer up to one clock tick before its time; a watchdog firing that close is on time.
_EARLY = time.get_clock_info("monotonic").resolution
# Deadlines are kept on this clock (a C call; the loop's time() is a Python method). On Linux it is the same
# CLOCK_MONOTONIC as the loop's, and only differences of it are ever used.
_now = time.perf_counter


class AGIConnection(asyncio.Protocol):
    """Commands and replies over one FastAGI socket."""

    # Per-connection state starts as these class attributes and becomes the instance's own when first set:
    # a call is a short connection, and 20 assignments per accept showed up in bench/agi.py.
    _loop: asyncio.AbstractEventLoop | None = None
    _transport: asyncio.Transport | None = None
    _deadlines: Deadlines | None = None
    _watch_tick: int | None = None  # the Deadlines tick this connection is watched for (None: not watched)
    _watch_at = 0.0  # when that tick comes (_now() clock)
    _deadline = 0.0  # when what is being waited for (the environment, or _pending) is overdue
    _pending_name = ""
    _pending_wait = 0.0
    _in_env = True  # the agi_ block is not complete yet
    _buffer = b""
    _env_waiter: asyncio.Future[dict[str, str]] | None = None
    _pending: asyncio.Future[Reply] | None = None
    _reader: ReplyReader | None = None  # made on the first line that is not a plain 200 reply
    _paused: asyncio.Future[None] | None = None
    hung_up = False
    closed = False
    last_ms = 0.0
    error: AGIProtocolError | None = None

    def __init__(
        self,
        *,
        command_timeout: float = 10.0,
        env_timeout: float | None = None,
        on_open: Callable[[AGIConnection], bool] | None = None,
        on_environment: Callable[[AGIConnection], None] | None = None,
        on_lost: Callable[[AGIConnection], None] | None = None,
        on_hangup: Callable[[str], None] | None = None,
        deadlines: Deadlines | None = None,
    ) -> None:
        """``on_open`` may refuse the connection (return False); ``on_environment`` runs once the ``agi_``
        block is in, ``on_lost`` when the socket is gone; ``env_timeout`` bounds the wait for the block.
        ``deadlines``: the server's shared timeouts (default: the loop's)."""
        self.command_timeout = command_timeout
        self.env_timeout = env_timeout
        self.on_open = on_open
        self.on_environment = on_environment
        self.on_lost = on_lost
        self.on_hangup = on_hangup
        if deadlines is not None:
            self._deadlines = deadlines
        self.env: dict[str, str] = {}

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._loop = loop = asyncio.get_running_loop()
        if self._deadlines is None:
            self._deadlines = deadlines_for(loop)
        if self.on_open is not None and not self.on_open(self):
            self.closed = True
            transport.close()
            return
        if self.env_timeout is not None:
            self._arm(_now(), self.env_timeout)

    # ------------------------------------------------------------------ the watchdog

    def _arm(self, now: float, wait: float) -> None:
        """What is waited for now is overdue ``wait`` seconds after ``now``; the timer moves only to fire earlier."""
        self._deadline = deadline = now + wait
        if self._watch_tick is None or self._watch_at > deadline:
            deadlines = self._deadlines
            assert deadlines is not None  # set by connection_made, which comes before any wait
            if self._watch_tick is not None:
                deadlines.forget(self, self._watch_tick)
            self._watch_tick = tick = deadlines.watch(self, deadline)
            self._watch_at = deadlines.fires_at(tick)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # asyncio.get_running_loop() costs a getpid() system call on Python 3.11; the loop is known after accept.
        return self._loop or asyncio.get_running_loop()

    def _watch(self) -> None:
        self._watch_tick = None
        waiting = self._in_env and self.env_timeout is not None and not self.closed
        if not waiting and self._pending is None:
            return  # nothing in flight: the next command arms it again
        if self._deadline - _now() > _EARLY:  # fired for an earlier command's deadline
            self._arm(self._deadline, 0.0)
        elif self._in_env:
            self._fail(AGIEnvironmentError(f"no complete AGI environment within {self.env_timeout:g} s"))
        elif self._pending is not None:
            self._time_out()

    def _disarm(self) -> None:
        if self._watch_tick is not None and self._deadlines is not None:
            self._deadlines.forget(self, self._watch_tick)
            self._watch_tick = None

    def data_received(self, data: bytes) -> None:
        if not self._buffer and not self._in_env and 0 <= data.find(b"\n") == len(data) - 1:
            self._line(data)  # the usual segment: one whole line (a reply), without the splitting loop below
            return
        buffer = self._buffer + data if self._buffer else data
        if self._in_env:
            rest = self._environment(buffer)
            if rest is None:
                return
            buffer = rest
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
        if self._in_env:
            self._in_env = False
            error = self.error or AGIHangup("Asterisk closed the AGI connection")
            self._resolve_env(AGIEnvironmentError(f"peer closed the connection inside the AGI environment: {error}"))
        self._mark_hung_up("socket_closed" if self.error is None else "protocol_error")
        if self._pending is not None:
            self._fail_pending(self.error or AGIHangup("Asterisk closed the AGI connection"))
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
        self._in_env = False
        self._buffer = b""
        self._resolve_env(None)
        return buffer[end + 2 :] if end >= 0 else buffer[1:]

    def _line(self, raw: bytes) -> bool:
        """Handle one complete line; False once the connection has been failed."""
        try:
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
        if parser is None and raw[:4] == b"200 ":
            reply: Reply | None = reply_200(raw)  # the common reply: what ReplyReader.feed gives a "200 " line
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
        if self._in_env:
            self._in_env = False
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
        if not self._in_env:
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
        future: asyncio.Future[Reply] = self._running_loop().create_future()
        self._pending = future
        self._reader = None
        started = _now()
        self._transport.write(line)
        if self._paused is not None:
            await self._paused
        wait = self.command_timeout if limit is None else limit
        self._pending_name, self._pending_wait = name, wait
        if self._pending is future:  # the socket may have closed while the write was paused
            self._arm(started, wait)
        try:
            return await future
        except asyncio.CancelledError:
            if self._pending is future:
                self._pending = None  # a late reply will be logged as unsolicited
            raise
        finally:
            self.last_ms = (_now() - started) * 1000.0

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
        if self._pending is not None:
            self._fail_pending(AGIHangup("AGI connection closed"))
        self._disarm()
