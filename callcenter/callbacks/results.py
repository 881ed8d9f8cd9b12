"""What one dialled attempt of a callback came to, and what each result means for the task (R-96, R-103).

Defined here once: which results count as "reached" (the task is done) and which are dialled again.
"""

from __future__ import annotations

from enum import StrEnum

from callcenter.callbacks.errors import CallbackError


class AttemptResult(StrEnum):
    REACHED = "reached"  # the customer talked to an agent, or the survey got an answer
    NO_KEY = "no_key"  # the survey was answered but no valid key after the repeat: reached, no satisfaction
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"  # the originate was refused or failed
    HANGUP_OPENING = "hangup_opening"  # the customer hung up during the opening
    NO_AGENT = "no_agent"  # the customer answered, nobody was free, they heard the apology


# The customer was reached: the callback is done (R-125 counts it as 实际回访).
REACHED = frozenset({AttemptResult.REACHED, AttemptResult.NO_KEY})
# Not reached, dialled again on the campaign's growing interval (R-96 「再安排时间回访」).
RETRIED = frozenset(
    {AttemptResult.BUSY, AttemptResult.NO_ANSWER, AttemptResult.CONGESTION, AttemptResult.FAILED,
     AttemptResult.NO_AGENT}
)
# Not reached and not dialled again: a customer who hangs up on the opening has said no (R-103 「不打扰客户」).
FINAL_UNREACHED = frozenset({AttemptResult.HANGUP_OPENING})
# Our side failed (trunk, originate): the next try comes at the first interval, whatever the attempt number.
OUR_FAULT = frozenset({AttemptResult.CONGESTION, AttemptResult.FAILED})

assert REACHED | RETRIED | FINAL_UNREACHED == set(AttemptResult)  # every result has exactly one meaning


def parse_result(value: str) -> AttemptResult:
    try:
        return AttemptResult(value)
    except ValueError:
        names = ", ".join(r.value for r in AttemptResult)
        raise CallbackError(f"attempt result {value!r}: expected one of {names}") from None
