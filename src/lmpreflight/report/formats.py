"""The report files a run can write, one registration each.

A new format is a renderer (a function from the one report model to text) and one line here:
the command-line option, its help, and the writing all come from this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lmpreflight.fileio import powershell_text
from lmpreflight.report.fixscript import render_fix_script
from lmpreflight.report.html import render_html
from lmpreflight.report.json_report import render_json
from lmpreflight.report.junit import render_junit
from lmpreflight.report.markdown import render_markdown
from lmpreflight.report.model import Report


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    """The option (``--NAME FILE``) and the key in ``ReportOptions.outputs``."""
    help: str
    render: Callable[[Report], str]


FORMATS: tuple[Format, ...] = (
    Format("json", "Write the JSON report.", render_json),
    Format("html", "Write the HTML report.", render_html),
    Format("junit", "Write JUnit XML.", render_junit),
    Format(
        "fix-script",
        "Write a PowerShell script that fixes what can be fixed safely (-WhatIf previews; each change is confirmed).",
        lambda report: powershell_text(render_fix_script(report)),
    ),
    Format("markdown", "Write a short Markdown summary for a change ticket.", render_markdown),
)
FORMAT_NAMES = tuple(f.name for f in FORMATS)
