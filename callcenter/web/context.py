"""Everything the web app reads or drives, handed in by whoever starts it (``serve``, ``demo``, tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callcenter.calls.fanout import CentreFeed, centre_feed
from callcenter.calls.rings import RingCadence, cadence
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.metrics.live import LiveBoard as MetricsBoard
from callcenter.web.control import CallbackDialing, CallControl, LiveMonitoring
from callcenter.web.live import LiveBoard


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebContext:
    settings: Settings
    timeline: Timeline
    # The centre's seats; None: those of settings.database.url (made in __post_init__).
    agents: SeatPool = None  # type: ignore[assignment]
    control: CallControl | None = None
    dialing: CallbackDialing | None = None  # the callback dialer (serve --ari, demo): the panel's preview calls
    monitoring: LiveMonitoring | None = None  # supervisors listening in (serve --ari): the wallboard's controls
    board: LiveBoard = field(default_factory=LiveBoard)
    # Today's call summaries for the wallboard (built in __post_init__ from the settings).
    metrics_board: MetricsBoard = field(init=False)
    # Every process's events on PostgreSQL, this process's on SQLite: what the pages and both boards follow.
    events: CentreFeed = field(init=False)
    now: Callable[[], datetime] = _utc_now
    # Caller surnames and honorifics the agent typed during the call, by call id.
    addresses: dict[str, dict[str, str]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.metrics_board = MetricsBoard(self.settings)
        self.events = centre_feed(self.timeline)
        if self.agents is None:
            self.agents = SeatPool.for_settings(self.settings, self.timeline)

    def feed(self, event: Any) -> None:
        """One published timeline event into both live views (panel board, wallboard figures)."""
        self.board.feed(event)
        self.metrics_board.feed(event)

    @property
    def url(self) -> str:
        return self.settings.database.url

    @property
    def cadence(self) -> RingCadence:
        return cadence(self.settings.telephony.ring_cadence)
