"""Small, pure helpers shared by check families: versions, names, references."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import TypeVar, TypeVarTuple

from lmpreflight.facts.model import CollectionError, HostFacts, VirtualMachine
from lmpreflight.vocabulary import Context, Finding, MissingFact, NotApplicable

LEARN = "https://learn.microsoft.com/windows-server/virtualization/hyper-v"
SETUP_GUIDE = f"{LEARN}/deploy/set-up-hosts-for-live-migration-without-failover-clustering"
USE_GUIDE = f"{LEARN}/manage/use-live-migration-without-failover-clustering-to-move-a-virtual-machine"
VM_VERSION_GUIDE = f"{LEARN}/deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server"
TROUBLESHOOT_GUIDE = (
    "https://learn.microsoft.com/troubleshoot/windows-server/virtualization/troubleshoot-live-migration-issues"
)

LIVE_MIGRATION_TROUBLESHOOTING = (
    "https://learn.microsoft.com/troubleshoot/windows-server/virtualization/hyper-v-virtual-machine-live-migration"
)
PROCESSOR_COMPATIBILITY = f"{LEARN}/manage/processor-compatibility-mode-hyper-v"
DYNAMIC_PROCESSOR_COMPATIBILITY = f"{LEARN}/manage/dynamic-processor-compatibility-mode"
NUMA_GUIDE = f"{LEARN}/manage/non-uniform-memory-access"
FILE_LOCATIONS = (
    "https://learn.microsoft.com/troubleshoot/windows-server/virtualization/hyper-v-vm-supported-file-locations"
)
CREDENTIAL_GUARD = (
    "https://learn.microsoft.com/windows/security/identity-protection/credential-guard/considerations-known-issues"
)
PROTECTED_USERS = (
    "https://learn.microsoft.com/windows-server/security/credentials-protection-and-management/"
    "protected-users-security-group"
)
KCD_OVERVIEW = "https://learn.microsoft.com/windows-server/security/kerberos/kerberos-constrained-delegation-overview"
CLIENT_HYPERV = "https://learn.microsoft.com/virtualization/hyper-v-on-windows/about/"


T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def parse_version(version: str) -> tuple[int, ...] | None:
    """Like :func:`version_key`, but ``None`` for a version that is not 'N.N'."""
    try:
        return version_key(version)
    except ValueError:
        return None


@cache
def version_key(version: str) -> tuple[int, ...]:
    """'9.0' → (9, 0); VM configuration versions compare numerically, not as text."""
    parts = []
    for piece in version.strip().split("."):
        if not piece.isdigit():
            raise ValueError(f"not a configuration version: {version!r}")
        parts.append(int(piece))
    return tuple(parts)


def need(value: T | None, path: str) -> T:
    """The value, or :class:`MissingFact` naming ``path`` so the runner reports an error."""
    if value is None:
        raise MissingFact(path)
    return value


def require_auth(context: Context, protocol: str) -> None:
    """Checks of one authentication protocol do not apply to a source using the other. (The
    source's settings are read directly, not through :meth:`Context.required`: several checks
    ask for every pair of a fleet.)"""
    source = need(context.source.migration, "source.migration")
    if source.authentication_type != protocol:
        raise NotApplicable(f"{context.source.name} authenticates live migration with {source.authentication_type}")


def both_hosts(context: Context) -> Iterator[tuple[str, HostFacts]]:
    yield "source", context.source
    yield "destination", context.destination


def own_view(host: HostFacts, work: Callable[[HostFacts, *Ts], T], *args: *Ts) -> T:
    """What ``work(host, *args)`` makes of ``host``'s facts alone, made once per host, work and
    arguments: a fleet judges each host against every other, and a pair check's own half of a
    comparison (what it says of one host, the names it looks for on it) is the same for every
    peer. The view is kept under ``work`` and ``args`` themselves, so no caller names what it
    depends on and no call is answered with a view made for other arguments; ``work`` is a
    module's function of the host and these arguments alone, which are plain values (a role, a
    flag). Kept by work, then by arguments, each looked up by subscript: a fleet asks for every
    pair, the work is found by identity, and a miss is once per host. A stand-in for the facts
    that records what a check reads is not a ``HostFacts``: it goes through the work every
    time, so that every read is seen."""
    if type(host) is not HostFacts:
        return work(host, *args)
    try:
        by_args = host.own_views[work]
    except KeyError:
        by_args = host.own_views[work] = {}
    try:
        found: T = by_args[args]
    except KeyError:
        found = by_args[args] = work(host, *args)
    return found


def own_findings(
    host: HostFacts, work: Callable[[HostFacts, *Ts], Iterable[Finding]], *args: *Ts
) -> tuple[Finding, ...]:
    """The findings ``work(host, *args)`` makes about ``host`` alone, made once per host, work and
    arguments (:func:`own_view`): the same finding objects for every peer, so a fleet also numbers them once."""
    return own_view(host, _tupled, work, *args)


def _tupled(host: HostFacts, work: Callable[[HostFacts, *Ts], Iterable[Finding]], *args: *Ts) -> tuple[Finding, ...]:
    """``work``'s findings kept as a tuple: :func:`own_findings` hands it and its arguments to
    :func:`own_view` as they are, building no callable for a call that finds the view made."""
    return tuple(work(host, *args))


def each_own_findings(context: Context, work: Callable[[HostFacts, str], Iterable[Finding]]) -> tuple[Finding, ...]:
    """The source's, then the destination's :func:`own_findings` of ``work`` for that role: all a
    check says when each host's facts alone decide what it says of that host. Handed back whole,
    not yielded one by one: a fleet asks for them for every pair."""
    return own_findings(context.source, work, "source") + own_findings(context.destination, work, "destination")


def selected_vms(context: Context) -> list[tuple[str, VirtualMachine | None]]:
    """The VMs the user named, each with its facts on the source (``None`` if absent)."""
    need(context.source.vms, "source.vms")
    find = context.source.vm
    return [(name, find(name)) for name in context.vms]


def vm_collection_error(context: Context, name: str) -> CollectionError | None:
    """The error the source recorded for the VM ``name`` itself: the collector could not read it,
    or its document did not fit the model, so the VM is left out of the facts without being absent."""
    section = f"vms.{name}".casefold()
    return next((e for e in context.source.errors if e.section.casefold() == section), None)


def vm_subject(name: str) -> str:
    return f"vm:{name}"
