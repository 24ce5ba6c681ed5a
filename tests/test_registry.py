"""The registry's contract: every check is complete, unique, well-formed and tested."""

from __future__ import annotations

import pytest

from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import BUILTIN_MODULES, CHECK_ID, check, load_checks
from lmpreflight.runner import expand_need
from lmpreflight.vocabulary import Check, Severity
from tests.checks.cases import CASES

CHECKS = load_checks(include_plugins=False).sorted()


def test_builtin_checks_are_found() -> None:
    assert len(CHECKS) >= 30
    families = {c.id.split(".")[0] for c in CHECKS}
    assert families == {m.rsplit(".", 1)[1] for m in BUILTIN_MODULES}


@pytest.mark.parametrize("chk", CHECKS, ids=lambda c: c.id)
def test_check_is_complete(chk: Check) -> None:
    assert CHECK_ID.match(chk.id)
    assert chk.id.split(".")[0] == chk.function.__module__.rsplit(".", 1)[1], "family prefix = module name"
    assert chk.title and chk.title[0].isupper()
    assert len(chk.explanation) > 80, "the explanation must say why it matters"
    assert chk.remediation.text
    assert chk.references and all(r.startswith("https://") for r in chk.references)


@pytest.mark.parametrize("chk", CHECKS, ids=lambda c: c.id)
def test_needs_name_real_fact_sections(chk: Check) -> None:
    for need in chk.needs:
        for path in expand_need(need):
            role, _, rest = path.partition(".")
            assert role in ("source", "destination")
            model: type = HostFacts
            for part in rest.split("."):
                assert part in model.model_fields, f"{path}: {part} is not a fact field"
                annotation = model.model_fields[part].annotation
                model = next(
                    (a for a in getattr(annotation, "__args__", (annotation,)) if hasattr(a, "model_fields")), object
                )


@pytest.mark.parametrize("chk", CHECKS, ids=lambda c: c.id)
def test_every_check_has_pass_and_fail_cases(chk: Check) -> None:
    expectations = {case.expect for case in CASES if case.check_id == chk.id}
    assert expectations & {"pass", "info", "skip"}, f"{chk.id} has no passing case"
    if chk.severity is not Severity.INFO:  # information-only checks never fail
        assert expectations & {"fail", "warn"}, f"{chk.id} has no failing case"
    else:
        assert expectations & {"info"}, f"{chk.id} never shows its information"


def test_ids_are_unique() -> None:
    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("bad", ["NoFamily", "family.Upper", "family.under_score", ".x", "a.b.c"])
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"family\.kebab-name"):
        check(id=bad, title="t", category=None, severity=None, remediation=None, references=())


def test_a_check_without_docstring_is_refused() -> None:
    from lmpreflight.vocabulary import Category, Remediation, Severity

    declare = check(
        id="x.y", title="t", category=Category.VM, severity=Severity.LOW, remediation=Remediation("fix"), references=()
    )
    with pytest.raises(ValueError, match="docstring"):
        declare(lambda context: [])
