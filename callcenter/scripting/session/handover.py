"""Agents and other scripts: what a transfer's result does, and a script the agent (or the IVR) starts.

An agent who answers becomes a new party on the line: the R-15 steps count from their greeting, and the
greeting names them (R-12). A script started mid-call stops what runs (prompt, window, hold music) first.
"""

from __future__ import annotations

from callcenter.scripting.catalogue import agent_variables
from callcenter.scripting.model import Target, TransferAction
from callcenter.scripting.protocol import CancelTimer, ScriptRequested, StopPlayback, TransferResult, Unhold
from callcenter.scripting.session.config import IDLE, RINGING, TRANSFERRING
from callcenter.scripting.session.state import SessionState


class Handover(SessionState):
    __slots__ = ()

    def _transfer_result(self, event: TransferResult) -> None:
        if event.status == "answered":
            self.with_agent = True
            self._silences = 0  # a new party on the line: R-15 steps count from the agent's greeting
            if event.agent:
                record = self._agents(event.agent) if self._agents else {"work_number": event.agent}
                self.set_variables(agent=agent_variables(record, self.config.agent_label))
        if self.phase != TRANSFERRING:
            return
        state = self.state
        if state is not None and isinstance(state.action, TransferAction):
            if event.status == "answered":
                self._follow(state.branch("answered") or Target("done", state.mark))
                return
            branch = state.branch("no_agent") if event.status in ("no_agent", "failed") else None
            if branch is not None:
                self._follow(branch)
                return
        # Without a branch the caller stays queued for the group, or is already gone.
        self.state = None
        self.phase = IDLE

    def _script_requested(self, event: ScriptRequested) -> None:
        if self.phase == RINGING:
            return  # nobody to speak to yet
        script = self.library.script(event.script)
        self._abandon_current()
        self._enter_script(script)

    def _abandon_current(self) -> None:
        """Stop what runs (a new script, a release, the safe path). A script cut short leaves nobody on
        hold music; one that finished on hold (``hold``: the agent looks something up) keeps it."""
        if self._held and self.state is not None:
            self._out.append(Unhold())
            self._held = False
        if self._timer is not None:
            self._out.append(CancelTimer(self._timer))
            self._timer = None
        if self._playing is not None:
            self._out.append(StopPlayback(self._playing))
            self._playing = None
        self._queue = []
