"""The vocabulary shared by checks, the runner and the reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, overload

from lmpreflight.escape import ps_literal
from lmpreflight.facts.model import (
    ClockFacts,
    CompatibilityVerdict,
    DirectoryFacts,
    DnsFacts,
    DomainMembership,
    EventRecord,
    HostFacts,
    HostMemory,
    HostProcessor,
    HyperVInfo,
    Identity,
    MigrationSettings,
    NetworkFacts,
    OsInfo,
    Rehearsal,
    ResolverFacts,
    SecurityFacts,
    SessionFacts,
    StorageFacts,
    VirtualMachine,
    VirtualSwitch,
)


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


class EvidenceModel(Protocol):
    """A check's own evidence type: a frozen dataclass whose fields are what the check saw.

    Whatever reads evidence beyond the report (the check's fix step) reads it through the
    typed model, so renaming a field is a type error, not a silently dropped fix."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


Evidence = Mapping[str, Json] | EvidenceModel
E = TypeVar("E")


VM_SUBJECT = "vm:"
"""A finding about one VM has the subject ``vm:<name>``."""
VM_NAME_PLACEHOLDER = "<VMName>"
"""Where a check's generic fix names the VM; filled in for a finding about one VM."""


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
    evidence: Evidence = field(default_factory=dict)
    remediation: Remediation | None = None

    def evidence_as(self, model: type[E]) -> E:
        """The evidence as the check's own model (a check's fix step reads it this way)."""
        if not isinstance(self.evidence, model):
            raise TypeError(f"evidence {self.evidence!r} is not a {model.__name__}")
        return self.evidence

    def evidence_fields(self) -> dict[str, Json]:
        """The evidence as plain JSON fields, as every report shows it."""
        if isinstance(self.evidence, Mapping):
            return dict(self.evidence)
        return dataclasses.asdict(self.evidence)


def passed(message: str, subject: str = "pair", *, evidence: Evidence | None = None) -> Finding:
    return Finding(Status.PASS, message, subject, evidence or {})


def info(message: str, subject: str = "pair", *, evidence: Evidence | None = None) -> Finding:
    return Finding(Status.INFO, message, subject, evidence or {})


def warned(
    message: str,
    subject: str = "pair",
    *,
    fix: Remediation | None = None,
    evidence: Evidence | None = None,
) -> Finding:
    return Finding(Status.WARN, message, subject, evidence or {}, fix)


def failed(
    message: str,
    subject: str = "pair",
    *,
    fix: Remediation | None = None,
    evidence: Evidence | None = None,
) -> Finding:
    return Finding(Status.FAIL, message, subject, evidence or {}, fix)


RunPlace = Literal["source", "destination", "directory"]
"""Where a fix step runs: on one of the two hosts, or against Active Directory."""
RUN_PLACES: tuple[RunPlace, ...] = ("source", "destination", "directory")


@dataclass(frozen=True, slots=True)
class FixStep:
    """One step of the remediation script, contributed by the check whose finding it fixes.

    ``needed`` is a PowerShell condition that is true while the fix is still needed (so the
    script can run twice); ``change`` makes the change. A step without them is ``manual``:
    an explanation of what a person must decide. Values reach PowerShell only through
    :mod:`lmpreflight.escape`."""

    runs_on: RunPlace
    description: str
    needed: str | None = None
    change: str | None = None
    manual: str | None = None


FixBuilder = Callable[[Finding, HostFacts], FixStep]
"""Builds the fix step for a failing or warning finding; gets the facts of the host the
finding is about (the source for pair and VM findings)."""


def subject_host(finding: Finding) -> RunPlace:
    """The host a finding is about, as a place to run a fix: the destination for destination
    findings, otherwise the source (pair and VM findings are fixed where the move starts)."""
    return "destination" if finding.subject == "destination" else "source"


def host_step(description: str, needed: str, change: str) -> FixBuilder:
    """A fixed change, the same for every finding, on the host the finding is about."""

    def build(finding: Finding, host: HostFacts) -> FixStep:
        return FixStep(subject_host(finding), description, needed, change)

    return build


class PathPart(StrEnum):
    """The parts of the report's migration-path picture a check can colour."""

    TCP_6600 = "tcp_6600"
    """The source's connection to the destination's migration address."""
    FORWARD_AUTH = "forward_auth"
    """Authentication and delegation towards the destination."""
    REVERSE_AUTH = "reverse_auth"
    """The same for moving the VM back."""
    HOST_DETAILS = "host_details"
    """A line on the host's card under "Host details": the check's title, then the message of
    its finding about that host (for facts worth seeing that no rule judges)."""


ShowsOn = PathPart | tuple[PathPart, str]
"""A place in the picture, optionally only for findings about one subject."""


class NotApplicable(Exception):
    """Raised by a check when it does not apply to these hosts; the runner reports skip."""


class MissingFact(Exception):
    """Raised when a fact the check needs was not collected; the runner reports error."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


F = TypeVar("F")


class _Required(Generic[F]):
    """One section of a host's facts, required: reading it when it was not collected raises
    :class:`MissingFact` naming its path, so a check never writes the path by hand."""

    name: str

    def __set_name__(self, owner: type[RequiredFacts], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, facts: None, owner: type[RequiredFacts]) -> _Required[F]: ...
    @overload
    def __get__(self, facts: RequiredFacts, owner: type[RequiredFacts]) -> F: ...
    def __get__(self, facts: RequiredFacts | None, owner: type[RequiredFacts]) -> F | _Required[F]:
        if facts is None:
            return self
        value: F | None = getattr(facts.host, self.name)
        if value is None:
            raise MissingFact(f"{facts.role}.{self.name}")
        return value


class RequiredFacts:
    """A host's fact sections as a check needs them: ``context.required("source").migration``
    is the source's migration settings, or :class:`MissingFact` ``source.migration``."""

    identity = _Required[Identity]()
    os = _Required[OsInfo]()
    domain = _Required[DomainMembership]()
    hyperv = _Required[HyperVInfo]()
    migration = _Required[MigrationSettings]()
    network = _Required[NetworkFacts]()
    switches = _Required[list[VirtualSwitch]]()
    vms = _Required[list[VirtualMachine]]()
    memory = _Required[HostMemory]()
    processor = _Required[HostProcessor]()
    clock = _Required[ClockFacts]()
    session = _Required[SessionFacts]()
    security = _Required[SecurityFacts]()
    storage = _Required[StorageFacts]()
    compatibility = _Required[list[CompatibilityVerdict]]()
    rehearsal = _Required[list[Rehearsal]]()
    directory = _Required[DirectoryFacts]()
    dns = _Required[DnsFacts]()
    events = _Required[list[EventRecord]]()
    resolver = _Required[ResolverFacts]()

    def __init__(self, host: HostFacts, role: str) -> None:
        self.host = host
        self.role = role


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Context:
    """What a check sees: both hosts' facts, the VMs the user asked about, and options.
    Weakly referable: what checks work out once per context is kept only as long as it lives."""

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

    def required(self, role: str) -> RequiredFacts:
        """The host's facts that raise :class:`MissingFact` with their own path when absent."""
        return RequiredFacts(self.host(role), role)


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
    fix: FixBuilder | None = None
    shows_on: tuple[tuple[PathPart, str | None], ...] = ()
    guards: tuple[RunPlace, ...] = ()
    quotes_destination: bool = False
    """The check uses the destination's names (``name``, ``full_name``, ``target``, ``identity.fqdn``,
    ``identity.computer_name``) only to put them into its findings' text: it never compares,
    measures or parses them, nor text built from them. A fleet run then reuses its findings
    for every destination that is otherwise alike, with each one's names put in
    (:class:`lmpreflight.runner.SourcePairs`); without it, each name is a value like any other."""

    def fix_step(self, finding: Finding, host: HostFacts) -> FixStep | None:
        """The remediation-script step for a failing or warning finding, if this check automates one."""
        if self.fix is None or finding.status not in (Status.FAIL, Status.WARN):
            return None
        return self.fix(finding, host)

    def colours(self, part: PathPart, finding: Finding) -> bool:
        """Whether this finding counts towards ``part`` of the migration-path picture."""
        return any(p == part and subject in (None, finding.subject) for p, subject in self.shows_on)

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
        """The finding's own fix, else the check's generic one with the VM it is about filled in
        for ``<VMName>``: a step shown for one VM names that VM, never a placeholder."""
        fix = self.finding.remediation or self.check.remediation
        vm = self.finding.subject.removeprefix(VM_SUBJECT) if self.finding.subject.startswith(VM_SUBJECT) else None
        if vm is None or not fix.powershell or VM_NAME_PLACEHOLDER not in fix.powershell:
            return fix
        return dataclasses.replace(fix, powershell=fix.powershell.replace(VM_NAME_PLACEHOLDER, ps_literal(vm)))
