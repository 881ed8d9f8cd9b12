"""FastAGI and classic AGI: Asterisk's ``AGI()`` calls run the standard scripts (issue 3).

- :mod:`.codec`: the wire format, sans-I/O (environment block, command lines, replies incl. 520 usage).
- :mod:`.connection`: one FastAGI socket as an asyncio Protocol (line splitting, per-command timeout).
- :mod:`.reactor`: the listener's socket layer on Linux: every call's socket on one epoll set in the loop.
- :mod:`.deadlines`: the timeouts of all of a server's connections on one loop timer.
- :mod:`.classic`: classic AGI on stdin/stdout through pyst2 (``callcenter agi``).
- :mod:`.channel`: :class:`AGIChannel`, the script protocol's Channel carried out in AGI commands.
- :mod:`.entry`: ``agi_network_script`` → configured entry; unknown entries are apologised to and queued.
- :mod:`.server`: the bounded FastAGI server and :func:`serve_fastagi` for ``callcenter serve``.

Why a native asyncio server for FastAGI rather than an adapter around pyst2 (decided by bench/agi.py, 500
calls in progress, load in a separate process; README "FastAGI" has the table): pyst2 blocks, so as a FastAGI
server it needs an OS thread per call (and its ``AGI()`` installs a SIGHUP handler that fails outside the main
thread; its own FastAGI module is Python 2). Measured on the same load, the thread-per-call pyst2 server spends
about 9x the CPU per call of the native one and its command round-trip p99 is several times worse. The native
server is a sans-I/O :mod:`.codec` under an ``asyncio.Protocol`` (one task wake-up per command), on a socket
layer of its own (:mod:`.reactor`) because asyncio's stock transports were most of a short call's CPU, with
all timeouts on one timer (:mod:`.deadlines`); it costs about half the CPU per call of panoramisk's FastAGI
server while also bounding lines, environments, command times and concurrency, and detecting a hang-up between
commands. So FastAGI runs natively, and pyst2 serves classic AGI, where Asterisk starts one process per call
anyway. One conformance suite (tests/telephony/test_agi_conformance.py) replays the same transcripts through
both paths, and found three pyst2 defects the classic adapter works around (:mod:`.classic`).
"""

from callcenter.telephony.agi.channel import AGIChannel, CallPlace
from callcenter.telephony.agi.codec import (
    AGICommandTimeout,
    AGIDeadChannel,
    AGIEnvironmentError,
    AGIHangup,
    AGIInvalidCommand,
    AGIProtocolError,
    AGIUsageError,
    Reply,
)
from callcenter.telephony.agi.connection import AGIConnection
from callcenter.telephony.agi.server import FastAGIServer, serve_fastagi

__all__ = [
    "AGIChannel",
    "AGICommandTimeout",
    "AGIConnection",
    "AGIDeadChannel",
    "AGIEnvironmentError",
    "AGIHangup",
    "AGIInvalidCommand",
    "AGIProtocolError",
    "AGIUsageError",
    "CallPlace",
    "FastAGIServer",
    "Reply",
    "serve_fastagi",
]
