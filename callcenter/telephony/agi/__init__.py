"""FastAGI and classic AGI: Asterisk's ``AGI()`` calls run the standard scripts (issue 3).

- :mod:`.codec`: the wire format, sans-I/O (environment block, command lines, replies incl. 520 usage).
- :mod:`.connection`: one FastAGI socket on asyncio (reader task, per-command timeout).
- :mod:`.classic`: classic AGI on stdin/stdout through pyst2 (``callcenter agi``).
- :mod:`.channel`: :class:`AGIChannel`, the script protocol's Channel carried out in AGI commands.
- :mod:`.entry`: ``agi_network_script`` → configured entry; unknown entries are apologised to and queued.
- :mod:`.server`: the bounded FastAGI server and :func:`serve_fastagi` for ``callcenter serve``.

Why a native asyncio codec for FastAGI rather than an adapter around pyst2: pyst2 is blocking (one OS thread
per call, a SIGHUP handler that only works in the main thread) and its FastAGI module is Python 2; wrapped in
threads it serves a call per thread. bench/agi.py measures both on the same load (figures in README, "FastAGI");
the native path is the one that meets the target, so FastAGI runs on :mod:`.codec` + :mod:`.connection`, and
pyst2 serves classic AGI, where Asterisk starts one process per call anyway. One conformance suite
(tests/telephony/test_agi_conformance.py) replays the same transcripts through both.
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
