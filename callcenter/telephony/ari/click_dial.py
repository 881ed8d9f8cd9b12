"""Click to dial (issue 15): the agent clicks "call" on a work order, their phone rings first, then the customer's.

It is the callbacks' preview dial (:meth:`OutboundCalls.dial` with ``mode="preview"``, the ``callback_preview``
script), not a copy of it: the agent who clicked is rung first (three rings, R-01; not picked up: nobody is
dialled), then the order's number through ``telephony.outbound_endpoint``; once the customer answers the two are
bridged and the call is recorded (R-107) and on the timeline like every other (``call.offered`` with
``direction: outbound``, ``mode: preview``, ``order`` and ``by``). An answered call is linked to its order, as a
callback's is. The number never leaves this module whole: the answer and the logs carry it masked.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime

from callcenter.calls.agents import AgentState
from callcenter.calls.control import ControlRefused
from callcenter.logs import get_logger, mask_number
from callcenter.store import session_scope
from callcenter.telephony.ari.call import safe_id
from callcenter.telephony.ari.dialer import ANSWERED
from callcenter.telephony.ari.outbound import OutboundCalls, OutboundRequest, OutboundResult
from callcenter.tickets.service import link

log = get_logger(__name__)

SCRIPT = "callback_preview"  # connect the customer to the agent who is already on the line
NUMBER = re.compile(r"\+?[0-9][0-9-]{2,31}")


class ClickToDial:
    """The agents' own calls out of one ARI application (``ctx.extras["click_dial"]`` in ``callcenter serve``)."""

    def __init__(self, outbound: OutboundCalls, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.outbound = outbound
        self.now = now
        self.in_flight: dict[str, asyncio.Task[OutboundResult]] = {}
        self.results: dict[str, OutboundResult] = {}
        self._serial = itertools.count(1)

    async def dial(self, agent_id: str, number: str, *, order: str | None = None) -> dict[str, str]:
        """Start the call (the agent's phone rings now); returns at once with the call id and the masked number.
        Raises :class:`ControlRefused` (one line, its status) when it cannot be dialled."""
        pool = self.outbound.service.pool
        agent = pool.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.READY:
            state = agent.state.value if agent is not None else "not signed in"
            raise ControlRefused(f"agent {agent_id} is not ready ({state}): set ready before calling a customer")
        digits = number.replace("-", "")
        if not NUMBER.fullmatch(number) or len(digits.lstrip("+")) < 3:
            raise ControlRefused(f"number {mask_number(number)!r} cannot be dialled", 400)
        call_id = safe_id(f"cd-{order or agent_id}-{int(self.now().timestamp())}-{next(self._serial)}")
        request = OutboundRequest(call_id=call_id, number=digits, script=SCRIPT, group=agent.groups[0],
                                  mode="preview", agent=agent_id,
                                  data={"by": agent_id, "order": order, "click_to_dial": True})
        task = asyncio.create_task(self._attempt(request), name=f"click-dial-{call_id}")
        self.in_flight[call_id] = task
        task.add_done_callback(lambda _t: self.in_flight.pop(call_id, None))
        log.info("click to dial", call_id=call_id, agent=agent_id, order=order, number=digits)
        return {"call_id": call_id, "number": mask_number(digits)}

    async def _attempt(self, request: OutboundRequest) -> OutboundResult:
        try:
            result = await self.outbound.dial(request)
        except Exception:
            log.exception("click to dial failed", call_id=request.call_id)
            result = OutboundResult(request.call_id, "failed", agent=request.agent, detail="the dial failed")
        self.results[request.call_id] = result
        order = request.data.get("order")
        if order and result.result in ANSWERED:
            try:
                await asyncio.to_thread(self._link, str(order), request.call_id, request.agent or "")
            except Exception as exc:  # the call happened; the order's link is a record, logged when it fails
                log.error("click to dial: call not linked to its order", call_id=request.call_id, order=order,
                          error=str(exc))
        log.info("click to dial ended", call_id=request.call_id, result=result.result, detail=result.detail)
        return result

    def _link(self, order: str, call_id: str, agent: str) -> None:
        with session_scope(self.outbound.service.settings.database.url) as session:
            link(session, order, "call", call_id, actor=agent, at=self.now())
