"""How the QA review names the transfer steps on a call's timeline (issue 15: QA sees who transferred, to whom,
and how it ended)."""

from __future__ import annotations

from typing import Any

from callcenter.calls import events as ev

TRANSFER_EVENTS = frozenset({
    ev.TRANSFER_BLIND, ev.TRANSFER_COMPLETED, ev.TRANSFER_CONSULT_STARTED, ev.TRANSFER_CONSULT_ANSWERED,
    ev.TRANSFER_CONSULT_COMPLETED, ev.TRANSFER_CONSULT_RETURNED, ev.TRANSFER_FAILED, ev.TRANSFER_SKIPPED,
    ev.CONFERENCE_STARTED, ev.CONFERENCE_ENDED,
})
_KINDS = {"agent": "坐席", "group": "坐席组", "number": "号码"}
_REASONS = {"busy": "忙", "congestion": "网络拥塞", "no_answer": "无人接听", "invalid": "号码无法接通",
            "failed": "呼叫失败", "no_agent": "无空闲坐席", "agent": "坐席操作", "agent_hung_up": "坐席挂机",
            "target_left": "对方挂机"}


def transfer_label(kind: str, d: dict[str, Any]) -> str:
    by = d.get("by", "")
    target = f"{_KINDS.get(str(d.get('kind', '')), '')} {d.get('target', '')}".strip()
    reason = _REASONS.get(str(d.get("reason", "")), str(d.get("reason", "")))
    labels = {
        ev.TRANSFER_BLIND: f"坐席 {by} 转接至{target}",
        ev.TRANSFER_COMPLETED: f"转接成功,{d.get('agent') or target} 接听",
        ev.TRANSFER_CONSULT_STARTED: f"坐席 {by} 咨询{target}",
        ev.TRANSFER_CONSULT_ANSWERED: f"咨询方 {d.get('agent') or target} 接听",
        ev.TRANSFER_CONSULT_COMPLETED: f"咨询转接完成({reason}),{d.get('agent') or target} 接手",
        ev.TRANSFER_CONSULT_RETURNED: f"咨询结束,回到坐席 ({reason})",
        ev.TRANSFER_FAILED: f"转接{target}失败:{reason},回到坐席",
        ev.TRANSFER_SKIPPED: f"转接时坐席 {d.get('agent')} 未接 ({reason}),转邻座 (R-02)",
        ev.CONFERENCE_STARTED: f"三方通话:{'、'.join(str(p) for p in d.get('parties', []))}",
        ev.CONFERENCE_ENDED: f"三方通话结束 ({reason})",
    }
    return labels.get(kind, kind)
