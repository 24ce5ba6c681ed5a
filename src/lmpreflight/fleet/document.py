"""The plan document: the placement matrix as JSON, published as ``schemas/plan.schema.json``.

The schema is generated from these models. At fleet size (4,000 VMs × 200 destinations)
building one model object per cell would cost hundreds of MiB, so :func:`plan_json_chunks`
writes the same shape row by row from the matrix; the tests validate what it writes
against the generated schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lmpreflight._version import __version__
from lmpreflight.fleet.placement import Placement, PlacementMatrix, Problem, VmRow

PLAN_SCHEMA_VERSION = 1


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProblemOut(PlanModel):
    id: int = Field(description="Referred to by the cells and hosts")
    check_id: str
    title: str
    status: Literal["fail", "error", "warn"]
    subject: str = Field(description="'source', 'destination', 'pair' or 'vm:<name>' (as in the report)")
    host: str | None = Field(description="The host it is about, when it is about one host")
    message: str
    fix: str | None
    powershell: str | None
    run_on: str | None
    automated_fix: bool = Field(description="The remediation script (--fix-script of 'check') fixes it safely")


class HostOut(PlanModel):
    name: str = Field(description="As the inventory or the command line names it")
    target: str
    os: str | None
    collected: bool
    error: str | None = Field(description="Why nothing could be collected, when so")
    vm_count: int | None
    problems: list[int] = Field(description="Problems about this host alone, listed once (not per pair)")


class Placed(PlanModel):
    destination: str
    problems: list[int] = Field(description="Blocking problems first, then warnings")


class VmPlacement(PlanModel):
    source: str
    vm: str
    ready: list[Placed] = Field(description="Destinations that can take the VM now (warnings allowed unless strict)")
    after_fixes: list[Placed] = Field(description="Destinations that can after the named, automated fixes")
    blocked: list[Placed] = Field(description="Destinations that cannot without a decision (the blocking checks)")
    unknown: list[Placed] = Field(description="Destinations with facts missing to judge")


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
    schema_version: Literal[1]
    tool_version: str
    generated_at: datetime
    run: PlanRun
    exit_code: int = Field(description="0 every VM can move now, 1 some VM cannot, 3 unknown for some VM")
    summary: PlanSummary
    sources: list[str]
    destinations: list[str]
    hosts: list[HostOut]
    problems: list[ProblemOut]
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


def problem_out(index: int, problem: Problem) -> dict[str, Any]:
    return {
        "id": index,
        "check_id": problem.check_id,
        "title": problem.title,
        "status": problem.status.value,
        "subject": problem.subject,
        "host": problem.host,
        "message": problem.message,
        "fix": problem.fix,
        "powershell": problem.powershell,
        "run_on": problem.run_on,
        "automated_fix": problem.automated,
    }


def vm_placement(matrix: PlacementMatrix, row: VmRow) -> dict[str, Any]:
    placed: dict[str, list[dict[str, Any]]] = {name: [] for name in FIELDS.values()}
    for cell in matrix.cells(row):
        placed[FIELDS[cell.placement]].append({"destination": cell.destination, "problems": list(cell.problems)})
    return {"source": row.source, "vm": row.vm, **placed}


def without_destination(matrix: PlacementMatrix) -> list[str]:
    return [f"{row.source}/{row.vm}" for row in matrix.rows if "r" not in row.placements]


def plan_head(matrix: PlacementMatrix, info: PlanInfo) -> dict[str, Any]:
    """Everything but the problems and the VMs: small at any size (a fleet has a hundred
    thousand problems, each with its message and fix)."""
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
    }


def plan_json_chunks(matrix: PlacementMatrix, info: PlanInfo) -> Iterator[str]:
    """The JSON document piece by piece: the head, then one problem and one VM per piece."""
    head = json.dumps(plan_head(matrix, info), indent=2, ensure_ascii=False)
    yield head[: head.rindex("}")].rstrip() + ',\n  "problems": ['
    for index, problem in enumerate(matrix.problems):
        yield ("," if index else "") + "\n    " + json.dumps(problem_out(index, problem), ensure_ascii=False)
    yield '\n  ],\n  "vms": ['
    for index, row in enumerate(matrix.rows):
        yield ("," if index else "") + "\n    " + json.dumps(vm_placement(matrix, row), ensure_ascii=False)
    yield "\n  ]\n}\n"
