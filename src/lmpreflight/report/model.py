"""The report document. Its JSON Schema (``schemas/report.schema.json``) is generated from
these models, so the published schema and what the tool writes cannot drift apart."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lmpreflight.documents import RemediationOut
from lmpreflight.explain.model import Incident, OfOtherVms, Older
from lmpreflight.report.waivers import WaiverOut
from lmpreflight.vocabulary import RunPlace, Severity, Status

REPORT_SCHEMA_VERSION = 1


class Verdict(StrEnum):
    READY = "ready"
    NOT_READY = "not-ready"
    INCOMPLETE = "incomplete"


class ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AcceptedOut(ReportModel):
    """The waiver that accepts a result's risk: the result keeps its status but does not count."""

    reason: str
    by: str
    expires: date


class FixStepOut(ReportModel):
    """The check's own step in the remediation script (see ``lmpreflight.vocabulary.FixStep``)."""

    runs_on: RunPlace
    description: str
    needed: str | None = Field(description="PowerShell condition, true while the fix is still needed")
    change: str | None = Field(description="PowerShell that makes the change")
    manual: str | None = Field(description="What a person must decide, when the step is not automated")


class ResultOut(ReportModel):
    check_id: str
    title: str
    category: str
    severity: Severity
    status: Status
    subject: str = Field(description="'source', 'destination', 'pair' or 'vm:<name>'")
    host: str | None = Field(description="The host the result is about, when it is about one host")
    message: str
    evidence: dict[str, Any]
    explanation: str
    remediation: RemediationOut | None = Field(description="Absent for passing results")
    fix_step: FixStepOut | None = Field(None, description="The automated fix-script step, when the check has one")
    references: list[str]
    accepted: AcceptedOut | None = Field(
        default=None, description="Set when a waiver accepts this risk; the result then does not count in the verdict"
    )


class HostDetailOut(ReportModel):
    """A line a check adds to its host's card (``shows_on=(PathPart.HOST_DETAILS,)``)."""

    check_id: str
    label: str
    text: str
    status: Status


class HostOut(ReportModel):
    role: Literal["source", "destination"]
    target: str
    name: str
    fqdn: str | None
    os: str | None
    os_build: int | None
    authentication_type: str | None
    performance_option: str | None
    migration_networks: list[str]
    incoming_addresses: list[str]
    collected_at: datetime
    collection_method: str
    collection_errors: list[str]
    collected: bool = Field(
        default=True, description="False when nothing could be collected from the host: every fact shown is unknown"
    )
    details: list[HostDetailOut] = Field(default_factory=list, description="Lines the checks add to the host's card")


class PathOut(ReportModel):
    """What the migration-path picture shows, each part with the status of the checks behind it."""

    address: str | None = Field(description="The destination's migration address the source shares a subnet with")
    tcp_6600: Status | None
    forward_auth: Status | None = Field(description="Authentication and delegation towards the destination")
    reverse_auth: Status | None = Field(description="The same for moving back")
    auth_label: str
    source_status: Status
    destination_status: Status


class VmReadinessOut(ReportModel):
    vm: str
    status: Status
    blocking: list[str] = Field(description="VM checks that fail (or could not be evaluated) for this VM")
    warnings: list[str]


class RunOut(ReportModel):
    command: str
    run_from: str
    vms: list[str]
    skipped_checks: list[str]
    strict: bool
    include_storage: bool


class Summary(ReportModel):
    total: int
    counts: dict[Status, int]
    accepted: int = Field(default=0, description="Results whose risk a waiver accepts (counted in counts too)")


class Report(ReportModel):
    schema_version: int = REPORT_SCHEMA_VERSION
    tool: str = "lmpreflight"
    tool_version: str
    generated_at: datetime
    verdict: Verdict
    exit_code: int
    run: RunOut
    hosts: list[HostOut]
    summary: Summary
    path: PathOut
    results: list[ResultOut]
    vm_readiness: list[VmReadinessOut] = Field(
        default_factory=list, description="With no VM named: every VM on the source, judged by the VM checks alone"
    )
    events_collected: bool = Field(False, description="Whether the hosts' Hyper-V event logs were read (diagnose)")
    events_read: int = Field(0, description="How many Hyper-V events were read")
    incidents: list[Incident] = Field(default_factory=list, description="Recent migration failures, explained")
    incidents_of_other_vms: OfOtherVms = 0
    incidents_older: Older = 0
    held_fixes: dict[RunPlace, list[str]] = Field(
        default_factory=dict,
        description="Places whose fix-script changes are held back, with why: a check guarding them did not pass",
    )
    waivers: list[WaiverOut] = Field(
        default_factory=list, description="The accepted risks given with --waivers, and what became of each"
    )

    def host_by_role(self, role: str) -> HostOut:
        return next(h for h in self.hosts if h.role == role)
