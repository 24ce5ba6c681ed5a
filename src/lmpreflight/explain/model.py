"""The explanation document (explain --json, and the report's incidents)."""

from __future__ import annotations

from datetime import datetime

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
