"""Small, pure helpers shared by check families: versions, names, references."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from functools import cache
from typing import ParamSpec, TypeVar

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
P = ParamSpec("P")


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


def own_view(host: HostFacts, key: Hashable, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """What ``work(*args, **kwargs)`` makes of ``host``'s facts alone, made once per host and ``key``:
    a fleet judges each host against every other, and a pair check's own half of a comparison
    (what it says of one host, the names it looks for on it) is the same for every peer. ``key``
    names the check and whatever else ``work`` depends on (the role, an option). The arguments are
    passed through, not bound into a new callable, because a fleet asks for every pair and finds
    the view made. A stand-in for the facts that records what a check reads is not a
    ``HostFacts``: it goes through the work every time, so that every read is seen."""
    if type(host) is not HostFacts:
        return work(*args, **kwargs)
    views = host.own_views
    if key in views:
        found: T = views[key]
        return found
    made = views[key] = work(*args, **kwargs)
    return made


def own_findings(
    host: HostFacts, key: Hashable, work: Callable[P, Iterable[Finding]], *args: P.args, **kwargs: P.kwargs
) -> tuple[Finding, ...]:
    """The findings ``work(*args, **kwargs)`` makes about ``host`` alone, made once per host and
    ``key`` (:func:`own_view`): the same finding objects for every peer, so a fleet also numbers them once."""
    return own_view(host, key, _tupled, work, *args, **kwargs)


def _tupled(work: Callable[P, Iterable[Finding]], /, *args: P.args, **kwargs: P.kwargs) -> tuple[Finding, ...]:
    """``work``'s findings kept as a tuple: :func:`own_findings` hands it and its arguments to
    :func:`own_view` as they are, building no callable for a call that finds the view made."""
    return tuple(work(*args, **kwargs))


def each_own_findings(
    context: Context, check_id: str, work: Callable[[HostFacts, str], Iterable[Finding]]
) -> tuple[Finding, ...]:
    """The source's, then the destination's :func:`own_findings` under ``(check_id, role)``: all a
    check says when each host's facts alone decide what it says of that host. Handed back whole,
    not yielded one by one: a fleet asks for them for every pair."""
    source, destination = context.source, context.destination
    return own_findings(source, (check_id, "source"), work, source, "source") + own_findings(
        destination, (check_id, "destination"), work, destination, "destination"
    )


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
