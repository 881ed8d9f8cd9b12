"""The FastAGI listener's socket layer (``callcenter/telephony/agi/reactor.py``) over real loopback TCP, driven by a
plain recording :class:`asyncio.Protocol` rather than AGI: asyncio's transport rules (callback order,
``connection_lost`` from the loop, flow control, ``close`` flushing and ``abort`` dropping), failures kept to one
connection, the listener's close / accept-exhaustion behaviour, and the fallback to ``loop.create_server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import select
import socket
import struct
import types
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from callcenter.telephony.agi import reactor
from callcenter.telephony.agi.reactor import EpollServer, SocketTransport, listen

HOST = "127.0.0.1"
BIG = 8 * 1024 * 1024  # far more than loopback's socket buffers take from a peer that does not read


class Recording(asyncio.Protocol):
    """Records every callback it gets, in order, into its own list and its server's shared timeline."""

    def __init__(
        self,
        served: Served,
        index: int,
        *,
        echo: bool = False,
        keep_open: bool = False,
        fail_on_data: bytes | None = None,
        fail_on_made: bool = False,
        fail_on_lost: bool = False,
    ) -> None:
        self.served = served
        self.index = index
        self.echo = echo
        self.keep_open = keep_open
        self.fail_on_data = fail_on_data
        self.fail_on_made = fail_on_made
        self.fail_on_lost = fail_on_lost
        self.calls: list[str] = []
        self.data = bytearray()
        self.transport: Any = None
        self.lost_exc: BaseException | None = None
        self.raised: BaseException | None = None

    def _note(self, name: str) -> None:
        self.calls.append(name)
        self.served.timeline.append(f"{name} {self.index}")
        self.served.changed.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._note("connection_made")
        if self.fail_on_made:
            self.raised = RuntimeError("connection_made failed")
            raise self.raised

    def data_received(self, data: bytes) -> None:
        self.data += data
        self._note("data_received")
        if self.fail_on_data is not None and self.fail_on_data in self.data:
            self.raised = RuntimeError("data_received failed")
            raise self.raised
        if self.echo:
            self.transport.write(data)

    def eof_received(self) -> bool:
        self._note("eof_received")
        return self.keep_open

    def pause_writing(self) -> None:
        self._note("pause_writing")

    def resume_writing(self) -> None:
        self._note("resume_writing")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_exc = exc
        self._note("connection_lost")
        if self.fail_on_lost:
            raise RuntimeError("connection_lost failed")

    @property
    def lost(self) -> bool:
        return "connection_lost" in self.calls


class Served:
    """The protocol factory handed to ``listen``: every protocol it made, in connection order.

    ``options`` apply to every connection; ``first`` overrides them for the first connection only.
    """

    def __init__(self, first: dict[str, Any] | None = None, **options: Any) -> None:
        self.options = options
        self.first = first or {}
        self.protocols: list[Recording] = []
        self.timeline: list[str] = []
        self.changed = asyncio.Event()

    def __call__(self) -> Recording:
        options = {**self.options, **self.first} if not self.protocols else self.options
        protocol = Recording(self, len(self.protocols), **options)
        self.protocols.append(protocol)
        return protocol

    async def until(self, predicate: Callable[[], bool], limit: float = 5.0) -> None:
        """Until ``predicate()`` holds after some protocol callback (bounded by ``limit`` seconds)."""
        async with asyncio.timeout(limit):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def made(self, index: int = 0) -> Recording:
        """The ``index``-th connection's protocol, once its ``connection_made`` ran."""
        await self.until(lambda: len(self.protocols) > index and "connection_made" in self.protocols[index].calls)
        return self.protocols[index]


@pytest.fixture(autouse=True)
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Whatever reaches the loop's exception handler: nothing may raise out of a reactor callback."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert errors == []


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    """Start listeners on 127.0.0.1, port 0; each is closed and waited for (bounded) after the test."""
    servers: list[Any] = []

    async def start(factory: Callable[[], asyncio.Protocol], host: str = HOST, backlog: int = 128) -> Any:
        server = await listen(factory, host, 0, backlog=backlog)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    async with asyncio.timeout(5):
        for server in servers:
            await server.wait_closed()


def _port(server: Any) -> int:
    return server.sockets[0].getsockname()[1]


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def _client(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        yield reader, writer
    finally:
        await _close(writer)


@contextlib.asynccontextmanager
async def _raw_client(port: int, rcvbuf: int | None = None) -> AsyncIterator[socket.socket]:
    """A plain non-blocking socket as the peer: it reads only when the test says so."""
    sock = socket.socket()
    try:
        sock.setblocking(False)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting: sets the window
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
        yield sock
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def _slow_reader(serve) -> AsyncIterator[tuple[Served, Any, socket.socket, Recording]]:
    """A served connection whose peer reads only when the test says so, with a small receive window."""
    served = Served()
    server = await serve(served)
    async with _raw_client(_port(server), rcvbuf=64 * 1024) as peer:
        yield served, server, peer, await served.made()


async def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    got = bytearray()
    async with asyncio.timeout(5):
        while len(got) < size:
            chunk = await loop.sock_recv(sock, min(size - len(got), 1 << 20))
            assert chunk, f"EOF after {len(got)} of {size} bytes"
            got += chunk
    return bytes(got)


async def _recv_until_eof(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the peer gets until EOF, and whether the stream ended in a reset instead."""
    loop = asyncio.get_running_loop()
    got = bytearray()
    async with asyncio.timeout(5):
        while True:
            try:
                chunk = await loop.sock_recv(sock, 1 << 20)
            except ConnectionResetError:
                return bytes(got), True
            if not chunk:
                return bytes(got), False
            got += chunk


async def _spin(turns: int = 5) -> None:
    """Let the loop run a few iterations: enough for any ready socket to be dispatched."""
    for _ in range(turns):
        await asyncio.sleep(0)


def _readable(sock: socket.socket) -> bool:
    """Whether the kernel holds data for ``sock`` (waiting up to 5 s), without reading it."""
    return bool(select.select([sock], [], [], 5)[0])


def _payload(size: int = BIG) -> bytes:
    return bytes(i % 251 for i in range(251)) * (size // 251) + b"z" * (size % 251)


# ---------------------------------------------------------------- the transport


async def test_transport_delivers_data_both_ways_and_describes_its_socket(serve) -> None:
    served = Served()
    server = await serve(served)
    async with _client(_port(server)) as (reader, writer):
        protocol = await served.made()
        transport = protocol.transport
        assert isinstance(transport, SocketTransport)
        assert transport.get_protocol() is protocol and server.connections == 1
        writer.write(b"hello reactor")
        await served.until(lambda: bytes(protocol.data) == b"hello reactor")
        transport.write(b"to the peer")
        transport.writelines([b" and ", bytearray(b"on"), memoryview(b"ward")])
        assert await asyncio.wait_for(reader.readexactly(22), 5) == b"to the peer and onward"
        assert transport.get_extra_info("peername") == writer.get_extra_info("sockname")
        assert transport.get_extra_info("sockname") == (HOST, _port(server))
        sock = transport.get_extra_info("socket")
        assert sock.getpeername() == writer.get_extra_info("sockname")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert transport.get_extra_info("no such thing") is None
        assert transport.get_extra_info("no such thing", "fallback") == "fallback"
        assert transport.is_reading() and not transport.is_closing()
        assert transport.get_write_buffer_size() == 0
        assert transport.get_write_buffer_limits() == (reactor.HIGH_WATER // 4, reactor.HIGH_WATER)
        assert not transport.can_write_eof()
        with pytest.raises(NotImplementedError):
            transport.write_eof()
    await served.until(lambda: protocol.lost)
    assert protocol.calls == ["connection_made", "data_received", "eof_received", "connection_lost"]


@pytest.mark.parametrize("ending", ["close", "abort"])
async def test_connection_lost_runs_once_from_the_loop_never_inside_close(serve, ending: str) -> None:
    served = Served()
    server = await serve(served)
    async with _client(_port(server)) as (reader, _writer):
        protocol = await served.made()
        transport = protocol.transport
        getattr(transport, ending)()
        transport.close()
        transport.abort()
        assert "connection_lost" not in protocol.calls
        assert server.connections == 1  # the count drops when connection_lost has run, not before
        await asyncio.sleep(0)
        assert protocol.calls == ["connection_made", "connection_lost"]
        assert protocol.lost_exc is None and server.connections == 0
        assert await asyncio.wait_for(reader.read(), 5) == b""
    await _spin()
    assert protocol.calls.count("connection_lost") == 1


async def test_peer_eof_closes_the_transport_when_eof_received_returns_false(serve) -> None:
    served = Served()
    server = await serve(served)
    async with _client(_port(server)) as (reader, writer):
        protocol = await served.made()
        writer.write(b"last words")
        writer.write_eof()
        await served.until(lambda: protocol.lost)
        assert protocol.calls == ["connection_made", "data_received", "eof_received", "connection_lost"]
        assert bytes(protocol.data) == b"last words" and protocol.lost_exc is None
        assert protocol.transport.is_closing()
        assert await asyncio.wait_for(reader.read(), 5) == b""
    assert server.connections == 0


async def test_eof_received_returning_true_keeps_the_transport_open_for_writing(serve) -> None:
    served = Served(keep_open=True)
    server = await serve(served)
    async with _client(_port(server)) as (reader, writer):
        protocol = await served.made()
        writer.write_eof()  # shutdown(SHUT_WR): the peer can still read
        await served.until(lambda: "eof_received" in protocol.calls)
        transport = protocol.transport
        await _spin()
        assert not transport.is_closing() and not transport.is_reading()
        assert protocol.calls == ["connection_made", "eof_received"]
        transport.write(b"the reply after your EOF\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"the reply after your EOF\n"
        transport.write(b"and one more")
        transport.close()
        assert await asyncio.wait_for(reader.read(), 5) == b"and one more"
        await served.until(lambda: protocol.lost)
    assert protocol.calls == ["connection_made", "eof_received", "connection_lost"]
    assert protocol.lost_exc is None


async def test_resume_reading_after_a_kept_open_eof_does_not_repeat_eof_received(serve) -> None:
    served = Served(keep_open=True)
    server = await serve(served)
    async with _client(_port(server)) as (reader, writer):
        protocol = await served.made()
        writer.write_eof()
        await served.until(lambda: "eof_received" in protocol.calls)
        protocol.transport.resume_reading()
        await _spin()
        eofs = protocol.calls.count("eof_received")
        protocol.transport.close()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await served.until(lambda: protocol.lost)
    assert eofs == 1


# ---------------------------------------------------------------- flow control, close and abort


async def test_large_write_pauses_the_protocol_and_resumes_it_once_the_peer_reads(serve) -> None:
    payload = _payload()
    async with _slow_reader(serve) as (served, _server, peer, protocol):
        transport = protocol.transport
        transport.write(payload)
        assert transport.get_write_buffer_size() > reactor.HIGH_WATER
        assert protocol.calls == ["connection_made", "pause_writing"]
        received = await _recv_exactly(peer, len(payload))
        await served.until(lambda: "resume_writing" in protocol.calls)
        await served.until(lambda: transport.get_write_buffer_size() == 0)
        assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
        assert protocol.calls == ["connection_made", "pause_writing", "resume_writing"]
        assert not transport.is_closing()
        transport.write(b"after the drain")  # a drained transport sends at once again
        assert transport.get_write_buffer_size() == 0
        assert await _recv_exactly(peer, 15) == b"after the drain"
    await served.until(lambda: protocol.lost)


async def test_lowering_the_high_water_mark_below_the_buffer_pauses_the_protocol(serve) -> None:
    served = Served()
    server = await serve(served)
    payload = b"x" * (reactor.HIGH_WATER // 2)
    async with _raw_client(_port(server), rcvbuf=4096) as peer:
        protocol = await served.made()
        transport = protocol.transport
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        for _ in range(4096):  # fill the kernel's buffers, then some of ours, staying under the high-water mark
            if transport.get_write_buffer_size() > 0:
                break
            transport.write(payload)
        assert 0 < transport.get_write_buffer_size() <= reactor.HIGH_WATER
        assert "pause_writing" not in protocol.calls
        transport.set_write_buffer_limits(high=1)
        assert transport.get_write_buffer_limits() == (0, 1)
        assert protocol.calls[-1] == "pause_writing"
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=1, low=2)
        peer.close()
    await served.until(lambda: protocol.lost)


async def test_close_flushes_buffered_data_before_the_socket_closes(serve) -> None:
    payload = _payload()
    async with _slow_reader(serve) as (served, server, peer, protocol):
        transport = protocol.transport
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        transport.close()
        assert transport.is_closing()
        buffered = transport.get_write_buffer_size()
        transport.write(b"written after close")  # dropped, even while the buffer is still flushing
        assert transport.get_write_buffer_size() == buffered
        await _spin()
        assert not protocol.lost  # still flushing: the peer has not read yet
        received, reset = await _recv_until_eof(peer)
        assert not reset and len(received) == len(payload) and received == payload
        await served.until(lambda: protocol.lost)
    assert protocol.lost_exc is None and protocol.calls[-1] == "connection_lost"
    assert server.connections == 0


async def test_abort_drops_buffered_data(serve) -> None:
    payload = _payload()
    async with _slow_reader(serve) as (served, _server, peer, protocol):
        transport = protocol.transport
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        transport.abort()
        assert transport.get_write_buffer_size() == 0 and transport.is_closing()
        assert not protocol.lost
        await served.until(lambda: protocol.lost)
        received, _reset = await _recv_until_eof(peer)
        assert len(received) < len(payload)
        assert received == payload[: len(received)]
    assert protocol.lost_exc is None and protocol.calls.count("connection_lost") == 1


async def test_write_after_close_is_ignored(serve) -> None:
    served = Served()
    server = await serve(served)
    async with _client(_port(server)) as (reader, _writer):
        protocol = await served.made()
        transport = protocol.transport
        transport.write(b"before")
        transport.close()
        assert transport.is_closing() and not transport.is_reading()
        transport.write(b"after close")
        assert transport.get_write_buffer_size() == 0
        await served.until(lambda: protocol.lost)
        transport.write(b"after connection_lost")
        assert transport.get_write_buffer_size() == 0
        assert transport.get_extra_info("peername", "gone") == "gone"  # the socket is closed
        assert await asyncio.wait_for(reader.read(), 5) == b"before"


# ---------------------------------------------------------------- failures stay with their connection


async def test_exception_in_data_received_closes_only_that_connection(serve) -> None:
    served = Served(echo=True, first={"fail_on_data": b"boom"})
    server = await serve(served)
    with capture_logs() as logs:
        async with _client(_port(server)) as (bad_reader, bad_writer), _client(_port(server)) as (reader, writer):
            bad = await served.made(0)
            good = await served.made(1)
            bad_writer.write(b"boom")
            await served.until(lambda: bad.lost)
            assert bad.lost_exc is bad.raised and isinstance(bad.raised, RuntimeError)
            assert await asyncio.wait_for(bad_reader.read(), 5) == b""
            writer.write(b"still here\n")
            assert await asyncio.wait_for(reader.readline(), 5) == b"still here\n"
            assert not good.lost and server.connections == 1
    failed = [e for e in logs if e["event"] == "agi.reactor.protocol_failed"]
    assert [e["callback"] for e in failed] == ["data_received"]
    assert failed[0]["log_level"] == "error"


async def test_exception_in_connection_made_closes_only_that_connection(serve) -> None:
    served = Served(echo=True, first={"fail_on_made": True})
    server = await serve(served)
    with capture_logs() as logs:
        async with _client(_port(server)) as (bad_reader, _bad_writer):
            bad = await served.made(0)
            await served.until(lambda: bad.lost)
            assert bad.lost_exc is bad.raised and isinstance(bad.raised, RuntimeError)
            assert bad.calls == ["connection_made", "connection_lost"]
            assert await asyncio.wait_for(bad_reader.read(), 5) == b""
        async with _client(_port(server)) as (reader, writer):
            writer.write(b"next call\n")
            assert await asyncio.wait_for(reader.readline(), 5) == b"next call\n"
    failed = [e for e in logs if e["event"] == "agi.reactor.protocol_failed"]
    assert [e["callback"] for e in failed] == ["connection_made"]


async def test_exception_in_the_protocol_factory_refuses_only_that_connection(serve) -> None:
    served = Served(echo=True)
    calls = 0

    def factory() -> asyncio.Protocol:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("no protocol for you")
        return served()

    server = await serve(factory)
    with capture_logs() as logs:
        async with _client(_port(server)) as (reader, _writer):
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without a word
        async with _client(_port(server)) as (reader, writer):
            writer.write(b"served\n")
            assert await asyncio.wait_for(reader.readline(), 5) == b"served\n"
        await served.until(lambda: served.protocols[0].lost)
    assert [e["event"] for e in logs] == ["agi.reactor.protocol_factory_failed"]
    assert server.connections == 0 and calls == 2 and len(served.protocols) == 1


async def test_exception_in_connection_lost_is_logged_and_still_counts_the_connection_closed(serve) -> None:
    served = Served(fail_on_lost=True)
    server = await serve(served)
    with capture_logs() as logs:
        async with _client(_port(server)):
            protocol = await served.made()
            protocol.transport.close()
            await served.until(lambda: protocol.lost)
            await _spin()
    assert server.connections == 0
    assert [e["event"] for e in logs] == ["agi.reactor.connection_lost_failed"]
    server.close()
    await asyncio.wait_for(server.wait_closed(), 1)


@pytest.mark.parametrize("moment", ["idle", "while_writing"])
async def test_peer_reset_ends_the_connection_without_hanging(serve, moment: str) -> None:
    served = Served()
    server = await serve(served)
    async with _raw_client(_port(server), rcvbuf=64 * 1024) as peer:
        protocol = await served.made()
        if moment == "while_writing":
            protocol.transport.write(_payload())
            assert protocol.transport.get_write_buffer_size() > 0
        await asyncio.get_running_loop().sock_sendall(peer, b"x")
        await served.until(lambda: bytes(protocol.data) == b"x")
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # linger 0: an RST instead of a FIN
        await served.until(lambda: protocol.lost)
    assert protocol.lost_exc is None or isinstance(protocol.lost_exc, OSError)
    assert protocol.calls.count("connection_lost") == 1
    assert protocol.transport.get_write_buffer_size() == 0 and server.connections == 0


# ---------------------------------------------------------------- reading paused


async def test_paused_reading_holds_the_peers_data_until_resumed(serve) -> None:
    served = Served()
    server = await serve(served)
    async with _client(_port(server)) as (_reader, writer):
        protocol = await served.made()
        transport = protocol.transport
        transport.pause_reading()
        transport.pause_reading()
        assert not transport.is_reading()
        writer.write(b"held back")
        await writer.drain()
        assert _readable(transport.get_extra_info("socket"))  # the bytes are in the kernel, ready to read
        await _spin()
        assert protocol.data == b"" and protocol.calls == ["connection_made"]
        transport.resume_reading()
        assert transport.is_reading()
        await served.until(lambda: bytes(protocol.data) == b"held back")


async def test_paused_reading_stays_paused_while_a_large_write_drains(serve) -> None:
    payload = _payload()
    async with _slow_reader(serve) as (served, _server, peer, protocol):
        transport = protocol.transport
        transport.pause_reading()
        transport.write(payload)
        await asyncio.get_running_loop().sock_sendall(peer, b"sent while paused")
        assert await _recv_exactly(peer, len(payload)) == payload
        await served.until(lambda: transport.get_write_buffer_size() == 0)
        await _spin()
        assert protocol.data == b"" and not transport.is_reading()
        transport.resume_reading()
        await served.until(lambda: bytes(protocol.data) == b"sent while paused")
        assert protocol.calls == ["connection_made", "pause_writing", "resume_writing", "data_received"]


# ---------------------------------------------------------------- the listener


async def test_server_close_stops_accepting_and_waits_for_open_connections(serve) -> None:
    served = Served(echo=True)
    server = await serve(served)
    assert isinstance(server, EpollServer) and server.is_serving() and server.connections == 0
    port = _port(server)
    async with _client(port) as (reader, writer), _client(port) as (other_reader, other_writer):
        first, second = await served.made(0), await served.made(1)
        assert server.connections == 2
        server.close()
        assert not server.is_serving() and server.sockets == []
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(HOST, port)
        closed = asyncio.ensure_future(server.wait_closed())
        closed.add_done_callback(lambda _: served.timeline.append("wait_closed"))
        writer.write(b"still served\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"still served\n"
        await _close(writer)
        await served.until(lambda: first.lost)
        await _spin()
        assert not closed.done() and server.connections == 1
        other_writer.write(b"me too\n")
        assert await asyncio.wait_for(other_reader.readline(), 5) == b"me too\n"
        await _close(other_writer)
        await asyncio.wait_for(closed, 5)
    assert served.timeline[-2:] == ["connection_lost 1", "wait_closed"]
    assert second.lost and server.connections == 0 and len(served.protocols) == 2
    await asyncio.wait_for(server.wait_closed(), 1)  # and at once when called again


async def test_server_close_without_connections_is_closed_at_once(serve) -> None:
    server = await serve(Served())
    server.close()
    server.close()
    await asyncio.wait_for(server.wait_closed(), 1)
    assert not server.is_serving() and server.connections == 0


async def test_many_concurrent_connections_are_all_served(serve) -> None:
    served = Served(echo=True)
    server = await serve(served, backlog=512)
    port = _port(server)
    clients = 300

    async def call(i: int) -> bytes:
        async with _client(port) as (reader, writer):
            writer.write(b"caller %d\n" % i)
            return await reader.readline()

    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(10):
        replies = await asyncio.gather(*(call(i) for i in range(clients)))
    await served.until(lambda: sum(p.lost for p in served.protocols) == clients)
    assert replies == [b"caller %d\n" % i for i in range(clients)]
    assert server.connections == 0 and len(served.protocols) == clients
    assert all(p.lost_exc is None for p in served.protocols)
    assert loop.time() - started < 5


def _exhausting(error: OSError) -> Any:
    """A stand-in for the listening socket whose accept fails the way a busy host's does."""

    def accept() -> tuple[int, Any]:
        raise error

    return types.SimpleNamespace(_accept=accept)


def _accept_with(server: EpollServer, error: OSError) -> None:
    listening = server.sockets[0]
    server._accept(_exhausting(error), int(listening.family), int(listening.type), listening.proto)


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM], ids=errno.errorcode.get)
async def test_accept_out_of_descriptors_pauses_accepting_then_resumes(serve, monkeypatch, code: int) -> None:
    monkeypatch.setattr(reactor, "ACCEPT_PAUSE", 0.05)
    served = Served(echo=True)
    server = await serve(served)
    loop = asyncio.get_running_loop()
    with capture_logs() as logs:
        _accept_with(server, OSError(code, "out of something"))
        paused_at = loop.time()
    assert not server.is_serving()
    [event] = [e for e in logs if e["event"] == "agi.accept_paused"]
    assert event["seconds"] == 0.05 and event["log_level"] == "error" and "out of something" in event["error"]
    # A caller arriving during the pause waits in the kernel's accept queue and is served after it.
    async with _client(_port(server)) as (reader, writer):
        protocol = await served.made()
        assert loop.time() - paused_at >= 0.04
        assert server.is_serving()
        writer.write(b"after the pause\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"after the pause\n"
    await served.until(lambda: protocol.lost)


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (ConnectionAbortedError(errno.ECONNABORTED, "aborted before accept"), []),
        (OSError(errno.EPERM, "firewall said no"), ["agi.accept_failed"]),
    ],
    ids=["ECONNABORTED", "EPERM"],
)
async def test_other_accept_errors_do_not_stop_the_listener(serve, error: OSError, logged: list[str]) -> None:
    served = Served(echo=True)
    server = await serve(served)
    with capture_logs() as logs:
        _accept_with(server, error)
    assert [e["event"] for e in logs] == logged
    assert server.is_serving()
    async with _client(_port(server)) as (reader, writer):
        writer.write(b"hello\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"hello\n"


async def test_last_connection_ending_during_an_accept_pause_keeps_the_server_alive(
    serve, monkeypatch, loop_errors
) -> None:
    monkeypatch.setattr(reactor, "ACCEPT_PAUSE", 0.05)
    served = Served(echo=True)
    server = await serve(served)
    try:
        async with _client(_port(server)):
            protocol = await served.made()
            _accept_with(server, OSError(errno.EMFILE, "Too many open files"))
        await served.until(lambda: protocol.lost)  # the last connection ends while accepting is paused
        assert not server.is_serving()
        echoed = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1), _client(_port(server)) as (reader, writer):
                writer.write(b"after the pause\n")
                echoed = await reader.readline()
        errors = [str(context.get("exception")) for context in loop_errors]
    finally:
        loop_errors.clear()
        for transport in list(server._transports.values()):  # the half-registered socket the bug leaves behind
            transport.abort()
    assert errors == []
    assert echoed == b"after the pause\n"


async def test_listen_on_a_port_in_use_names_the_address(serve) -> None:
    server = await serve(Served())
    port = _port(server)
    with pytest.raises(OSError, match=rf"\('127\.0\.0\.1', {port}\)") as caught:
        await listen(Served(), HOST, port, backlog=16)
    assert caught.value.errno == errno.EADDRINUSE


async def test_listen_on_localhost(serve) -> None:
    served = Served(echo=True)
    server = await serve(served, host="localhost")
    assert server.sockets and all(s.getsockname()[0] in ("127.0.0.1", "::1") for s in server.sockets)
    host, port = server.sockets[0].getsockname()[:2]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"via localhost\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"via localhost\n"
    finally:
        await _close(writer)


async def test_without_epoll_listen_falls_back_to_asyncio_create_server(serve, monkeypatch) -> None:
    monkeypatch.setattr(reactor, "select", types.SimpleNamespace())
    served = Served(echo=True)
    server = await serve(served)
    assert isinstance(server, asyncio.Server) and not isinstance(server, EpollServer)
    assert server.sockets[0].getsockname()[0] == HOST
    async with _client(_port(server)) as (reader, writer):
        protocol = await served.made()
        assert not isinstance(protocol.transport, SocketTransport)
        writer.write(b"plain asyncio\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"plain asyncio\n"
    await served.until(lambda: protocol.lost)
    server.close()
    await asyncio.wait_for(server.wait_closed(), 1)
    assert not server.is_serving()
