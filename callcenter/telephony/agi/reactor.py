"""The FastAGI listener's socket layer on Linux: one epoll set for every call's socket, inside the asyncio loop.

Why not ``loop.create_server`` (bench/agi.py, README "FastAGI"): a FastAGI call is a short TCP connection that
exchanges a handful of small lines, so per call the stock selector transport's fixed costs dominate: a task to
finish each accept, a Python selector key and two ``epoll_ctl`` per register / unregister, a handle and a
callback per readable event. Measured on the benchmark's minimal script, asyncio's transport layer was most of
the server's CPU. Here the loop watches just two file descriptors, the listening socket and one
``select.epoll`` set that holds every call's socket; when that set is ready, one ``epoll.poll`` returns all
the sockets with data and each is read and handed to its protocol in one pass. The protocol (an
:class:`asyncio.Protocol`, e.g. :class:`callcenter.telephony.agi.connection.AGIConnection`) sees the usual
``connection_made`` / ``data_received`` / ``eof_received`` / ``connection_lost`` / ``pause_writing`` calls with
asyncio's ordering: ``connection_lost`` always comes later from the loop, never from inside ``close()``.

Semantics kept from asyncio's transports: ``write`` sends at once and buffers only what the kernel did not take
(then waits for ``EPOLLOUT``), with ``pause_writing`` above the high-water mark; ``close`` flushes the buffer
first, ``abort`` does not; an exception in a protocol callback closes that connection only and is logged; an
accept that fails for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) is logged and accepting
pauses for a second, as asyncio does, instead of spinning. Elsewhere than Linux (no ``select.epoll``),
:func:`listen` falls back to ``loop.create_server`` with the same protocol.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import select
import socket
from _socket import socket as _bare_socket
from collections.abc import Callable
from typing import Any

from callcenter.logs import get_logger

log = get_logger(__name__)

_IN = getattr(select, "EPOLLIN", 0x001)
_OUT = getattr(select, "EPOLLOUT", 0x004)
# epoll reports these whether asked or not; a socket that wants neither reading nor writing leaves the set.
_BROKEN = getattr(select, "EPOLLERR", 0x008) | getattr(select, "EPOLLHUP", 0x010)

READ_SIZE = 65536
HIGH_WATER = 64 * 1024
# Accept failures that mean "out of descriptors or memory": retrying at once would spin.
_ACCEPT_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
ACCEPT_PAUSE = 1.0

ProtocolFactory = Callable[[], asyncio.Protocol]


class SocketTransport(asyncio.Transport):
    """One accepted socket; its readiness comes from its :class:`EpollServer`'s epoll set."""

    # State starts as these class attributes and becomes the instance's own when it changes (one accept per
    # call: fewer assignments and allocations per connection). get_extra_info is answered from the socket,
    # so asyncio's ``_extra`` dict is never made.
    _buffer: bytearray | bytes = b""  # what the kernel did not take yet (a bytearray once there is any)
    _closing = False  # close() or abort() was called, or the connection failed
    _gone = False  # out of the epoll set; connection_lost is scheduled
    _reading = True
    _eof = False  # the peer closed its side: reading cannot resume
    _mask = _IN  # what the epoll set watches for this socket (0: not in the set)
    _paused = False  # the protocol was told pause_writing
    _high = HIGH_WATER
    _low = HIGH_WATER // 4

    def __init__(self, server: EpollServer, sock: socket.socket, protocol: asyncio.Protocol) -> None:
        self._server = server
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol

    # ------------------------------------------------------------------ asyncio.BaseTransport

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        try:
            if name == "peername":
                return self._sock.getpeername()
            if name == "sockname":
                return self._sock.getsockname()
        except OSError:
            return default
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading; flush what is buffered, then close (``connection_lost(None)`` follows from the loop)."""
        if self._closing:
            return
        self._closing = True
        if self._buffer:
            self._watch(_OUT)
        else:
            self._finish(None)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    # ------------------------------------------------------------------ asyncio.ReadTransport

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        if self._reading and not self._closing:
            self._reading = False
            self._watch(_OUT if self._buffer else 0)

    def resume_reading(self) -> None:
        if not self._reading and not self._closing and not self._eof:
            self._reading = True
            self._watch(_IN | (_OUT if self._buffer else 0))

    # ------------------------------------------------------------------ asyncio.WriteTransport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return  # asyncio's transports drop writes after close() as well
        if not self._buffer:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fail(exc)
                return
            if sent == len(data):
                return
            self._buffer = bytearray(memoryview(data)[sent:])
            self._watch((_IN if self._reading else 0) | _OUT)
        else:
            self._buffer += data
        if not self._paused and len(self._buffer) > self._high:
            self._paused = True
            self._call(self._protocol.pause_writing)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("a FastAGI connection is never half-closed")

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        high = HIGH_WATER if high is None else high
        low = high // 4 if low is None else low
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        if not self._paused and len(self._buffer) > high:
            self._paused = True
            self._call(self._protocol.pause_writing)

    def abort(self) -> None:
        """Close at once; buffered data is dropped."""
        self._buffer = b""
        self._closing = True
        self._finish(None)

    # ------------------------------------------------------------------ readiness, from EpollServer

    def _read_ready(self) -> None:
        try:
            data = self._sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        if data:
            self._protocol.data_received(data)
            return
        # The peer closed its side. A protocol that returns True from eof_received keeps writing (asyncio's rule).
        self._reading = False
        self._eof = True
        if self._protocol.eof_received():
            self._watch(_OUT if self._buffer else 0)
        else:
            self.close()

    def _write_ready(self) -> None:
        if not self._buffer:
            return
        try:
            sent = self._sock.send(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        del self._buffer[:sent]  # type: ignore[union-attr]  # non-empty: a bytearray
        if self._paused and len(self._buffer) <= self._low:
            self._paused = False
            self._call(self._protocol.resume_writing)
        if self._buffer:
            return
        if self._closing:
            self._finish(None)
        else:
            self._watch(_IN if self._reading else 0)

    # ------------------------------------------------------------------ ending

    def _watch(self, events: int) -> None:
        if not self._gone and events != self._mask:
            self._server._watch(self._fd, self._mask, events)
            self._mask = events

    def _fail(self, exc: BaseException | None) -> None:
        """The socket or the protocol failed: drop the buffer, close, and report ``exc`` to connection_lost."""
        self._buffer = b""
        self._closing = True
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        if self._gone:
            return
        self._gone = True
        self._server._forget(self._fd)
        # Closing the socket takes it out of the epoll set (no epoll_ctl needed). Its descriptor number may be
        # reused by the next accept at once: _forget has already dropped it from the map.
        self._sock.close()
        # Like asyncio: connection_lost runs from the loop, after whatever called close() has returned.
        self._server._lost_soon(self, exc)

    def _lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)  # type: ignore[arg-type]
        except Exception:
            log.exception("agi.reactor.connection_lost_failed")
        finally:
            self._server._closed_one()

    def _call(self, callback: Callable[[], object]) -> None:
        try:
            callback()
        except Exception:
            log.exception("agi.reactor.protocol_failed", callback=getattr(callback, "__name__", ""))


class EpollServer:
    """A listening socket whose accepted connections share one epoll set (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sockets: list[socket.socket], factory: ProtocolFactory,
                 backlog: int) -> None:
        self._loop = loop
        self.sockets = sockets
        self._factory = factory
        self._backlog = backlog
        self._epoll = select.epoll()
        self._transports: dict[int, SocketTransport] = {}
        self._open = 0  # transports whose connection_lost has not run yet
        self._serving = False  # accepting now (False while paused for lack of descriptors, or after close)
        self._closed = False  # close() was called
        self._all_closed: asyncio.Future[None] | None = None
        self._resume: asyncio.TimerHandle | None = None
        # Connections whose connection_lost is due, each with the context of the code that closed it (what
        # call_soon would keep): one loop callback reports them all, instead of a handle per connection.
        self._lost: list[tuple[SocketTransport, BaseException | None, contextvars.Context]] = []
        loop.add_reader(self._epoll.fileno(), self._ready)
        self._start_accepting()

    def _start_accepting(self) -> None:
        self._resume = None
        self._serving = True
        for sock in self.sockets:
            # The address family, type and protocol as plain ints: socket.socket's properties build enums.
            family, kind, proto = int(sock.family), int(sock.type), sock.proto
            self._loop.add_reader(sock.fileno(), self._accept, sock, family, kind, proto)

    def _stop_accepting(self) -> None:
        self._serving = False
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())

    def is_serving(self) -> bool:
        return self._serving

    @property
    def connections(self) -> int:
        """Connections accepted whose ``connection_lost`` has not run yet."""
        return self._open

    def _accept(self, listening: socket.socket, family: int, kind: int, proto: int) -> None:
        for _ in range(self._backlog):  # at most one backlog per readiness, so others get the loop too
            try:
                # _accept() and the C socket type: socket.socket's accept() and its Python-level wrapper
                # (enum-converting family / type properties, io-ref counting on close) cost more than the
                # rest of a short FastAGI call's socket handling together (bench/agi.py).
                fd, _ = listening._accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in _ACCEPT_EXHAUSTED:
                    log.error("agi.accept_paused", error=str(exc), seconds=ACCEPT_PAUSE,
                              message="cannot accept FastAGI connections (out of descriptors or memory)")
                    self._stop_accepting()
                    self._resume = self._loop.call_later(ACCEPT_PAUSE, self._start_accepting)
                else:
                    log.error("agi.accept_failed", error=str(exc))
                return
            self._connected(_bare_socket(family, kind, proto, fd), family)

    def _connected(self, sock: _bare_socket, family: int) -> None:
        sock.setblocking(False)
        if family == socket.AF_INET or family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # replies are single short lines
        try:
            protocol = self._factory()
        except Exception:
            log.exception("agi.reactor.protocol_factory_failed")
            sock.close()
            return
        transport = SocketTransport(self, sock, protocol)
        self._transports[transport._fd] = transport
        self._open += 1
        self._epoll.register(transport._fd, _IN)
        try:
            protocol.connection_made(transport)
        except Exception as exc:
            log.exception("agi.reactor.protocol_failed", callback="connection_made")
            transport._fail(exc)

    def _ready(self) -> None:
        transports = self._transports
        for fd, events in self._epoll.poll(0):
            transport = transports.get(fd)
            if transport is None:
                continue  # closed earlier in this same batch
            try:
                if events & _OUT:
                    transport._write_ready()
                if transport._gone:
                    continue
                if transport._reading and events & (_IN | _BROKEN):
                    transport._read_ready()  # recv reports the error or the end of the stream
                elif events & _BROKEN:
                    transport._fail(ConnectionResetError("FastAGI peer went away while the socket was not read"))
            except Exception as exc:
                log.exception("agi.reactor.protocol_failed", callback="data_received")
                transport._fail(exc)

    def _lost_soon(self, transport: SocketTransport, exc: BaseException | None) -> None:
        if not self._lost:
            self._loop.call_soon(self._report_lost)
        self._lost.append((transport, exc, contextvars.copy_context()))

    def _report_lost(self) -> None:
        lost, self._lost = self._lost, []
        for transport, exc, context in lost:
            context.run(transport._lost, exc)

    def _watch(self, fd: int, was: int, events: int) -> None:
        if not events:
            self._epoll.unregister(fd)
        elif not was:
            self._epoll.register(fd, events)
        else:
            self._epoll.modify(fd, events)

    def _forget(self, fd: int) -> None:
        self._transports.pop(fd, None)

    def _closed_one(self) -> None:
        self._open -= 1
        if self._open == 0 and self._closed:
            self._release()

    def close(self) -> None:
        """Stop listening. Open connections go on until their protocols close them (asyncio's Server rule)."""
        self._closed = True
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if self.sockets:
            if self._serving:
                self._stop_accepting()
            for sock in self.sockets:
                sock.close()
            self.sockets = []
        if self._open == 0:
            self._release()

    def _release(self) -> None:
        if not self._epoll.closed:
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
        if self._all_closed is not None and not self._all_closed.done():
            self._all_closed.set_result(None)

    async def wait_closed(self) -> None:
        """Until :meth:`close` was called and every connection's ``connection_lost`` has run."""
        if self._epoll.closed:
            return
        if self._all_closed is None:
            self._all_closed = self._loop.create_future()
        await self._all_closed


def _bind(host: str | None, port: int, backlog: int) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to, as ``loop.create_server`` makes them."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[Any, ...]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL and len(infos) > 1:
                    # That address family is not enabled here (e.g. ::1 without IPv6): skip it, as asyncio does.
                    sockets.pop().close()
                    continue
                raise OSError(exc.errno, f"cannot listen for FastAGI on {address!r}: {exc.strerror}") from None
            sock.listen(backlog)
            sock.setblocking(False)
        if not sockets:
            raise OSError(errno.EADDRNOTAVAIL, f"cannot listen for FastAGI on {host!r}: no usable address")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def listen(factory: ProtocolFactory, host: str | None, port: int, *, backlog: int) -> Any:
    """Listen on ``host:port``: an :class:`EpollServer` on Linux, ``loop.create_server`` elsewhere. Both have
    ``sockets``, ``close()`` and ``wait_closed()``."""
    loop = asyncio.get_running_loop()
    if not hasattr(select, "epoll"):
        return await loop.create_server(factory, host, port, backlog=backlog)
    sockets = await loop.run_in_executor(None, _bind, host, port, backlog)
    return EpollServer(loop, sockets, factory, backlog)
