"""The explanation document (explain --json, and the report's incidents)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field

from lmpreflight.documents import RemediationOut
from lmpreflight.explain.decode import Decoded

EXPLANATION_SCHEMA_VERSION = 1


class ExplainModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchOut(ExplainModel):
    kind: str = Field(description="code, event, message, vmm (System Center VMM job error) or wmi (Msvm return value)")
    value: str
    meaning: str
    decoded: Decoded | None = None
    causes: list[str]
    source: str | None
    language: str | None = Field(None, description="The UI language a message was recognised in")

    @property
    def known(self) -> bool:
        """Whether lmpreflight knows what this means: a number that only decodes into its
        structure (severity, facility, code) is not a recognised error."""
        return bool(self.causes or self.source or (self.decoded is not None and self.decoded.message))


class CheckOut(ExplainModel):
    check_id: str
    status: str
    message: str


class CauseOut(ExplainModel):
    id: str
    rank: int
    title: str
    why: str
    ranking: str = Field(description="Why the cause is ranked where it is: what names it, what confirms it")
    confidence: str = Field(description="high (confirmed by the hosts' facts), medium, low")
    score: float
    evidence: list[str]
    checks: list[CheckOut]
    fix: RemediationOut
    references: list[str]


class Explanation(ExplainModel):
    schema_version: int = EXPLANATION_SCHEMA_VERSION
    characters: int
    truncated: bool
    matches: list[MatchOut]
    causes: list[CauseOut]
    notes: list[str]

    @property
    def recognised(self) -> bool:
        """Something in the text is known (what decides explain's exit code)."""
        return any(match.known for match in self.matches)


class IncidentEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    time_created: datetime
    id: int
    level: str
    channel: str
    message: str


class Incident(BaseModel):
    """One failed migration: its events on both hosts and one explanation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    started: datetime
    vm: str | None
    hosts: list[str]
    events: list[IncidentEvent]
    explanation: Explanation


OfOtherVms = Annotated[
    int,
    Field(description="Failed moves found in the logs but not shown: they name VMs other than those given with --vm"),
]
Older = Annotated[
    int, Field(description="Failed moves found in the logs but not shown: older than the latest ones, which are shown")
]


class ShownIncidents(Protocol):
    """The failed moves shown, and how many found in the logs were left out: those of VMs
    not named with --vm, and the oldest beyond the latest MAX_INCIDENTS. An answer that shows
    none must not read as a clean log when failures were left out. The report and
    ``diagnose --evtx``'s own document both carry these fields, and how many events were read."""

    @property
    def events_read(self) -> int: ...
    @property
    def incidents(self) -> list[Incident]: ...
    @property
    def incidents_of_other_vms(self) -> int: ...
    @property
    def incidents_older(self) -> int: ...


class IncidentsFound(BaseModel):
    """What :func:`lmpreflight.explain.incidents.find_incidents` found (:class:`ShownIncidents`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incidents: list[Incident]
    incidents_of_other_vms: OfOtherVms = 0
    incidents_older: Older = 0
