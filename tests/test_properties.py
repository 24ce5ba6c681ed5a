"""Properties that hold for any facts: checks never break, results are deterministic, facts round-trip."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmpreflight.facts.model import HOST_SECTIONS, HostFacts
from lmpreflight.vocabulary import Status
from tests.helpers import example_docs, full_run

OPTIONAL = [*HOST_SECTIONS, "directory", "dns"]
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
NAME = st.text(
    alphabet=st.characters(
        blacklist_characters=[*map(chr, range(0x20)), "\x85", "\u2028", "\u2029"], blacklist_categories=("Cs",)
    ),
    max_size=12,
)
"""A name a fact file can hold: one line, no control characters."""


def _vary(doc: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for section in draw(st.lists(st.sampled_from(OPTIONAL), max_size=4, unique=True)):
        doc[section] = None
        doc["errors"].append({"section": section, "message": "lost", "hint": None})
    if doc.get("migration") and draw(st.booleans()):
        doc["migration"]["authentication_type"] = draw(st.sampled_from(["CredSSP", "Kerberos"]))
        doc["migration"]["performance_option"] = draw(st.sampled_from(["TCPIP", "Compression", "SMB"]))
        doc["migration"]["use_any_network"] = draw(st.booleans())
        doc["migration"]["networks"] = draw(
            st.lists(
                st.sampled_from(
                    [{"subnet": s, "priority": 0} for s in ("10.0.50.0/24", "10.0.60.0/24", "10.0.10.12", "fd00::/64")]
                ),
                max_size=3,
                unique_by=lambda n: n["subnet"],
            )
        )
        doc["migration"]["supported_vm_versions"] = draw(
            st.lists(st.sampled_from(["5.0", "8.0", "9.0", "10.0"]), unique=True)
        )
    if doc.get("vms") and draw(st.booleans()):
        for vm in doc["vms"]:
            vm["version"] = draw(st.sampled_from(["4.0", "5.0", "7.1", "9.0", "10.0", "12.0", "", "9", "x.y"]))
            vm["network_adapters"] = [{"name": "n", "switch_name": draw(st.one_of(st.none(), NAME))}]
            vm["dvd_drives"] = draw(st.lists(st.builds(lambda p: {"path": p, "kind": "iso"}, TEXT), max_size=2))
            vm["hard_drives"] = draw(
                st.lists(
                    st.builds(
                        lambda p, k, n: {"path": p, "kind": k, "size_bytes": n},
                        st.one_of(st.none(), TEXT),
                        st.sampled_from(["vhd", "passthrough"]),
                        st.one_of(st.none(), st.integers(0, 2**40)),
                    ),
                    max_size=2,
                )
            )
    if doc.get("network") and draw(st.booleans()):
        doc["network"]["port_tests"] = draw(
            st.lists(
                st.builds(
                    lambda a, p, ok: {"address": a, "port": p, "succeeded": ok, "detail": None},
                    st.sampled_from(["10.0.50.11", "10.0.50.12", "10.0.10.12"]),
                    st.sampled_from([445, 6600]),
                    st.booleans(),
                ),
                max_size=4,
            )
        )
    if doc.get("directory") and doc["directory"].get("computer") and draw(st.booleans()):
        doc["directory"]["computer"]["user_account_control"] = draw(st.integers(0, 2**25))
        doc["directory"]["trusts"] = draw(
            st.lists(
                st.builds(
                    lambda p, d, t: {"partner": p, "direction": d, "trust_type": t, "transitive": True},
                    st.sampled_from(["corp.example", "lab.example"]),
                    st.sampled_from(["Inbound", "Outbound", "Bidirectional", "Disabled"]),
                    st.sampled_from(["Forest", "External", "ParentChild"]),
                ),
                max_size=2,
            )
        )
    if doc.get("domain") and draw(st.booleans()):
        doc["domain"]["domain"] = draw(st.sampled_from(["corp.example", "lab.example", "WORKGROUP"]))
        doc["domain"]["part_of_domain"] = draw(st.booleans())
    return doc


@st.composite
def pairs(draw: st.DrawFn) -> tuple[HostFacts, HostFacts, tuple[str, ...]]:
    source, destination = example_docs("healthy")
    vms = tuple(draw(st.lists(st.sampled_from(["SQL01", "WEB02", "NOPE", "sql01"]), max_size=3, unique=True)))
    return HostFacts.model_validate(_vary(source, draw)), HostFacts.model_validate(_vary(destination, draw)), vms


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs())
def test_checks_never_break_and_are_deterministic(pair: tuple[HostFacts, HostFacts, tuple[str, ...]]) -> None:
    source, destination, vms = pair
    results = full_run(source, destination, vms)
    broken = [
        (r.check.id, r.finding.message)
        for r in results
        if r.status is Status.ERROR
        and ("the check itself failed" in r.finding.message or "produced no result" in r.finding.message)
    ]
    assert broken == []
    assert all(r.finding.message for r in results)
    again = full_run(source, destination, vms)
    assert [(r.check.id, r.status, r.finding.message) for r in results] == [
        (r.check.id, r.status, r.finding.message) for r in again
    ]


@settings(max_examples=50, deadline=None)
@given(pairs())
def test_facts_survive_a_json_round_trip(pair: tuple[HostFacts, HostFacts, tuple[str, ...]]) -> None:
    for facts in pair[:2]:
        assert HostFacts.model_validate(json.loads(facts.model_dump_json())) == facts


CODEISH = st.one_of(
    st.text(max_size=200),
    st.builds(lambda n, t: f"{t} (0x{n:08X})", st.integers(0, 2**32 - 1), st.text(max_size=80)),
    st.builds(lambda n: f"error {n}", st.integers(-(2**33), 2**33)),
    st.builds(lambda n: f"Event ID {n}: failed", st.integers(0, 99_999)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(CODEISH, max_size=6).map(" ".join))
def test_explain_answers_any_text(text: str) -> None:
    from lmpreflight.explain.engine import explain_text

    explanation = explain_text(text)
    assert explanation.matches or explanation.notes, "always an answer: matches or a note saying what to paste"
    assert [c.rank for c in explanation.causes] == list(range(1, len(explanation.causes) + 1))
    for match in explanation.matches:
        assert match.meaning
