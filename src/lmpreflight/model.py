"""The vocabulary shared by checks, the runner and the reports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from lmpreflight.facts.model import HostFacts


class Status(StrEnum):
    """What a result says. ``skip`` and ``error`` belong to the runner: a check says
    pass/warn/fail/info; the runner says when it could not ask or the check broke."""

    PASS = "pass"
    INFO = "info"
    SKIP = "skip"
    WARN = "warn"
    ERROR = "error"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        """Sort key: the worse the status, the higher. Failures lead every report."""
        return _STATUS_RANK[self]


_STATUS_RANK = {
    Status.PASS: 0,
    Status.INFO: 1,
    Status.SKIP: 2,
    Status.WARN: 3,
    Status.ERROR: 4,
    Status.FAIL: 5,
}


class Severity(StrEnum):
    """How bad a failure of the check would be; a property of the check, not of a result."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class Category(StrEnum):
    DOMAIN = "domain"
    HYPERV = "hyperv"
    DELEGATION = "delegation"
    CREDSSP = "credssp"
    NETWORK = "network"
    VM = "vm"
    PLUGIN = "plugin"


MoveFrom = Literal["source", "remote"]
"""Where a move is started: in a session on the source host, or on any other machine."""

Json = Any
"""Evidence values: anything ``json.dumps`` accepts."""


@dataclass(frozen=True, slots=True)
class Remediation:
    """How to fix a failure: prose, PowerShell the admin can paste, and where to run it."""

    text: str
    powershell: str | None = None
    run_on: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation a check makes about one subject."""

    status: Status
    message: str
    subject: str = "pair"
    evidence: Mapping[str, Json] = field(default_factory=dict)
    remediation: Remediation | None = None


def passed(message: str, subject: str = "pair", *, evidence: Mapping[str, Json] | None = None) -> Finding:
    return Finding(Status.PASS, message, subject, evidence or {})


def info(message: str, subject: str = "pair", *, evidence: Mapping[str, Json] | None = None) -> Finding:
    return Finding(Status.INFO, message, subject, evidence or {})


def warned(
    message: str,
    subject: str = "pair",
    *,
    fix: Remediation | None = None,
    evidence: Mapping[str, Json] | None = None,
) -> Finding:
    return Finding(Status.WARN, message, subject, evidence or {}, fix)


def failed(
    message: str,
    subject: str = "pair",
    *,
    fix: Remediation | None = None,
    evidence: Mapping[str, Json] | None = None,
) -> Finding:
    return Finding(Status.FAIL, message, subject, evidence or {}, fix)


class NotApplicable(Exception):
    """Raised by a check when it does not apply to these hosts; the runner reports skip."""


class MissingFact(Exception):
    """Raised when a fact the check needs was not collected; the runner reports error."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass(frozen=True, slots=True)
class Context:
    """What a check sees: both hosts' facts, the VMs the user asked about, and options."""

    source: HostFacts
    destination: HostFacts
    vms: tuple[str, ...] = ()
    include_storage: bool = False
    move_from: MoveFrom | None = None
    """Where the admin will start the move; ``None``: where the setup guide says for the protocol."""
    storage_path: str | None = None
    """The -DestinationStoragePath the move will use; ``None``: the destination's default paths."""

    def starts_on_source(self) -> bool:
        """Whether the move will be started in a session on the source host. Given by the user
        (--move-from); otherwise the setup guide's way for the source's protocol: CredSSP moves
        are started on the source, Kerberos moves from anywhere."""
        if self.move_from is not None:
            return self.move_from == "source"
        migration = self.source.migration
        return migration is not None and migration.authentication_type == "CredSSP"

    def host(self, role: str) -> HostFacts:
        if role == "source":
            return self.source
        if role == "destination":
            return self.destination
        raise ValueError(f"unknown host role {role!r}")


CheckFunction = Callable[[Context], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Check:
    """A check: a pure function of the facts plus what a report needs to say about it."""

    id: str
    title: str
    category: Category
    severity: Severity
    needs: tuple[str, ...]
    references: tuple[str, ...]
    remediation: Remediation
    explanation: str
    function: CheckFunction

    def __call__(self, context: Context) -> list[Finding]:
        return list(self.function(context))


@dataclass(frozen=True, slots=True)
class Result:
    """A finding with the metadata of the check that made it: the unit every report renders."""

    check: Check
    finding: Finding

    @property
    def status(self) -> Status:
        return self.finding.status

    @property
    def remediation(self) -> Remediation:
        return self.finding.remediation or self.check.remediation
