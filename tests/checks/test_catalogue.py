"""Every built-in check against its pass and fail cases, and with its facts missing."""

from __future__ import annotations

import pytest

from lmpreflight.facts.model import CollectionError, HostFacts
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection, expand_need, run_check
from lmpreflight.vocabulary import Status
from tests.checks.cases import CASES, Case
from tests.helpers import healthy_pair, run_one

CHECKS = load_checks(include_plugins=False).checks


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.check_id}[{c.name}]")
def test_case(case: Case) -> None:
    source, destination = healthy_pair(case.mutate)
    selection = Selection(
        vms=case.vms, include_storage=case.include_storage, move_from=case.move_from, storage_path=case.storage_path
    )
    findings = run_check(CHECKS[case.check_id], selection.context(source, destination))
    matching = [f for f in findings if f.status == Status(case.expect)]
    assert matching, f"expected {case.expect}, got {[(f.status.value, f.message) for f in findings]}"
    if case.expect == "pass":
        assert all(f.status in (Status.PASS, Status.INFO) for f in findings), [f.message for f in findings]
    assert any(case.contains in f.message for f in matching), [f.message for f in matching]
    check = CHECKS[case.check_id]
    for finding in findings:
        step = check.fix_step(finding, destination if finding.subject == "destination" else source)
        if check.fix is not None and finding.status in (Status.FAIL, Status.WARN):
            assert step is not None and step.description and (step.change or step.manual), finding.message
            assert (step.needed is None) == (step.change is None), "an automated step tests its precondition"
        else:
            assert step is None
    if case.lacks:
        for finding in findings:
            fix = finding.remediation
            step = check.fix_step(finding, destination if finding.subject == "destination" else source)
            texts = [
                finding.message,
                *([fix.text, fix.powershell or ""] if fix else []),
                *([step.change or "", step.manual or ""] if step else []),
            ]
            assert not any(case.lacks in text for text in texts), texts


def _without(host: HostFacts, section: str) -> HostFacts:
    top = section.split(".")[0]
    return host.model_copy(
        update={top: None, "errors": [CollectionError(section=top, message="Access is denied", hint="run as admin")]}
    )


@pytest.mark.parametrize(
    ("check_id", "need"),
    [(c.id, path) for c in CHECKS.values() for need in c.needs for path in expand_need(need)],
)
def test_missing_fact_is_an_error_naming_the_collection_error(check_id: str, need: str) -> None:
    role, _, section = need.partition(".")
    source, destination = healthy_pair()
    if role == "source":
        source = _without(source, section)
    else:
        destination = _without(destination, section)
    findings = run_one(check_id, source, destination)
    assert [f.status for f in findings] == [Status.ERROR]
    assert "Access is denied" in findings[0].message
    assert need in findings[0].message
