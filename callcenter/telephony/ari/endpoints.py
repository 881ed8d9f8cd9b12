"""The dial string of an agent's seat on one Asterisk server (issue 17: several servers).

A seat has one endpoint (``PJSIP/8001``), where its phone registers. A call rings its agent on the server that
holds the call (the agent leg joins that server's bridge), so a server whose phones live elsewhere names how it
reaches them: ``[telephony.asterisk.<name>] agent_endpoint``, e.g. ``PJSIP/{work_number}@pbx-a`` through a trunk
to the server the phones register on. Empty (the default) dials the seat's own endpoint.
"""

from __future__ import annotations

from callcenter.calls.agents import Agent
from callcenter.config import Settings


def agent_endpoint(settings: Settings, agent: Agent) -> str:
    """Where this server dials ``agent`` (``settings`` as the server's adapters read them)."""
    template = settings.telephony.agent_endpoint
    if not template:
        return agent.endpoint
    return template.format(work_number=agent.work_number or agent.id, name=agent.id)
