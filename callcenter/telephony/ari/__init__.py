"""The ARI application (Asterisk 22): events websocket, REST over it, calls, agent routing and reconcile.

``AriService(settings, timeline=…, pool=…).run()`` is the task ``callcenter serve`` runs; see
:mod:`callcenter.telephony.ari.service`. :class:`AriClient` is the connection (pluggable link, docs/design.md, Habits).
"""

from callcenter.telephony.ari.call import AriCall, CallStats
from callcenter.telephony.ari.client import AriClient, Backoff, supports_rest_over_websocket
from callcenter.telephony.ari.errors import AriConnectionLost, AriError, AriRequestError, AriUnavailable
from callcenter.telephony.ari.service import AriService

__all__ = [
    "AriCall",
    "AriClient",
    "AriConnectionLost",
    "AriError",
    "AriRequestError",
    "AriService",
    "AriUnavailable",
    "Backoff",
    "CallStats",
    "supports_rest_over_websocket",
]
