"""Reports over a process's leads: where they are, where they get stuck, what they will win.

Every report reads the engine's database (history, instances, activities) in one streaming
pass and describes the process "as of" a moment (default: the engine's clock), replaying
history, so a report of a past date shows what was true then. Each returns a frozen dataclass
with ``rows`` and ``as_dict()``::

    from leadflow.engine import reports

    reports.pipeline(engine, "b2b-opportunity").total_weighted
    reports.funnel(engine, "b2b-opportunity", cohort="quarter").rows
    reports.forecast(engine, "b2b-opportunity", periods=4, method="markov").rows
    reports.backtest(engine, "b2b-opportunity", split_at=datetime(2026, 1, 1, tzinfo=UTC))
    Path("report.html").write_text(reports.to_html([reports.funnel(engine, "b2b-opportunity")]))

Values come from a number field (``value_field``; default the first of amount, value,
deal_value the definition declares), loss reasons from ``lost_reason`` (``loss_field``).
The SLA board (:func:`sla_board`: met, breached and open clocks per owner or team), the
hand-off report (:func:`handoff_report`: per hand-off pair, how fast the receiving team acted),
the routing fairness report (:func:`fairness`: leads per team member against the fair share)
and the reports' charts (:func:`charts_of`: Vega-Lite specs; :func:`chart_figures`: them drawn
as inline SVG, with the ``charts`` extra) are here too. The work happens in this package's
private modules; docs/reports.md explains the models.
"""

from __future__ import annotations

from leadflow.engine.reports._as_of import STALE_AFTER, default_as_of, latest_change
from leadflow.engine.reports._board import (
    Board,
    BoardCard,
    BoardColumn,
    OpenClock,
    board,
    open_clocks,
)
from leadflow.engine.reports._charts import Chart, charts_of, forecast_charts
from leadflow.engine.reports._common import ReportError, stage_titles
from leadflow.engine.reports._fairness import FairnessReport, FairnessRow, fairness
from leadflow.engine.reports._flows import backtest, forecast
from leadflow.engine.reports._format import fmt as format_number
from leadflow.engine.reports._html import to_html
from leadflow.engine.reports._outcomes import loss_reasons, owners
from leadflow.engine.reports._pipeline import funnel, pipeline
from leadflow.engine.reports._stages import stuck, time_in_stage
from leadflow.engine.reports._types import (
    BacktestError,
    BacktestReport,
    BacktestRow,
    ForecastReport,
    ForecastRow,
    FunnelReport,
    FunnelRow,
    LossReasonRow,
    LossReasonsReport,
    OwnerRow,
    OwnersReport,
    PipelineReport,
    PipelineRow,
    Report,
    StuckReport,
    StuckRow,
    TimeInStageReport,
    TimeInStageRow,
)
from leadflow.engine.reports._vega import figures as chart_figures
from leadflow.engine.sla.board import SlaBoard, SlaRow, sla_board
from leadflow.engine.sla.handoff_report import HandoffReport, HandoffRow, handoff_report

__all__ = [
    "STALE_AFTER",
    "BacktestError",
    "BacktestReport",
    "BacktestRow",
    "Board",
    "BoardCard",
    "BoardColumn",
    "Chart",
    "FairnessReport",
    "FairnessRow",
    "ForecastReport",
    "ForecastRow",
    "FunnelReport",
    "FunnelRow",
    "HandoffReport",
    "HandoffRow",
    "LossReasonRow",
    "LossReasonsReport",
    "OpenClock",
    "OwnerRow",
    "OwnersReport",
    "PipelineReport",
    "PipelineRow",
    "Report",
    "ReportError",
    "SlaBoard",
    "SlaRow",
    "StuckReport",
    "StuckRow",
    "TimeInStageReport",
    "TimeInStageRow",
    "backtest",
    "board",
    "chart_figures",
    "charts_of",
    "default_as_of",
    "fairness",
    "forecast",
    "forecast_charts",
    "format_number",
    "funnel",
    "handoff_report",
    "latest_change",
    "loss_reasons",
    "open_clocks",
    "owners",
    "pipeline",
    "sla_board",
    "stage_titles",
    "stuck",
    "time_in_stage",
    "to_html",
]
