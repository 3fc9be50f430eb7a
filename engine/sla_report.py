"""Moved: the SLA board is :func:`leadflow.engine.reports.sla_board`. This name stays so that
code written for leadflow 0.1 keeps working."""

from leadflow.engine.reports import SlaBoard, SlaRow, sla_board

__all__ = ["SlaBoard", "SlaRow", "sla_board"]
