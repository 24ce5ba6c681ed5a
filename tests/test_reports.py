"""The four report formats, rendered from the one report model."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from lmpreflight.facts.load import facts_json_schema
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.html import render_html
from lmpreflight.report.json_report import render_json, report_json_schema
from lmpreflight.report.junit import render_junit
from lmpreflight.runner import Selection
from tests.helpers import EXAMPLES, FIXED, REPO, broken_report, full_run, healthy_pair, validate_report_json


def test_golden_json_for_broken_example(golden) -> None:
    document = validate_report_json(render_json(broken_report()))
    document["tool_version"] = "<version>"
    golden("broken.report.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def test_broken_example_names_its_distinct_failures() -> None:
    report = broken_report()
    failing = {(r.check_id, r.subject) for r in report.results if r.status == "fail"}
    assert failing == {
        ("delegation.protocol-transition", "source"),
        ("delegation.spns-to-destination", "source"),
        ("network.port-6600", "source"),
        ("network.firewall-rule", "destination"),
        ("vm.configuration-version", "vm:LEGACY01"),
        ("vm.storage-reachable", "vm:LEGACY01"),
        ("vm.switches-on-destination", "vm:WEB02"),
    }
    assert report.verdict == "not-ready" and report.exit_code == 1
    assert report.results[0].status == "fail", "failures lead the report"


def test_committed_schemas_match_the_models() -> None:
    assert (REPO / "schemas" / "report.schema.json").read_text() == report_json_schema()
    assert (REPO / "schemas" / "facts.schema.json").read_text() == facts_json_schema()


def test_example_fact_files_validate_against_the_facts_schema() -> None:
    import jsonschema

    schema = json.loads(facts_json_schema())
    for path in EXAMPLES.glob("*/*.json"):
        jsonschema.Draft202012Validator(schema).validate(json.loads(path.read_text()))


def test_strict_turns_warnings_into_not_ready() -> None:
    source, destination = healthy_pair(lambda s, d: d["migration"].update(use_any_network=True))
    results = full_run(source, destination, ("SQL01",))
    assert build_report(results, source, destination, Selection(vms=("SQL01",)), FIXED).verdict == "ready"
    strict = RunInfo("analyze", "x", True, FIXED.generated_at)
    report = build_report(results, source, destination, Selection(vms=("SQL01",)), strict)
    assert report.verdict == "not-ready" and report.exit_code == 1
    validate_report_json(render_json(report))


def _hostile_pair():
    def mutate(source, destination):
        source["vms"][0]["name"] = "<script>alert(1)</script>"
        source["identity"]["computer_name"] = 'HV"01\' onmouseover="alert(2)'
        destination["identity"]["computer_name"] = "<img src=x onerror=alert(3)>"

    return healthy_pair(mutate)


def test_html_is_self_contained_and_escapes_names() -> None:
    source, destination = _hostile_pair()
    vms = ("<script>alert(1)</script>", "WEB02")
    report = build_report(full_run(source, destination, vms), source, destination, Selection(vms=vms), FIXED)
    html = render_html(report)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert 'onmouseover="alert' not in html
    assert html.count("<script>") == 1, "only the report's own script"
    for external in ('src="http', 'href="http://', "@import", '<link rel="stylesheet"'):
        assert external not in html
    assert not re.search(r"url\((?!#)", html), "only in-document url(#...) references"
    validate_report_json(render_json(report))


def test_html_shows_verdict_and_every_result() -> None:
    report = broken_report()
    html = render_html(report)
    assert 'class="verdict" id="verdict">NOT READY<' in html
    assert html.count('<li class="result ') == len(report.results)
    assert "Update-VMVersion -Name &#39;LEGACY01&#39; -Force" in html


def test_junit_parses_and_carries_the_failures() -> None:
    report = broken_report()
    root = ET.fromstring(render_junit(report))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(report.results)
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(failures) == int(root.get("failures", "-1")) == 7
    assert {c.get("classname") for c in failures} >= {"lmpreflight.vm.configuration-version"}
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == report.summary.counts["skip"]
    assert all(s.get("tests") for s in root.findall("testsuite"))


@pytest.mark.parametrize("strict", [False, True])
def test_junit_warnings_follow_strict(strict: bool) -> None:
    root = ET.fromstring(render_junit(broken_report(strict=strict)))
    warn_case = next(c for c in root.iter("testcase") if c.get("classname", "").endswith("processor-compatibility"))
    assert (warn_case.find("failure") is not None) is strict
