"""The fleet's cheaper forms of ordinary operations give what the ordinary ones give: a problem
sent between processes as a tuple, a finding rebuilt field by field with a destination's names."""

from __future__ import annotations

import dataclasses
import pickle

from lmpreflight.fleet.placement import Problem
from lmpreflight.recorded import MARKERS, rendered
from lmpreflight.runner import FINDING_TEXT, _named
from lmpreflight.vocabulary import Finding, Remediation, Status


def test_a_problem_comes_back_from_a_worker_as_it_went() -> None:
    problem = Problem("c.id", "Title", Status.FAIL, "source", "HV01", "msg", "fix", "Do-It", "HV01", automated=True)
    back = pickle.loads(pickle.dumps(problem))
    assert back == problem and type(back) is Problem and back.status is Status.FAIL


def test_a_named_finding_is_rebuilt_from_every_field() -> None:
    """``_named`` builds the finding from its fields directly: it must know every one of them."""
    assert [field.name for field in dataclasses.fields(Finding)] == ["status", *FINDING_TEXT]
    marker = MARKERS[("name",)]
    names = {marker: "HV07"}
    finding = Finding(
        Status.WARN,
        f"{marker} is slow",
        "destination",
        {"host": [marker]},
        Remediation(f"Restart {marker}", None, marker),
    )
    expected = dataclasses.replace(finding, **{name: rendered(getattr(finding, name), names) for name in FINDING_TEXT})
    assert _named(finding, FINDING_TEXT, names) == expected
    assert expected.remediation == Remediation("Restart HV07", None, "HV07")
    assert _named(finding, ("message",), names) == dataclasses.replace(finding, message="HV07 is slow")


def test_rendering_rebuilds_only_what_holds_a_marker() -> None:
    marker = MARKERS[("name",)]
    untouched = {"hosts": ["HV01", ("a", 1)], "fix": Remediation("nothing", None, None)}
    finding = Finding(Status.WARN, f"{marker} is slow", "destination", untouched, Remediation(f"On {marker}"))
    names = {marker: "HV07"}
    assert rendered(untouched, names) is untouched
    shown = rendered([finding], names)
    assert shown == [Finding(Status.WARN, "HV07 is slow", "destination", untouched, Remediation("On HV07"))]
    assert shown[0].evidence is untouched
    nested = {"a": [("x", marker)], "b": ["y"]}
    assert rendered(nested, names) == {"a": [("x", "HV07")], "b": ["y"]}
    assert rendered(nested, names)["b"] is nested["b"]
