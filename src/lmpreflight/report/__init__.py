"""Reports: one result model (:class:`Report`), rendered as text, JSON, HTML and JUnit XML."""

from lmpreflight.report.build import Verdict, build_report, exit_code_for
from lmpreflight.report.model import Report

__all__ = ["Report", "Verdict", "build_report", "exit_code_for"]
