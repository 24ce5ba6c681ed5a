"""Each VM to move: presence, configuration version, processor, switches, memory, storage, devices."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from functools import lru_cache

from lmpreflight.checks._helpers import (
    DYNAMIC_PROCESSOR_COMPATIBILITY,
    FILE_LOCATIONS,
    LEARN,
    LIVE_MIGRATION_TROUBLESHOOTING,
    NUMA_GUIDE,
    PROCESSOR_COMPATIBILITY,
    SETUP_GUIDE,
    TROUBLESHOOT_GUIDE,
    USE_GUIDE,
    VM_VERSION_GUIDE,
    need,
    parse_version,
    selected_vms,
    vm_collection_error,
    vm_subject,
)
from lmpreflight.escape import ps_literal
from lmpreflight.facts.model import WHOLE_HOST, CompatibilityVerdict, Rehearsal, VirtualMachine
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    MissingFact,
    NotApplicable,
    Remediation,
    Severity,
    Status,
    failed,
    info,
    passed,
    warned,
)

MINIMUM_VERSION = (5, 0)
GIB = 1024**3
STEADY_STATES = ("Running", "Off", "Saved", "Paused")
"""VM states a move can start from; the others (Stopping, Saving, Starting, ...) are transitions."""


_last_present: tuple[weakref.ref[Context] | None, tuple[VirtualMachine, ...]] = (None, ())
"""The last context's present VMs. Every VM check of a context asks for them (18 checks, once
for each of the thousands of VMs a host may report); a context is immutable, so the answer
holds for as long as the context asked about is that very one. The context is held weakly and
the answer dropped with it: held strongly, the last run's facts (every VM of its host) would
stay in memory after it."""


def _present_vms(context: Context) -> tuple[VirtualMachine, ...]:
    """The selected VMs that exist on the source; absent ones are reported by vm.exists-on-source."""
    global _last_present
    last, present = _last_present
    if last is None or last() is not context:
        present = _find_present(context)
        _last_present = (weakref.ref(context, _forget_present), present)
    return present


def _forget_present(gone: weakref.ref[Context]) -> None:
    global _last_present
    if _last_present[0] is gone:
        _last_present = (None, ())


def _find_present(context: Context) -> tuple[VirtualMachine, ...]:
    if not context.vms:
        raise NotApplicable("no VM was selected (--vm)")
    find = context.source.vm
    need(context.source.vms, "source.vms")
    present = tuple(vm for name in context.vms if (vm := find(name)) is not None)
    if not present:
        unread = [e for name in context.vms if (e := vm_collection_error(context, name)) is not None]
        if unread:
            raise MissingFact(f"source.{unread[0].section}")
        raise NotApplicable("none of the selected VMs exists on the source")
    return present


@check(
    id="vm.exists-on-source",
    title="Each selected VM exists on the source and is not clustered",
    category=Category.VM,
    severity=Severity.CRITICAL,
    needs=("source.vms",),
    remediation=Remediation(
        text="Check the VM name (Get-VM on the source). A clustered VM is moved with Move-ClusterVirtualMachineRole.",
        powershell="Get-VM | Format-Table Name, State, Version, IsClustered",
        run_on="the source host",
    ),
    references=(USE_GUIDE,),
)
def exists_on_source(context: Context) -> Iterator[Finding]:
    """A move names a VM on the source; a typo there fails at once. A clustered VM belongs to
    the cluster, and a move outside failover clustering is refused for it. With no VM named,
    this lists every VM on the source so the admin sees what is there.
    Source: the move guide."""
    source_vms = need(context.source.vms, "source.vms")
    if not context.vms:
        names = [vm.name for vm in source_vms]
        yield info(
            f"{len(names)} VM(s) on {context.source.name}: {', '.join(names) or 'none'}; name them with --vm",
            "source",
            evidence={"vms": names},
        )
        return
    for name, vm in selected_vms(context):
        unread = vm_collection_error(context, name) if vm is None else None
        if unread is not None:
            yield Finding(
                Status.ERROR,
                f"{name} could not be read on {context.source.name}: {unread.message}",
                vm_subject(name),
                evidence={"missing_fact": f"source.vms.{name}", "collection_error": unread.message},
                remediation=Remediation(
                    text=unread.hint or "Fix the collection problem above and run the check again."
                ),
            )
        elif vm is None:
            yield failed(
                f"no VM named '{name}' on {context.source.name} "
                f"(VMs there: {', '.join(v.name for v in source_vms) or 'none'}){_swapped_hint(context, name)}",
                vm_subject(name),
                evidence={"requested": name, "available": [v.name for v in source_vms]},
            )
        elif vm.is_clustered:
            yield failed(
                f"{vm.name} is a clustered VM on {context.source.name}; move it with the cluster's tools",
                vm_subject(vm.name),
                evidence={"is_clustered": True},
            )
        else:
            yield passed(
                f"{vm.name} found on {context.source.name} ({vm.state})",
                vm_subject(vm.name),
                evidence={"state": vm.state},
            )


def _swapped_hint(context: Context, name: str) -> str:
    """A VM missing on the source but present on the destination most often means the two
    hosts (or fact files) were given the wrong way round."""
    on_destination = next((vm for vm in context.destination.vms or [] if vm.name.casefold() == name.casefold()), None)
    if on_destination is None:
        return ""
    return f"; {on_destination.name} is on {context.destination.name}; did you swap SOURCE and DESTINATION?"


@check(
    id="vm.configuration-version",
    title="VM configuration version runs on the destination",
    category=Category.VM,
    severity=Severity.CRITICAL,
    needs=("source.vms", "destination.migration"),
    remediation=Remediation(
        text=(
            "Upgrade the VM's configuration version to one the destination supports. The VM must be shut down, "
            "and the upgrade cannot be undone: the VM can then no longer run on older hosts."
        ),
        powershell="Stop-VM -Name <VMName>; Update-VMVersion -Name <VMName>",
        run_on="the source host",
    ),
    references=(VM_VERSION_GUIDE,),
    quotes_destination=True,
)
def configuration_version(context: Context) -> Iterator[Finding]:
    """A host can only run configuration versions in its supported list (the VM version table).
    Windows Server 2022 and 2025 dropped 5.0–7.1, so 2016-era VMs must be upgraded before they
    move there; 5.0 is the only version Windows Server 2012 R2 runs. Upgrading is irreversible:
    don't upgrade until you're sure you won't move the VM back to an older host."""
    destination = need(context.destination.migration, "destination.migration")
    supported = destination.supported_vm_versions
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        evidence = {"version": vm.version, "destination_supported": supported}
        version = parse_version(vm.version)
        if version is None:
            yield warned(
                f"{vm.name} reports configuration version {vm.version!r}, which lmpreflight cannot read; "
                f"check it with Get-VM -Name {vm.name} | Select-Object Version",
                subject,
                evidence=evidence,
            )
        elif version < MINIMUM_VERSION:
            yield failed(
                f"{vm.name} has configuration version {vm.version}; live migration needs at least 5.0",
                subject,
                fix=_upgrade(context, vm),
                evidence=evidence,
            )
        elif not supported:
            yield warned(
                f"{context.destination.name} did not report its supported versions; cannot confirm it runs version {vm.version}",
                subject,
                evidence=evidence,
            )
        elif vm.version not in supported:
            known = [key for key in (parse_version(v) for v in supported) if key is not None]
            newer = bool(known) and max(known) < version
            reason = (
                "is newer than anything the destination runs (move it to a newer host instead)"
                if newer
                else "is too old for the destination: Update-VMVersion is needed first, and it is irreversible"
            )
            yield failed(
                f"{vm.name} has configuration version {vm.version}, which {context.destination.name} cannot run (supported: {', '.join(supported)}); it {reason}",
                subject,
                fix=None if newer else _upgrade(context, vm),
                evidence=evidence,
            )
        else:
            yield passed(
                f"{vm.name} version {vm.version} is supported on {context.destination.name}",
                subject,
                evidence=evidence,
            )


def _upgrade(context: Context, vm: VirtualMachine) -> Remediation:
    """The configuration-version upgrade of ``vm`` (built only for a VM that needs it)."""
    return Remediation(
        text=(
            f"Shut down {vm.name} and upgrade its configuration version on {context.source.name}; "
            "this cannot be undone: don't upgrade until you're sure you won't move it back to an older host."
        ),
        powershell=f"Stop-VM -Name {ps_literal(vm.name)}; Update-VMVersion -Name {ps_literal(vm.name)} -Force",
        run_on=context.source.name,
    )


COLD_STATES = ("Off",)
"""States in which a VM has no running processor state: it moves with a stop and restart."""
RELEASE_2025 = 26100


@check(
    id="vm.processor-compatibility",
    title="The VM's processor features are available on the destination",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms", "hosts.processor"),
    remediation=Remediation(
        text=(
            "Between different processor models of one vendor, shut the VM down and enable processor "
            "compatibility. Between Intel and AMD, only a VM that is shut down can move."
        ),
        powershell="Set-VMProcessor -VMName <VMName> -CompatibilityForMigrationEnabled $true",
        run_on="the source host, with the VM off",
    ),
    references=(PROCESSOR_COMPATIBILITY, USE_GUIDE, TROUBLESHOOT_GUIDE),
    quotes_destination=True,
)
def processor_compatibility(context: Context) -> Iterator[Finding]:
    """A running or saved VM keeps the processor features it booted with, and Hyper-V cancels a
    live migration or restore when the destination lacks any of them ("processor-specific
    features not supported"). Across vendors that is always so; across models of one vendor,
    processor compatibility mode limits the VM to a common set. A VM that is shut down moves
    with a stop and restart, which needs no compatibility ("not needed for VM moves that involve
    a stop and restart"), unless its checkpoints hold saved state (the use guide: with
    checkpoints and different processors the move fails). Hyper-V's own verdict on the
    destination (CheckSystemCompatibilityInfo) decides when `check` could obtain it: 0 accepts,
    32784 rejects, any other answer is no verdict; without it, different model names cannot be
    confirmed either way."""
    source_cpu = need(context.source.processor, "source.processor")
    dest_cpu = need(context.destination.processor, "destination.processor")
    verdicts = context.destination.compatibility_by_vm
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        verdict = verdicts.get(vm.name.casefold())
        evidence = {
            "state": vm.state,
            "checkpoints": vm.checkpoint_count,
            "source_processor": f"{source_cpu.manufacturer} {source_cpu.name}",
            "destination_processor": f"{dest_cpu.manufacturer} {dest_cpu.name}",
            "compatibility_for_migration": vm.processor.compatibility_for_migration,
            "hyperv_verdict": verdict.model_dump() if verdict else None,
        }
        same_model = source_cpu.manufacturer == dest_cpu.manufacturer and source_cpu.name == dest_cpu.name
        if vm.state in COLD_STATES and not same_model:
            if vm.checkpoint_count:
                yield warned(
                    f"{vm.name} is off, but its {vm.checkpoint_count} checkpoint(s) may hold saved state that "
                    f"{dest_cpu.manufacturer} {dest_cpu.name} cannot restore; run Compare-VM to confirm",
                    subject,
                    fix=_compare_vm(context, vm),
                    evidence=evidence,
                )
            else:
                yield info(
                    f"{vm.name} is off: it moves with a stop and restart, which needs no processor compatibility "
                    f"({source_cpu.name} → {dest_cpu.name})",
                    subject,
                    evidence=evidence,
                )
        elif source_cpu.manufacturer != dest_cpu.manufacturer:
            yield failed(
                f"{vm.name} is {vm.state}: source CPU is {source_cpu.manufacturer}, destination is "
                f"{dest_cpu.manufacturer}; a running or saved VM cannot move between vendors",
                subject,
                fix=Remediation(
                    text=f"Shut {vm.name} down; a VM that is off can move to the other vendor.",
                    powershell=f"Stop-VM -Name {ps_literal(vm.name)}",
                    run_on=context.source.name,
                ),
                evidence=evidence,
            )
        elif verdict is not None and verdict.compatible is not None:
            if verdict.compatible:
                yield passed(
                    f"{vm.name}: Hyper-V on {context.destination.name} accepts its processor state",
                    subject,
                    evidence=evidence,
                )
            else:
                reasons = "; ".join(verdict.reasons) or f"return value {verdict.return_value}"
                yield failed(
                    f"{vm.name}: Hyper-V on {context.destination.name} rejects it: {reasons}",
                    subject,
                    fix=_enable_compatibility(context, vm),
                    evidence=evidence,
                )
        elif same_model:
            yield passed(f"{vm.name}: same processor model on both hosts", subject, evidence=evidence)
        elif vm.processor.compatibility_for_migration:
            yield passed(f"{vm.name}: processor compatibility is on", subject, evidence=evidence)
        else:
            # Different model names of one vendor can share every feature the VM uses: only
            # Hyper-V's own comparison can tell, so without it this is unconfirmed, not a failure.
            yield warned(
                f"{vm.name}: processors differ ({source_cpu.name} → {dest_cpu.name}), processor compatibility is "
                f"off, and Hyper-V's own verdict is missing ({_no_verdict_reason(context, vm, verdict)}): "
                "cannot confirm the destination offers every processor feature the VM uses",
                subject,
                fix=_compare_vm(context, vm),
                evidence=evidence,
            )


def _enable_compatibility(context: Context, vm: VirtualMachine) -> Remediation:
    name = ps_literal(vm.name)
    return Remediation(
        text=f"Shut {vm.name} down, enable processor compatibility, start it again.",
        powershell=(
            f"Stop-VM -Name {name}; Set-VMProcessor -VMName {name} -CompatibilityForMigrationEnabled $true; "
            f"Start-VM -Name {name}"
        ),
        run_on=context.source.name,
    )


def _compare_vm(context: Context, vm: VirtualMachine) -> Remediation:
    return Remediation(
        text="Ask Hyper-V itself: Compare-VM lists what the destination cannot honour.",
        powershell=(
            f"(Compare-VM -Name {ps_literal(vm.name)} -DestinationHost "
            f"{ps_literal(context.destination.full_name)}).Incompatibilities | Format-Table MessageId, Message"
        ),
        run_on=context.source.name,
    )


@check(
    id="vm.processor-compatibility-mode",
    title="A 2025 VM's processor compatibility mode works outside a cluster",
    category=Category.VM,
    severity=Severity.MEDIUM,
    needs=("source.vms", "hosts.os"),
    remediation=Remediation(
        text="Use MinimumFeatureSet for VMs that move between standalone hosts (the VM must be off).",
        powershell=(
            "Set-VMProcessor -VMName <VMName> -CompatibilityForMigrationEnabled $true "
            "-CompatibilityForMigrationMode MinimumFeatureSet"
        ),
        run_on="the source host, with the VM off",
    ),
    references=(DYNAMIC_PROCESSOR_COMPATIBILITY,),
    quotes_destination=True,
)
def processor_compatibility_mode(context: Context) -> Iterator[Finding]:
    """Windows Server 2025's dynamic processor compatibility computes the feature set common to
    the nodes of a cluster (CommonClusterFeatureSet). A standalone host is a cluster of one, so
    the VM gets that host's full feature set, and a host with an older processor cannot honour
    it; Microsoft's guide says to use MinimumFeatureSet to move a running VM to hosts with older
    processors or outside the cluster."""
    dest_os = need(context.destination.os, "destination.os")
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        mode = vm.processor.compatibility_mode
        evidence = {"compatibility_mode": mode, "compatibility_for_migration": vm.processor.compatibility_for_migration}
        if not vm.processor.compatibility_for_migration or mode in (None, "MinimumFeatureSet"):
            yield passed(f"{vm.name}: compatibility mode {mode or 'not in use'}", subject, evidence=evidence)
        elif vm.state in COLD_STATES:
            yield info(f"{vm.name} uses {mode} but is off: it moves with a restart", subject, evidence=evidence)
        else:
            older = dest_os.build < RELEASE_2025
            yield warned(
                f"{vm.name} uses {mode}: its features are those of {context.source.name} alone"
                + (f", and {context.destination.name} is older than Windows Server 2025" if older else "")
                + "; a destination with an older processor cannot honour them (MinimumFeatureSet can move)",
                subject,
                fix=Remediation(
                    text=f"Shut {vm.name} down and switch it to MinimumFeatureSet.",
                    powershell=(
                        f"Stop-VM -Name {ps_literal(vm.name)}; Set-VMProcessor -VMName {ps_literal(vm.name)} "
                        "-CompatibilityForMigrationMode MinimumFeatureSet; "
                        f"Start-VM -Name {ps_literal(vm.name)}"
                    ),
                    run_on=context.source.name,
                ),
                evidence=evidence,
            )


def _no_verdict_reason(context: Context, vm: VirtualMachine, verdict: CompatibilityVerdict | None) -> str:
    """Why Hyper-V's verdict is missing, from the facts: the destination's error, or the source's."""
    if verdict is not None and verdict.error:
        return f"CheckSystemCompatibilityInfo on {context.destination.name}: {verdict.error}"
    error = context.source.error_for(f"vms.{vm.name}.compatibility_info")
    if error is not None and error.section != WHOLE_HOST:
        return f"GetSystemCompatibilityInfo on {context.source.name}: {error.message}"
    if context.destination.compatibility is None:
        return "the hosts were not collected together with `check`"
    return "no compatibility information was collected for this VM"


@check(
    id="vm.switches-on-destination",
    title="Every virtual switch the VM uses exists on the destination",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms", "destination.switches"),
    remediation=Remediation(
        text="Create a virtual switch with exactly the same name on the destination, or rename the existing one.",
        powershell="New-VMSwitch -Name <SwitchName> -NetAdapterName <NetAdapterName> -AllowManagementOS $false",
        run_on="the destination host",
    ),
    references=(TROUBLESHOOT_GUIDE,),
    quotes_destination=True,
)
def switches_on_destination(context: Context) -> Iterator[Finding]:
    """Hyper-V reconnects each network adapter to the switch *of the same name* on the
    destination; if there is none the move fails (event 21125/21502, Compare-VM 33012 "Could
    not find Ethernet switch").
    Source: the live-migration troubleshooting article (events 21502, 21125)."""
    switches = need(context.destination.switches, "destination.switches")
    names = {s.name for s in switches}
    folded = {s.name.casefold(): s.name for s in switches}
    for vm in _present_vms(context):
        used = sorted({a.switch_name for a in vm.network_adapters if a.switch_name})
        missing = [s for s in used if s not in names and s.casefold() not in folded]
        subject = vm_subject(vm.name)
        if missing:
            yield failed(
                f"{vm.name} uses switch(es) {', '.join(repr(s) for s in missing)} not present on {context.destination.name} (it has: {', '.join(sorted(names)) or 'none'})",
                subject,
                fix=_create_switches(context, missing),
                evidence={"missing": missing, "destination_switches": sorted(names)},
            )
        else:
            yield passed(f"{vm.name}: switches {', '.join(used) or '(none)'} exist on the destination", subject)


def _create_switches(context: Context, missing: list[str]) -> Remediation:
    """New-VMSwitch for each missing switch, of the type the source's switch of that name has:
    an internal or private switch needs no adapter; an external one needs the adapter that
    carries its network, which no fact says, so it stays a marked placeholder and the text
    lists the destination's candidates (its adapters other than the management one)."""
    types = {s.name.casefold(): s.switch_type for s in context.source.switches or []}
    network = context.destination.network
    candidates = [
        a.name
        for a in (network.adapters if network else [])
        if not a.is_management and not a.name.startswith("vEthernet")
    ]
    commands = []
    for name in missing:
        kind = types.get(name.casefold())
        if kind in ("Internal", "Private"):
            commands.append(f"New-VMSwitch -Name {ps_literal(name)} -SwitchType {kind}")
        else:
            commands.append(
                f"New-VMSwitch -Name {ps_literal(name)} -NetAdapterName <NetAdapterName> -AllowManagementOS $false"
            )
    quoted = ", ".join(f"'{c}'" for c in candidates)
    adapters = f" ({context.destination.name}'s adapters other than the management one: {quoted})" if candidates else ""
    return Remediation(
        text=(
            f"Create the switch(es) on {context.destination.name} with the same names and type as on "
            f"{context.source.name}; an external one on the adapter that carries that network{adapters}, "
            "not the management adapter, or the host loses its connection."
        ),
        powershell="\n".join(commands),
        run_on=context.destination.name,
    )


@check(
    id="vm.destination-memory",
    title="The destination has free memory for the VM",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms", "destination.memory"),
    remediation=Remediation(
        text="Free memory on the destination (stop or move other VMs) or lower the VM's startup memory.",
        run_on="the destination host",
    ),
    references=(TROUBLESHOOT_GUIDE,),
    quotes_destination=True,
)
def destination_memory(context: Context) -> Iterator[Finding]:
    """The destination must create a partition holding all the VM's current memory before the
    switch-over; short of it the move fails ("Insufficient system resources" 0x800705AA,
    "could not initialize memory" 0x8007000E). Several VMs moving together add up.
    Source: the live-migration troubleshooting article (0x800705AA, 0x8007000E)."""
    available = need(context.destination.memory, "destination.memory").available_bytes
    total_needed = 0
    for vm in _present_vms(context):
        needed = vm.memory.assigned_bytes or vm.memory.startup_bytes
        total_needed += needed
        subject = vm_subject(vm.name)
        evidence = {"needed_bytes": needed, "destination_available_bytes": available}
        if needed > available:
            yield failed(
                f"{vm.name} needs {needed / GIB:.1f} GiB; {context.destination.name} has {available / GIB:.1f} GiB free",
                subject,
                evidence=evidence,
            )
        elif total_needed > available:
            yield warned(
                f"{vm.name} fits alone, but the selected VMs together need {total_needed / GIB:.1f} GiB of {available / GIB:.1f} GiB free: move them one at a time",
                subject,
                evidence=evidence,
            )
        else:
            yield passed(
                f"{vm.name} needs {needed / GIB:.1f} GiB of {available / GIB:.1f} GiB free",
                subject,
                evidence=evidence,
            )


@check(
    id="vm.compute-fit",
    title="The destination has the processors the VM needs (vCPUs, and NUMA on Windows Server 2025)",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms", "destination.processor", "destination.os"),
    remediation=Remediation(
        text="Lower the VM's virtual processor count (VM off), or enable NUMA spanning on the destination.",
        powershell="Set-VMHost -NumaSpanningEnabled $true; Restart-Service -Name vmms",
        run_on="the destination host",
    ),
    references=(NUMA_GUIDE,),
    quotes_destination=True,
)
def compute_fit(context: Context) -> Iterator[Finding]:
    """A VM cannot have more virtual processors than the destination has logical processors.
    Since Windows Server 2025, without NUMA spanning a VM can use only the logical cores of one
    NUMA node, which "impacts start, restore, and live migration operations": a VM with more
    virtual processors than a node has needs NUMA spanning on the host and the VM.
    Source: NUMA in Hyper-V."""
    processor = need(context.destination.processor, "destination.processor")
    dest_os = need(context.destination.os, "destination.os")
    dest = context.destination.name
    nodes = processor.numa_nodes or []
    largest_node = max((n.logical_processors for n in nodes), default=None)
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        vcpus = vm.processor.count
        evidence = {
            "vcpus": vcpus,
            "destination_logical_processors": processor.logical_processors,
            "numa_spanning_enabled": processor.numa_spanning_enabled,
            "largest_numa_node": largest_node,
        }
        if processor.logical_processors is not None and vcpus > processor.logical_processors:
            yield failed(
                f"{vm.name} has {vcpus} virtual processors; {dest} has {processor.logical_processors} logical processors",
                subject,
                fix=Remediation(
                    text=f"Shut {vm.name} down and lower its processor count to at most {processor.logical_processors}.",
                    powershell=f"Set-VMProcessor -VMName {ps_literal(vm.name)} -Count {processor.logical_processors}",
                    run_on=context.source.name,
                ),
                evidence=evidence,
            )
        elif dest_os.build >= RELEASE_2025 and processor.numa_spanning_enabled is False and largest_node is not None:
            if vcpus > largest_node:
                yield failed(
                    f"{vm.name} has {vcpus} virtual processors, more than one NUMA node of {dest} ({largest_node}), "
                    f"and NUMA spanning is off on {dest} (Windows Server 2025): it cannot start or arrive there",
                    subject,
                    fix=Remediation(
                        text=f"Enable NUMA spanning on {dest} (restarts vmms), or lower {vm.name}'s processor count.",
                        powershell="Set-VMHost -NumaSpanningEnabled $true; Restart-Service -Name vmms",
                        run_on=dest,
                    ),
                    evidence=evidence,
                )
            else:
                yield passed(
                    f"{vm.name}: {vcpus} virtual processors fit one NUMA node of {dest} ({largest_node})",
                    subject,
                    evidence=evidence,
                )
        elif processor.logical_processors is None:
            yield warned(
                f"{dest}'s logical processor count is unknown; cannot confirm {vm.name}'s {vcpus} vCPUs fit",
                subject,
                evidence=evidence,
            )
        elif dest_os.build >= RELEASE_2025 and processor.numa_spanning_enabled is None:
            yield warned(
                f"{vm.name}: {vcpus} vCPUs fit {dest}'s {processor.logical_processors} logical processors, but "
                "whether NUMA spanning is on (Windows Server 2025 needs it for VMs larger than a node) is unknown",
                subject,
                evidence=evidence,
            )
        else:
            yield passed(
                f"{vm.name}: {vcpus} virtual processors fit {dest}'s {processor.logical_processors} logical processors",
                subject,
                evidence=evidence,
            )


@check(
    id="vm.migratable-state",
    title="The VM is in a state that can migrate (not backing up, stopping or in transition)",
    category=Category.VM,
    severity=Severity.MEDIUM,
    needs=("source.vms",),
    remediation=Remediation(
        text="Wait for the backup or state change to finish; a VM stuck in 'Backing up' needs the backup service "
        "and vmms restarted.",
        run_on="the source host",
    ),
    references=(LIVE_MIGRATION_TROUBLESHOOTING,),
)
def migratable_state(context: Context) -> Iterator[Finding]:
    """Microsoft's live-migration troubleshooting guide starts with: confirm the VM is in a
    supported state for migration, for example not in "Backing up" or "Stopping". A VM held by
    a backup cannot move until the backup releases it."""
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        status = vm.status or ""
        evidence = {"state": vm.state, "status": vm.status}
        if "backing up" in status.casefold():
            yield warned(
                f"{vm.name} is backing up ({vm.status}): it cannot move until the backup finishes",
                subject,
                fix=Remediation(
                    text="Wait for the backup; if it is stuck, restart the backup service and vmms.",
                    powershell="Restart-Service -Name vmms",
                    run_on=context.source.name,
                ),
                evidence=evidence,
            )
        elif vm.state not in STEADY_STATES:
            yield warned(
                f"{vm.name} is {vm.state}: wait for it to reach Running or Off before moving it",
                subject,
                evidence=evidence,
            )
        else:
            yield passed(f"{vm.name} is {vm.state} ({vm.status or 'status unknown'})", subject, evidence=evidence)


def _is_shared(path: str) -> bool:
    return path.startswith("\\\\")


@lru_cache(maxsize=65536)
def _is_root(path: str) -> bool:
    """D:\\ or \\server\\share: the root of a volume or a share, not a folder in it."""
    trimmed = path.rstrip("\\/")
    if _is_shared(path):
        return len([p for p in trimmed[2:].replace("/", "\\").split("\\") if p]) <= 2
    return len(trimmed) <= 2 and trimmed.endswith(":")


@lru_cache(maxsize=65536)
def _share_of(path: str) -> str:
    """\\server\\share of a UNC path (cached: a fleet asks for every VM file once per pair)."""
    parts = [p for p in path[2:].replace("/", "\\").split("\\") if p]
    return "\\\\" + "\\".join(parts[:2])


DISK_SUFFIXES = (".vhd", ".vhdx", ".avhd", ".avhdx", ".vhds")


def _folder_of(path: str) -> str:
    """The folder a VM file lives in (disk files), or the path itself (folders Hyper-V names)."""
    return path.rsplit("\\", 1)[0] if path.casefold().endswith(DISK_SUFFIXES) else path


def _vm_files(vm: VirtualMachine) -> list[str]:
    """Every file location a move without storage hands over: configuration, checkpoints,
    Smart Paging, virtual disks and their differencing parents."""
    paths = [vm.path, vm.configuration_location, vm.snapshot_file_location, vm.smart_paging_file_path]
    for disk in vm.hard_drives:
        if disk.kind == "vhd" and disk.path:
            paths.append(disk.path)
            paths.extend(disk.parent_paths or [])
    return list(dict.fromkeys(p for p in paths if p))


def _storage_size(vm: VirtualMachine) -> tuple[int, bool]:
    """Bytes a storage move copies (disks and their parents), and whether every size was known."""
    total, known = 0, True
    for disk in vm.hard_drives:
        if disk.kind != "vhd":
            continue
        if disk.size_bytes is None or disk.parents_size_bytes is None:
            known = False
        total += (disk.size_bytes or 0) + (disk.parents_size_bytes or 0)
    return total, known


@check(
    id="vm.destination-storage",
    title="With -IncludeStorage, the destination's storage path exists and has room",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms", "destination.storage"),
    remediation=Remediation(
        text="Free space on the destination volume, or choose another -DestinationStoragePath with room.",
        powershell="Get-Volume | Sort-Object SizeRemaining -Descending | Format-Table DriveLetter, SizeRemaining",
        run_on="the destination host",
    ),
    references=(USE_GUIDE, FILE_LOCATIONS),
    quotes_destination=True,
)
def destination_storage(context: Context) -> Iterator[Finding]:
    """A move with storage copies the virtual disks, their differencing parents, checkpoints and
    Smart Paging files (the use guide) to the destination path while the VM runs: the path the
    move names with -DestinationStoragePath (--storage-path), else the destination's default
    virtual hard disk path. If it fills up, the move fails after copying for a long time. A path
    on an SMB share is judged by the share's free space; VM files in the root of a volume or
    share are not a supported configuration."""
    if not context.include_storage:
        raise NotApplicable("the move keeps the VM's storage where it is (no --include-storage)")
    storage = need(context.destination.storage, "destination.storage")
    dest = context.destination.name
    path = context.storage_path or storage.default_vhd_path or storage.default_vm_path
    chosen = "storage path" if context.storage_path else "default storage path"
    free: int | None = None
    where = ""
    if path and _is_shared(path):
        share = next((s for s in storage.shares if path.casefold().startswith(s.path.rstrip("\\").casefold())), None)
        free = share.free_bytes if share else None
        where = _share_of(path)
    elif path:
        volume = next((v for v in storage.volumes if path.casefold().startswith(v.root.casefold())), None)
        free = volume.free_bytes if volume else None
        where = volume.root if volume else ""
    total = 0
    for vm in _present_vms(context):
        size, complete = _storage_size(vm)
        total += size
        subject = vm_subject(vm.name)
        evidence = {"destination_path": path, "needed_bytes": size, "free_bytes": free, "sizes_complete": complete}
        if path and _is_root(path):
            yield failed(
                f"{dest}'s {chosen} {path} is the root of a volume or share: Hyper-V does not support VM files "
                "there; use a folder in it",
                subject,
                evidence=evidence,
            )
        elif not path:
            yield failed(f"{dest} reports no default storage path; pass --storage-path", subject, evidence=evidence)
        elif free is None and _is_shared(path):
            yield warned(
                f"{dest}'s {chosen} {path} is on the share {where}, whose free space {dest} did not report; "
                f"{vm.name} needs {size / GIB:.0f} GiB there",
                subject,
                evidence=evidence,
            )
        elif free is None:
            yield failed(f"{dest}'s {chosen} {path} is on no local volume", subject, evidence=evidence)
        elif total > free:
            yield failed(
                f"{vm.name} needs {size / GIB:.0f} GiB on {where} of {dest}, which has {free / GIB:.0f} GiB free "
                f"(selected VMs together: {total / GIB:.0f} GiB)",
                subject,
                evidence=evidence,
            )
        elif not complete:
            # A size that could not be read is not zero: a pass here would be a guess.
            unknown = [
                d.path or "(no path)"
                for d in vm.hard_drives
                if d.kind == "vhd" and (d.size_bytes is None or d.parents_size_bytes is None)
            ]
            error = context.source.error_for(f"vms.{vm.name}.hard_drives")
            yield warned(
                f"{vm.name}: the size of {', '.join(unknown)} (or of its differencing parents) could not be read"
                + (f" ({error.message})" if error else "")
                + f"; cannot tell whether it fits on {where} ({free / GIB:.0f} GiB free)",
                subject,
                evidence=evidence,
            )
        else:
            yield passed(
                f"{vm.name}: {size / GIB:.0f} GiB fits on {where} ({free / GIB:.0f} GiB free)",
                subject,
                evidence=evidence,
            )


@check(
    id="vm.storage-reachable",
    title="The VM's files and media are reachable from the destination",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms",),
    remediation=Remediation(
        text="Move the storage with the VM (-IncludeStorage), or keep the VM on an SMB share both hosts reach; "
        "eject ISO files attached from local paths.",
        run_on="the source host",
    ),
    references=(USE_GUIDE, TROUBLESHOOT_GUIDE, SETUP_GUIDE),
    quotes_destination=True,
)
def storage_reachable(context: Context) -> Iterator[Finding]:
    """A move without storage hands the destination the VM's file paths: configuration,
    checkpoints, Smart Paging file, virtual disks and every differencing parent must be on
    storage it can open (an SMB share whose share and NTFS permissions give both hosts' computer
    accounts Full Control). Local files need a move *with* storage, which takes them all along.
    An ISO attached from a local path fails on the destination with 0xC03A0014, even when the
    same file exists there.
    Source: the move guide; the live-migration troubleshooting article (0xC03A0014, event 20413)."""
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        files = _vm_files(vm)
        local_files = [p for p in files if not _is_shared(p)]
        local_media = [d.path for d in vm.dvd_drives if d.path and not _is_shared(d.path)]
        unknown_chain = [d.path for d in vm.hard_drives if d.kind == "vhd" and d.path and d.parent_paths is None]
        problems: list[str] = []
        if local_media:
            problems.append(f"ISO attached from a local path: {', '.join(local_media)}")
        if local_files and not context.include_storage:
            problems.append(f"files on local storage ({', '.join(local_files)}); the move needs -IncludeStorage")
        evidence = {"vm_path": vm.path, "files": files, "local_files": local_files, "local_media": local_media}
        if problems:
            commands = (
                [f"Get-VMDvdDrive -VMName {ps_literal(vm.name)} | Set-VMDvdDrive -Path $null"] if local_media else []
            )
            yield failed(
                f"{vm.name}: " + "; ".join(problems),
                subject,
                fix=Remediation(
                    text="Eject local media, and move with storage or place every VM file on shared storage.",
                    powershell="; ".join(commands) or None,
                    run_on=context.source.name,
                ),
                evidence=evidence,
            )
        elif unknown_chain and not context.include_storage:
            yield warned(
                f"{vm.name}: the differencing parents of {', '.join(unknown_chain)} are unknown; a parent on local "
                "storage would fail the move",
                subject,
                fix=Remediation(
                    text="List each disk's parent chain.",
                    powershell=f"Get-VMHardDiskDrive -VMName {ps_literal(vm.name)} | ForEach-Object {{ Get-VHD -Path $_.Path }} | Format-List Path, ParentPath",
                    run_on=context.source.name,
                ),
                evidence=evidence,
            )
        elif local_files:
            yield passed(f"{vm.name}: storage moves with the VM (-IncludeStorage)", subject, evidence=evidence)
        else:
            shares = sorted({_share_of(p) for p in files})
            yield passed(
                f"{vm.name}: every file is on {', '.join(shares)}; {context.destination.name}'s computer account "
                "needs Full Control on the share and its folders",
                subject,
                evidence=evidence,
            )


@check(
    id="vm.file-locations",
    title="The VM's files are in folders, not in the root of a volume or share",
    category=Category.VM,
    severity=Severity.MEDIUM,
    needs=("source.vms",),
    remediation=Remediation(
        text="Move the VM's files into a folder (Move-VMStorage), for example D:\\VMs\\<VMName>.",
        powershell="Move-VMStorage -VMName <VMName> -DestinationStoragePath <FolderPath>",
        run_on="the source host",
    ),
    references=(FILE_LOCATIONS,),
)
def file_locations(context: Context) -> Iterator[Finding]:
    """Hyper-V VMs are supported only when their files are in a subfolder: Hyper-V must control
    the file permissions, which it cannot do in the root of a drive (D:\\) or of a share
    (\\server\\share). Moves of such VMs fail on permissions.
    Source: KB 2928127, Hyper-V VM supported file locations."""
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        roots = [p for p in _vm_files(vm) if _is_root(_folder_of(p))]
        if roots:
            yield failed(
                f"{vm.name} keeps files in the root of a volume or share: {', '.join(roots)}",
                subject,
                fix=Remediation(
                    text=f"Move {vm.name}'s files into a folder of their own.",
                    powershell=f"Move-VMStorage -VMName {ps_literal(vm.name)} -DestinationStoragePath <FolderPath>",
                    run_on=context.source.name,
                ),
                evidence={"in_root": roots},
            )
        else:
            yield passed(f"{vm.name}'s files are in folders", subject)


@check(
    id="vm.host-bound-devices",
    title="No pass-through disks or assigned devices that tie the VM to its host",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms",),
    remediation=Remediation(
        text="Remove pass-through disks and assigned (DDA) devices before the move.",
        powershell="Get-VMAssignableDevice -VMName <VMName>; Get-VMHardDiskDrive -VMName <VMName> | Where-Object DiskNumber",
        run_on="the source host",
    ),
    references=(
        USE_GUIDE,
        f"{LEARN}/plan/plan-for-deploying-devices-using-discrete-device-assignment",
    ),
)
def host_bound_devices(context: Context) -> Iterator[Finding]:
    """Pass-through disks and devices assigned with Discrete Device Assignment belong to the
    physical host; a VM using them cannot live-migrate (a VM's disks must be virtual hard disks
    or virtual Fibre Channel).
    Source: the move guide; planning for Discrete Device Assignment."""
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        passthrough = [d.path or "(disk)" for d in vm.hard_drives if d.kind == "passthrough"]
        if passthrough or vm.assigned_devices:
            yield failed(
                f"{vm.name} uses host-bound devices: "
                + ", ".join([*(f"pass-through disk {p}" for p in passthrough), *vm.assigned_devices]),
                subject,
                evidence={"passthrough": passthrough, "assigned_devices": vm.assigned_devices},
            )
        else:
            yield passed(f"{vm.name} uses no pass-through disks or assigned devices", subject)


@check(
    id="vm.shared-disks",
    title="No shared VHDX or VHD Set (guest-cluster disks)",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms",),
    remediation=Remediation(text="Shared virtual disks belong to guest clusters; move such VMs with the cluster."),
    references=(LIVE_MIGRATION_TROUBLESHOOTING,),
)
def shared_disks(context: Context) -> Iterator[Finding]:
    """Shared virtual disks (shared VHDX, VHD Sets) "can only be used in clustered VM roles and
    can't be migrated using standard methods" (live-migration troubleshooting guide)."""
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        shared = [
            d.path or "(disk)"
            for d in vm.hard_drives
            if d.kind == "vhd" and (d.shared or (d.path or "").lower().endswith(".vhds"))
        ]
        if shared:
            yield failed(
                f"{vm.name} has shared virtual disk(s) {', '.join(shared)}: they cannot be live-migrated",
                subject,
                fix=Remediation(
                    text="Detach the shared disks and reattach them on the destination, or move the guest cluster.",
                    powershell=f"Get-VMHardDiskDrive -VMName {ps_literal(vm.name)} | Where-Object SupportPersistentReservations",
                    run_on=context.source.name,
                ),
                evidence={"shared": shared},
            )
        elif any(d.kind == "vhd" and d.shared is None for d in vm.hard_drives):
            yield info(f"{vm.name}: whether its disks are shared was not read", subject)
        else:
            yield passed(f"{vm.name} has no shared virtual disks", subject)


@check(
    id="vm.fibre-channel-san",
    title="Every virtual SAN of the VM's Fibre Channel adapters exists on the destination",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms", "destination.storage"),
    remediation=Remediation(
        text="Create a virtual SAN with the same name on the destination, on its Fibre Channel HBAs.",
        powershell="New-VMSan -Name <SanName> -HostBusAdapter (Get-InitiatorPort)",
        run_on="the destination host",
    ),
    references=(f"{LEARN}/plan/virtual-fibre-channel-for-hyper-v",),
    quotes_destination=True,
)
def fibre_channel_san(context: Context) -> Iterator[Finding]:
    """A virtual Fibre Channel adapter is associated with a virtual SAN: a named group of the
    host's Fibre Channel ports connected to one physical SAN. Live migration keeps the LUNs
    available by alternating the adapter's two WWN sets, so the destination needs a virtual SAN
    of the same name, on ports that reach the same storage.
    Source: Hyper-V Virtual Fibre Channel."""
    storage = need(context.destination.storage, "destination.storage")
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        sans = vm.fibre_channel_sans
        if sans is None:
            raise MissingFact("source.vms.fibre_channel_sans")
        if not sans:
            yield passed(f"{vm.name} has no virtual Fibre Channel adapter", subject)
            continue
        have = need(storage.virtual_sans, "destination.storage.virtual_sans")
        missing = [san for san in sans if san.casefold() not in {h.casefold() for h in have}]
        if missing:
            yield failed(
                f"{vm.name} uses virtual SAN(s) {', '.join(missing)}, which {context.destination.name} lacks "
                f"(it has: {', '.join(have) or 'none'})",
                subject,
                fix=Remediation(
                    text=f"Create the virtual SAN(s) on {context.destination.name} with the same names.",
                    powershell="\n".join(
                        f"New-VMSan -Name {ps_literal(san)} -HostBusAdapter (Get-InitiatorPort)" for san in missing
                    ),
                    run_on=context.destination.name,
                ),
                evidence={"missing": missing, "destination_sans": have},
            )
        else:
            yield passed(f"{vm.name}: virtual SAN(s) {', '.join(sans)} exist on the destination", subject)


@check(
    id="vm.gpu-partition",
    title="GPU partition adapters support outgoing live migration",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms",),
    remediation=Remediation(
        text="Update the GPU driver on both hosts, or shut the VM down and move it offline.",
        powershell="Get-VMGpuPartitionAdapter -VMName <VMName> | Format-List InstancePath, SupportsOutgoingLiveMigration",
        run_on="the source host",
    ),
    references=("https://learn.microsoft.com/powershell/module/hyper-v/get-vmgpupartitionadapter", VM_VERSION_GUIDE),
)
def gpu_partition(context: Context) -> Iterator[Finding]:
    """A VM with a GPU partition adapter live-migrates only when the hardware and driver on both
    hosts allow it; Get-VMGpuPartitionAdapter's SupportsOutgoingLiveMigration "can be used to
    pre-validate a live migration". GPU partitioning needs VM configuration version 12.0."""
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        if vm.gpu_partitions is None:
            raise MissingFact("source.vms.gpu_partitions")
        if not vm.gpu_partitions:
            yield passed(f"{vm.name} has no GPU partition adapter", subject)
            continue
        refused = [
            g.instance_path or "(adapter)" for g in vm.gpu_partitions if g.supports_outgoing_live_migration is False
        ]
        unknown = [
            g.instance_path or "(adapter)" for g in vm.gpu_partitions if g.supports_outgoing_live_migration is None
        ]
        if refused:
            yield failed(
                f"{vm.name}'s GPU partition(s) {', '.join(refused)} do not support outgoing live migration",
                subject,
                evidence={"refused": refused},
            )
        elif unknown:
            yield warned(f"{vm.name}: whether its GPU partition can live-migrate was not reported", subject)
        else:
            yield passed(f"{vm.name}'s GPU partition(s) support outgoing live migration", subject)


@check(
    id="vm.vtpm-key-protector",
    title="The destination can unwrap a vTPM VM's key protector",
    category=Category.VM,
    severity=Severity.CRITICAL,
    needs=("source.vms", "destination.security"),
    remediation=Remediation(
        text=(
            "Export the source's 'Shielded VM Encryption/Signing Certificate (UntrustedGuardian)' certificates with "
            "their private keys and import them into the destination's 'Shielded VM Local Certificates' store."
        ),
        run_on="the source host (export) and the destination host (import)",
    ),
    references=(LIVE_MIGRATION_TROUBLESHOOTING,),
    quotes_destination=True,
)
def vtpm_key_protector(context: Context) -> Iterator[Finding]:
    """A VM with a virtual TPM is encrypted to its key protector's guardian. On a host outside a
    guarded fabric that is the local 'UntrustedGuardian', whose certificates live only on the
    host that created the VM: elsewhere the move fails with "The key protector for the virtual
    machine could not be unwrapped" until they are imported there (troubleshooting guide:
    export the key protector certificates from the source and import them on the destination)."""
    security = need(context.destination.security, "destination.security")
    dest = context.destination.name
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        if not vm.tpm_enabled:
            yield passed(f"{vm.name} has no virtual TPM", subject)
            continue
        if vm.shielded:
            yield info(f"{vm.name} is shielded: see vm.shielded-destination (HGS decides)", subject)
            continue
        owners = vm.key_protector.owner_thumbprints if vm.key_protector else None
        have = security.shielded_vm_certificates
        evidence = {"owner_thumbprints": owners, "destination_certificates": have}
        if owners is None or have is None:
            yield warned(
                f"{vm.name} has a virtual TPM; whether {dest} holds its key protector's certificates could not be "
                "read: without them it fails with 'The key protector for the virtual machine could not be unwrapped'",
                subject,
                evidence=evidence,
            )
            continue
        held = {h.casefold() for h in have}
        missing = [t for t in owners if t.casefold() not in held]
        if missing:
            yield failed(
                f"{vm.name} has a virtual TPM whose key protector {dest} cannot unwrap: certificate(s) "
                f"{', '.join(missing)} are not in its 'Shielded VM Local Certificates' store",
                subject,
                fix=Remediation(
                    text=(
                        f"On {context.source.name}, export the certificates (with private keys); import them on {dest}."
                    ),
                    powershell="\n".join(
                        [
                            *(
                                f"Export-PfxCertificate -Cert 'Cert:\\LocalMachine\\Shielded VM Local Certificates\\{t}' "
                                f"-FilePath <PfxFolder>\\{t}.pfx -Password (Read-Host -AsSecureString)"
                                for t in missing
                            ),
                            "# then on the destination:",
                            "Get-ChildItem <PfxFolder>\\*.pfx | Import-PfxCertificate -CertStoreLocation "
                            "'Cert:\\LocalMachine\\Shielded VM Local Certificates' -Exportable -Password (Read-Host -AsSecureString)",
                        ]
                    ),
                    run_on=f"{context.source.name}, then {dest}",
                ),
                evidence=evidence,
            )
        else:
            yield passed(f"{vm.name}: {dest} holds its key protector's certificates", subject, evidence=evidence)


@check(
    id="vm.shielded-destination",
    title="A shielded VM moves only to a guarded host that passes attestation",
    category=Category.VM,
    severity=Severity.CRITICAL,
    needs=("source.vms", "destination.security"),
    remediation=Remediation(
        text="Make the destination a guarded host of the same Host Guardian Service and confirm it attests.",
        powershell="Get-HgsClientConfiguration",
        run_on="the destination host",
    ),
    references=(
        "https://learn.microsoft.com/windows-server/security/guarded-fabric-shielded-vm/guarded-fabric-troubleshoot-hosts",
        LIVE_MIGRATION_TROUBLESHOOTING,
    ),
    quotes_destination=True,
)
def shielded_destination(context: Context) -> Iterator[Finding]:
    """A shielded VM's keys are released by the Host Guardian Service only to guarded hosts that
    pass attestation; on any other host it cannot start, so it cannot arrive.
    Source: troubleshooting guarded hosts; the live-migration troubleshooting guide."""
    security = need(context.destination.security, "destination.security")
    dest = context.destination.name
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        evidence = {"host_guarded": security.host_guarded, "attestation_status": security.attestation_status}
        if not vm.shielded:
            yield passed(f"{vm.name} is not shielded", subject)
        elif security.host_guarded is False:
            yield failed(f"{vm.name} is shielded and {dest} is not a guarded host", subject, evidence=evidence)
        elif security.host_guarded is None or security.attestation_status is None:
            yield warned(
                f"{vm.name} is shielded; {dest}'s guarded-host state could not be read", subject, evidence=evidence
            )
        elif security.attestation_status != "Passed":
            yield failed(
                f"{vm.name} is shielded and {dest} does not pass attestation ({security.attestation_status})",
                subject,
                evidence=evidence,
            )
        else:
            yield passed(f"{vm.name} is shielded and {dest} is guarded and attested", subject, evidence=evidence)


COMPARE_VM = "https://learn.microsoft.com/powershell/module/hyper-v/compare-vm"


def _rehearse_again(context: Context, rehearsal: Rehearsal) -> Callable[[str], Remediation]:
    """A fix for one VM's rehearsal: what to do, then the same Compare-VM the collector ran, with
    the VM's and destination's real names (each VM its own step, never a placeholder)."""
    storage = ""
    if rehearsal.include_storage:
        storage = " -IncludeStorage" + (
            f" -DestinationStoragePath {ps_literal(context.storage_path)}" if context.storage_path else ""
        )
    powershell = (
        f"(Compare-VM -Name {ps_literal(rehearsal.vm)} -DestinationHost {ps_literal(rehearsal.destination)}{storage})"
        ".Incompatibilities | Format-Table MessageId, Message"
    )
    return lambda text: Remediation(text=text, powershell=powershell, run_on=context.source.name)


NO_CREDENTIALS = "0x8009030E"


@check(
    id="vm.hyperv-rehearsal",
    title="Hyper-V's own dry run of the move (Compare-VM) finds nothing in the way",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms",),
    remediation=Remediation(
        text="Resolve each incompatibility Compare-VM lists (its MessageId and Message say what), then compare again.",
        powershell=(
            "(Compare-VM -Name <VMName> -DestinationHost <DestinationHost>).Incompatibilities "
            "| Format-Table MessageId, Message"
        ),
        run_on="the source host",
    ),
    references=(COMPARE_VM, USE_GUIDE, TROUBLESHOOT_GUIDE),
)
def hyperv_rehearsal(context: Context) -> Iterator[Finding]:
    """`check` runs Compare-VM on the source for each selected VM against the destination (with
    -IncludeStorage when storage moves) and shows Hyper-V's incompatibilities beside these
    checks. It runs in the tool's WinRM session, so it authenticates to the destination the way
    a move started from another machine does: "No credentials are available in the security
    package (0x8009030E)" there is evidence, not a crash: with CredSSP such a move cannot work
    (start it on the source), with Kerberos the source's constrained delegation is missing or not
    yet in effect. Compare-VM does not test the migration network, TCP 6600 or the transfer."""
    if context.source.rehearsal is None:
        raise NotApplicable("Compare-VM runs only in a live `check` naming VMs (--vm)")
    rehearsals = context.source.rehearsal_by_vm
    auth = context.source.migration.authentication_type if context.source.migration else None
    present = _present_vms(context)
    not_rehearsed = [vm.name for vm in present if vm.name.casefold() not in rehearsals]
    if len(not_rehearsed) == len(present):
        raise NotApplicable(
            f"Compare-VM did not run for {', '.join(not_rehearsed)}: it runs for the VMs named with --vm "
            "when the facts are collected"
        )
    for vm in present:
        rehearsal = rehearsals.get(vm.name.casefold())
        if rehearsal is None:
            continue
        subject = vm_subject(vm.name)
        evidence = {
            "destination": rehearsal.destination,
            "include_storage": rehearsal.include_storage,
            "incompatibilities": [i.model_dump() for i in rehearsal.incompatibilities],
            "error": rehearsal.error,
            "authentication_type": auth,
        }
        again = _rehearse_again(context, rehearsal)
        if rehearsal.error and NO_CREDENTIALS.casefold() in rehearsal.error.casefold():
            if auth == "CredSSP" and context.starts_on_source():
                # Run remotely, it could not hand on credentials; a move started on the source can.
                yield info(
                    f"{vm.name}: Compare-VM, run remotely, could not authenticate to {rehearsal.destination} with "
                    f"CredSSP ({NO_CREDENTIALS}), as expected; it could not rehearse the move started on "
                    f"{context.source.name}",
                    subject,
                    evidence=evidence,
                )
            elif auth == "CredSSP":
                yield warned(
                    f"{vm.name}: Compare-VM, started remotely like a move from another machine, could not "
                    f"authenticate to {rehearsal.destination} with CredSSP ({NO_CREDENTIALS}): start the move in a "
                    f"session on {context.source.name}",
                    subject,
                    fix=again(
                        f"Start the move, and Compare-VM, in a session on {context.source.name} "
                        f"(Enter-PSSession -ComputerName {ps_literal(context.source.full_name)})."
                    ),
                    evidence=evidence,
                )
            else:
                yield failed(
                    f"{vm.name}: Compare-VM could not authenticate from {context.source.name} to "
                    f"{rehearsal.destination} with Kerberos ({NO_CREDENTIALS}): the constrained delegation of "
                    f"{context.source.name} to the destination's migration service is missing or not yet in effect",
                    subject,
                    fix=again(
                        f"Fix {context.source.name}'s constrained delegation to the destination "
                        "(see delegation.spns-to-destination and delegation.protocol-transition), then compare again."
                    ),
                    evidence=evidence,
                )
        elif rehearsal.error:
            yield warned(
                f"{vm.name}: Compare-VM gave no report: {rehearsal.error}",
                subject,
                fix=again("Run Compare-VM again on the source and read what it says."),
                evidence=evidence,
            )
        elif rehearsal.incompatibilities:
            listed = "; ".join(
                f"{i.message_id}: {i.message}" if i.message_id is not None else i.message
                for i in rehearsal.incompatibilities
            )
            yield failed(
                f"{vm.name}: Compare-VM against {rehearsal.destination} lists {len(rehearsal.incompatibilities)} "
                f"incompatibilit{'y' if len(rehearsal.incompatibilities) == 1 else 'ies'}: {listed}",
                subject,
                fix=again(
                    "Resolve each incompatibility Compare-VM lists (its MessageId and Message say what), "
                    "then compare again."
                ),
                evidence=evidence,
            )
        else:
            yield passed(
                f"{vm.name}: Compare-VM against {rehearsal.destination} lists no incompatibilities",
                subject,
                evidence=evidence,
            )
