"""The plan document: the placement matrix as JSON, published as ``schemas/plan.schema.json``.

The schema is generated from these models. At fleet size (4,000 VMs × 200 destinations)
building one model object per cell would cost hundreds of MiB, so :func:`plan_json_chunks`
writes the same shape piece by piece from the matrix; the tests validate what it writes
against the generated schema.

Version 2 writes each fact once. Version 1 gave every VM × destination cell the list of all
its problems, so a problem about a pair (every VM of it) or a host (every pair with it) was
named in thousands of cells, and every problem carried its check's title and a copy of a fix
most problems share: 162 MB for 200 hosts × 20 VMs, a third of it repetition. Here a cell is
a destination's name in one of its VM's placement lists; the problems every VM of a pair
shares are listed once per pair (``pairs``), a VM's own once per destination (``vms[].problems``);
a check's title is in ``checks`` and each distinct fix in ``remedies``. Version 1 documents
are described by ``schemas/plan.v1.schema.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lmpreflight._version import __version__
from lmpreflight.fleet.placement import SAME_HOST, Placement, PlacementMatrix, Problem, VmRow

PLAN_SCHEMA_VERSION = 2


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckOut(PlanModel):
    title: str


class RemedyOut(PlanModel):
    fix: str | None
    powershell: str | None
    run_on: str | None
    automated: bool = Field(description="The remediation script (--fix-script of 'check') makes the change safely")


class ProblemOut(PlanModel):
    check_id: str = Field(description="A key of 'checks'")
    status: Literal["fail", "error", "warn"]
    subject: str = Field(description="'source', 'destination', 'pair' or 'vm:<name>' (as in the report)")
    host: str | None = Field(description="The host it is about, when it is about one host")
    message: str
    remedy: int | None = Field(description="Index in 'remedies', when there is a fix")


class HostOut(PlanModel):
    name: str = Field(description="As the inventory or the command line names it")
    target: str
    os: str | None
    collected: bool
    error: str | None = Field(description="Why nothing could be collected, when so")
    vm_count: int | None
    problems: list[int] = Field(description="Problems about this host alone, listed once (not per pair)")


Problems = dict[str, list[int]]
"""Destination → indexes in 'problems'."""


class PairProblems(PlanModel):
    source: str
    problems: Problems = Field(
        description="Per destination, the problems every VM of the source has there (the pair's and the hosts')"
    )


class VmPlacement(PlanModel):
    source: str
    vm: str
    ready: list[str] = Field(description="Destinations that can take the VM now (warnings allowed unless strict)")
    after_fixes: list[str] = Field(description="Destinations that can after the named, automated fixes")
    blocked: list[str] = Field(description="Destinations that cannot without a decision (the blocking checks)")
    unknown: list[str] = Field(description="Destinations with facts missing to judge")
    problems: Problems = Field(
        description="Per destination, the problems of this VM alone there; with the pair's, all of the cell's"
    )


class PlanSummary(PlanModel):
    vms: int
    pairs: int = Field(description="(source, destination) pairs evaluated")
    ready: int = Field(description="VM × destination cells")
    after_fixes: int
    blocked: int
    unknown: int
    vms_without_destination: list[str] = Field(description="'SOURCE/VM' with no destination ready now")


class PlanRun(PlanModel):
    command: str
    run_from: str
    strict: bool
    include_storage: bool
    vms: list[str] = Field(description="VMs named with --vm; empty = every VM on the sources")
    skipped_checks: list[str]


class PlanDocument(PlanModel):
    schema_version: Literal[2]
    tool_version: str
    generated_at: datetime
    run: PlanRun
    exit_code: int = Field(description="0 every VM can move now, 1 some VM cannot, 3 unknown for some VM")
    summary: PlanSummary
    sources: list[str]
    destinations: list[str]
    hosts: list[HostOut]
    checks: dict[str, CheckOut] = Field(description="Every check with a problem, by id")
    remedies: list[RemedyOut] = Field(description="Each distinct fix once; problems refer to it by index")
    problems: list[ProblemOut] = Field(description="Each distinct problem once; referred to by index")
    pairs: list[PairProblems] = Field(description="One per source with problems shared by its VMs")
    vms: list[VmPlacement]


def plan_json_schema() -> str:
    """The JSON Schema of the plan document, as committed to ``schemas/plan.schema.json``."""
    schema = PlanDocument.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lmpreflight.dev/schemas/plan.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True, slots=True)
class PlanInfo:
    """How the plan was made, for the document's ``run``."""

    command: str
    run_from: str
    generated_at: datetime
    include_storage: bool = False
    vms: tuple[str, ...] = ()
    skipped_checks: tuple[str, ...] = ()


FIELDS = {
    Placement.READY: "ready",
    Placement.AFTER_FIXES: "after_fixes",
    Placement.BLOCKED: "blocked",
    Placement.UNKNOWN: "unknown",
}
BY_CODE_FIELD = {"r": "ready", "f": "after_fixes", "b": "blocked", "u": "unknown"}


Remedy = tuple[str | None, str | None, str | None, bool]


def remedy_of(problem: Problem) -> Remedy | None:
    if problem.fix is None and problem.powershell is None and problem.run_on is None and not problem.automated:
        return None
    return (problem.fix, problem.powershell, problem.run_on, problem.automated)


def problem_out(problem: Problem, remedies: dict[Remedy, int]) -> dict[str, Any]:
    remedy = remedy_of(problem)
    return {
        "check_id": problem.check_id,
        "status": problem.status.value,
        "subject": problem.subject,
        "host": problem.host,
        "message": problem.message,
        "remedy": None if remedy is None else remedies[remedy],
    }


def vm_placement(matrix: PlacementMatrix, row: VmRow) -> dict[str, Any]:
    placed: dict[str, list[str]] = {name: [] for name in FIELDS.values()}
    for destination, code in zip(matrix.destinations, row.placements, strict=True):
        if code != SAME_HOST:
            placed[BY_CODE_FIELD[code]].append(destination)
    own = {matrix.destinations[index]: list(ids) for index, ids in sorted(row.own.items())}
    return {"source": row.source, "vm": row.vm, **placed, "problems": own}


def without_destination(matrix: PlacementMatrix) -> list[str]:
    return [f"{row.source}/{row.vm}" for row in matrix.rows if "r" not in row.placements]


def plan_head(matrix: PlacementMatrix, info: PlanInfo) -> dict[str, Any]:
    """Everything but the problems, their fixes and the placements: small at any size (a
    fleet has a hundred thousand problems, each with its message)."""
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "tool_version": __version__,
        "generated_at": info.generated_at.isoformat(),
        "run": {
            "command": info.command,
            "run_from": info.run_from,
            "strict": matrix.strict,
            "include_storage": info.include_storage,
            "vms": list(info.vms),
            "skipped_checks": list(info.skipped_checks),
        },
        "exit_code": matrix.exit_code,
        "summary": {
            "vms": len(matrix.rows),
            "pairs": matrix.pairs,
            **{FIELDS[p]: matrix.count(p) for p in Placement},
            "vms_without_destination": without_destination(matrix),
        },
        "sources": matrix.sources,
        "destinations": matrix.destinations,
        "hosts": [
            {
                "name": host.name,
                "target": host.target,
                "os": host.os,
                "collected": host.collected,
                "error": host.error,
                "vm_count": host.vm_count,
                "problems": matrix.host_problems.get(host.name, []),
            }
            for host in matrix.hosts
        ],
        "checks": {
            check_id: {"title": title} for check_id, title in sorted({(p.check_id, p.title) for p in matrix.problems})
        },
    }


def _pair_problems(matrix: PlacementMatrix) -> Iterator[dict[str, Any]]:
    by_source: dict[str, dict[str, list[int]]] = {}
    for (source, index), ids in matrix.pair_problems.items():
        by_source.setdefault(source, {})[matrix.destinations[index]] = list(ids)
    for source in matrix.sources:
        shared = by_source.get(source)
        if shared:
            ordered = {d: shared[d] for d in matrix.destinations if d in shared}
            yield {"source": source, "problems": ordered}


def _items(name: str, pieces: Iterator[str], last: bool = False) -> Iterator[str]:
    """A list member of the document, one element per piece."""
    yield f'\n  "{name}": ['
    for index, piece in enumerate(pieces):
        yield ("," if index else "") + "\n    " + piece
    yield "\n  ]" + ("" if last else ",")


def plan_json_chunks(matrix: PlacementMatrix, info: PlanInfo) -> Iterator[str]:
    """The JSON document piece by piece: the head, then one remedy, problem, source's pairs
    and VM per piece."""
    remedies: dict[Remedy, int] = {}
    for problem in matrix.problems:
        remedy = remedy_of(problem)
        if remedy is not None:
            remedies.setdefault(remedy, len(remedies))
    head = json.dumps(plan_head(matrix, info), indent=2, ensure_ascii=False)
    yield head[: head.rindex("}")].rstrip() + ","

    def dumped(items: Iterator[dict[str, Any]]) -> Iterator[str]:
        return (json.dumps(item, ensure_ascii=False) for item in items)

    fields = ("fix", "powershell", "run_on", "automated")
    yield from _items("remedies", dumped(dict(zip(fields, remedy, strict=True)) for remedy in remedies))
    yield from _items("problems", dumped(problem_out(problem, remedies) for problem in matrix.problems))
    yield from _items("pairs", dumped(_pair_problems(matrix)))
    yield from _items("vms", dumped(vm_placement(matrix, row) for row in matrix.rows), last=True)
    yield "\n}\n"
