"""JUnit XML: one testcase per result, so CI systems show the verdict as test results.

fail → <failure>, error → <error>, skip → <skipped>; warnings pass unless the run is
strict, in which case they are failures, matching the exit code. A result a waiver accepts
is <skipped> with "accepted by … until …: reason", so CI shows the risk without failing on it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from lmpreflight.escape import visible
from lmpreflight.report.model import Report, ResultOut


def _case(result: ResultOut, strict: bool) -> ET.Element:
    case = ET.Element("testcase", classname=f"lmpreflight.{result.check_id}", name=result.subject)
    case.set("time", "0")
    detail = result.message
    if result.remediation is not None:
        detail += f"\n\nFix ({result.remediation.run_on or 'see text'}): {result.remediation.text}"
        if result.remediation.powershell:
            detail += f"\n{result.remediation.powershell}"
    if result.accepted is not None:
        accepted = result.accepted
        note = f"accepted by {accepted.by} until {accepted.expires.isoformat()}: {accepted.reason}"
        ET.SubElement(case, "skipped", message=f"{result.status.upper()} {note}").text = detail
    elif result.status == "fail" or (strict and result.status == "warn"):
        ET.SubElement(case, "failure", message=result.message, type=result.severity).text = detail
    elif result.status == "error":
        ET.SubElement(case, "error", message=result.message, type="incomplete").text = detail
    elif result.status == "skip":
        ET.SubElement(case, "skipped", message=result.message)
    else:
        ET.SubElement(case, "system-out").text = f"{result.status.upper()}: {result.message}"
    return case


def _make_visible(root: ET.Element) -> None:
    """Host text may hold characters XML 1.0 forbids (ElementTree writes them anyway, and CI
    then cannot parse the file): show them as escapes, in every attribute and text."""
    for element in root.iter():
        for key, value in element.attrib.items():
            element.set(key, visible(value))
        if element.text:
            element.text = visible(element.text, keep_newlines=True)


def render_junit(report: Report) -> str:
    by_category: dict[str, list[ResultOut]] = defaultdict(list)
    for result in report.results:
        by_category[result.category].append(result)
    source, destination = report.host_by_role("source"), report.host_by_role("destination")
    root = ET.Element("testsuites", name=f"lmpreflight {source.name} -> {destination.name}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for category in sorted(by_category):
        cases = [_case(r, report.run.strict) for r in by_category[category]]
        counts = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        attributes = {
            "name": category,
            "timestamp": report.generated_at.replace(microsecond=0).isoformat(),
            "hostname": report.run.run_from,
            "time": "0",
            **{key: str(value) for key, value in counts.items()},
        }
        suite = ET.SubElement(root, "testsuite", attributes)
        suite.extend(cases)
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    _make_visible(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
