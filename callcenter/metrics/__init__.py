"""Service metrics and reports computed from the call timeline (docs/standards.md section 7).

One pass folds each call's timeline events into a :class:`CallSummary` (``summary``); the figures, each with
one definition and its R-number, are counts over summaries (``figures``); windows cut them per hour, day,
group and agent (``windows``); reports render them as table, JSON or HTML with inline SVG charts
(``report``, ``charts``); ``schedule`` writes the daily, monthly and quarterly reports of R-130; ``live``
gives the wallboard its figures. The same functions serve the wallboard, the reports and the CLI.
"""

from callcenter.metrics.figures import DEFINITIONS, Tally, figures
from callcenter.metrics.live import LiveBoard, live_figures
from callcenter.metrics.load import load_summaries
from callcenter.metrics.report import build_report, render, report_from_summaries, write_html_report
from callcenter.metrics.schedule import produce_due_reports, run_report_scheduler
from callcenter.metrics.summary import CallSummary, SummaryBuilder, summarise
from callcenter.metrics.windows import Selection, Window, breakdown, day_window

__all__ = [
    "DEFINITIONS",
    "CallSummary",
    "LiveBoard",
    "Selection",
    "SummaryBuilder",
    "Tally",
    "Window",
    "breakdown",
    "build_report",
    "day_window",
    "figures",
    "live_figures",
    "load_summaries",
    "produce_due_reports",
    "render",
    "report_from_summaries",
    "run_report_scheduler",
    "summarise",
    "write_html_report",
]
