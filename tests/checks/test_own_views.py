"""What a pair check says of one host by that host's facts alone is worked out once per host
(:func:`lmpreflight.checks._helpers.own_view`): the same findings for every peer, never for a
copy of the host with other facts, and never for the recording stand-in a fleet run uses."""

from __future__ import annotations

import pytest

from lmpreflight.checks._helpers import own_view
from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection, evaluate
from lmpreflight.vocabulary import Finding, Status
from tests.helpers import healthy_pair

CHECKS = load_checks(include_plugins=False)


def findings_about(host_role: str, check_id: str, source: HostFacts, destination: HostFacts) -> list[Finding]:
    results = evaluate(CHECKS, source, destination, Selection())
    return [r.finding for r in results if r.check.id == check_id and r.finding.subject == host_role]


def test_a_hosts_own_findings_are_made_once_for_all_its_peers() -> None:
    source, destination = healthy_pair()
    other_source = source.model_copy(update={"target": "hv01.corp.example"})
    first = findings_about("destination", "delegation.name-resolution", source, destination)
    again = findings_about("destination", "delegation.name-resolution", other_source, destination)
    assert first and all(a is b for a, b in zip(first, again, strict=True))
    fresh = findings_about("destination", "delegation.name-resolution", *healthy_pair())
    assert first == fresh


def test_a_copy_with_other_facts_is_judged_by_its_own_facts() -> None:
    source, destination = healthy_pair()
    assert [f.status for f in findings_about("destination", "identity.host-is-who-it-says", source, destination)] == [
        Status.PASS
    ]
    renamed = destination.model_copy(update={"target": "hv99"})
    (finding,) = findings_about("destination", "identity.host-is-who-it-says", source, renamed)
    assert finding.status == Status.FAIL and finding.message.startswith("hv99 is not confirmed as HV02")
    (still,) = findings_about("destination", "identity.host-is-who-it-says", source, destination)
    assert still.status == Status.PASS


def test_work_that_raises_is_not_kept() -> None:
    """A missing fact is raised again for the next peer (and named for that role), not remembered."""
    source, _ = healthy_pair()
    calls = []

    def work(host: HostFacts) -> int:
        calls.append(1)
        raise LookupError("not collected")

    for _ in range(2):
        with pytest.raises(LookupError):
            own_view(source, work)
    assert len(calls) == 2
