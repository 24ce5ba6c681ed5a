"""The fleet's cheaper forms of ordinary operations give what the ordinary ones give: a problem
sent between processes as a tuple, a finding rebuilt field by field with a destination's names,
a host's own view made once for every peer."""

from __future__ import annotations

import dataclasses
import pickle

from lmpreflight.checks._helpers import own_findings, own_view
from lmpreflight.facts.model import HostFacts
from lmpreflight.fleet.placement import Problem
from lmpreflight.recorded import MARKERS, rendered
from lmpreflight.runner import FINDING_TEXT, _named
from lmpreflight.vocabulary import Finding, Remediation, Status, passed
from tests.helpers import healthy_pair


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


def test_a_hosts_own_view_is_what_its_work_makes_of_the_host_and_these_arguments() -> None:
    """Made once for the same host, work and arguments; never handed out for other arguments,
    another work or another host, whatever the order of the calls."""
    source, destination = healthy_pair()
    made: list[tuple[str, str, bool]] = []

    def labelled(host: HostFacts, role: str, loud: bool) -> list[str]:
        made.append((host.name, role, loud))
        return [f"{role} {host.name}{'!' if loud else ''}"]

    def other(host: HostFacts, role: str, loud: bool) -> list[str]:
        return [f"other {role}"]

    first = own_view(source, labelled, "source", False)
    assert first == ["source HV01"] and own_view(source, labelled, "source", False) is first
    assert own_view(source, labelled, "destination", False) == ["destination HV01"]
    assert own_view(source, labelled, "source", True) == ["source HV01!"]
    assert own_view(destination, labelled, "source", False) == ["source HV02"]
    assert own_view(source, other, "source", False) == ["other source"]
    assert own_view(source, labelled, "destination", False) == ["destination HV01"]
    assert made == [
        ("HV01", "source", False),
        ("HV01", "destination", False),
        ("HV01", "source", True),
        ("HV02", "source", False),
    ]


def test_own_findings_and_own_view_of_one_work_are_kept_apart() -> None:
    """own_findings keeps the work's findings as a tuple under a key of its own: the same work
    asked through own_view still gets what the work returns, not the tuple."""
    source, _ = healthy_pair()

    def says(host: HostFacts, role: str) -> list[Finding]:
        return [passed(f"{host.name} as {role}", role)]

    kept = own_findings(source, says, "source")
    assert kept == (passed("HV01 as source", "source"),) and own_findings(source, says, "source") is kept
    assert own_view(source, says, "source") == list(kept)
