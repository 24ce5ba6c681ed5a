"""Each VM to move: presence, configuration version, processor, switches, memory, storage, devices."""

from __future__ import annotations

from collections.abc import Iterator

from lmpreflight.checks._helpers import (
    TROUBLESHOOT_GUIDE,
    USE_GUIDE,
    VM_VERSION_GUIDE,
    parse_version,
    selected_vms,
    vm_subject,
)
from lmpreflight.escape import ps_literal
from lmpreflight.facts.model import WHOLE_HOST, CompatibilityVerdict, VirtualMachine
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    NotApplicable,
    Remediation,
    Severity,
    failed,
    info,
    passed,
    warned,
)

MINIMUM_VERSION = (5, 0)
GIB = 1024**3


def _present_vms(context: Context) -> Iterator[VirtualMachine]:
    """The selected VMs that exist on the source; absent ones are reported by vm.exists-on-source."""
    if not context.vms:
        raise NotApplicable("no VM was selected (--vm)")
    present = [vm for _name, vm in selected_vms(context) if vm is not None]
    if not present:
        raise NotApplicable("none of the selected VMs exists on the source")
    yield from present


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
    this lists every VM on the source so the admin sees what is there."""
    source_vms = context.required("source").vms
    if not context.vms:
        names = [vm.name for vm in source_vms]
        yield info(
            f"{len(names)} VM(s) on {context.source.name}: {', '.join(names) or 'none'}; name them with --vm",
            "source",
            evidence={"vms": names},
        )
        return
    for name, vm in selected_vms(context):
        if vm is None:
            yield failed(
                f"no VM named '{name}' on {context.source.name} (VMs there: {', '.join(v.name for v in source_vms) or 'none'})",
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
        powershell="Stop-VM -Name 'VM'; Update-VMVersion -Name 'VM'",
        run_on="the source host",
    ),
    references=(VM_VERSION_GUIDE,),
)
def configuration_version(context: Context) -> Iterator[Finding]:
    """A host can only run configuration versions in its supported list. Windows Server 2022
    and 2025 dropped 5.0–7.1, so 2016-era VMs must be upgraded before they move there; a
    VM below 5.0 (2012 R2 era) cannot live-migrate to any newer host."""
    destination = context.required("destination").migration
    supported = destination.supported_vm_versions
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        evidence = {"version": vm.version, "destination_supported": supported}
        upgrade = Remediation(
            text=(
                f"Shut down {vm.name} and upgrade its configuration version on {context.source.name}; "
                "this cannot be undone."
            ),
            powershell=f"Stop-VM -Name {ps_literal(vm.name)}; Update-VMVersion -Name {ps_literal(vm.name)} -Force",
            run_on=context.source.name,
        )
        version = parse_version(vm.version)
        known = [key for key in (parse_version(v) for v in supported) if key is not None]
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
                fix=upgrade,
                evidence=evidence,
            )
        elif not supported:
            yield warned(
                f"{context.destination.name} did not report its supported versions; cannot confirm it runs version {vm.version}",
                subject,
                evidence=evidence,
            )
        elif vm.version not in supported:
            newer = bool(known) and max(known) < version
            reason = (
                "is newer than anything the destination runs (move it to a newer host instead)"
                if newer
                else "is too old for the destination: Update-VMVersion is needed first, and it is irreversible"
            )
            yield failed(
                f"{vm.name} has configuration version {vm.version}, which {context.destination.name} cannot run (supported: {', '.join(supported)}); it {reason}",
                subject,
                fix=None if newer else upgrade,
                evidence=evidence,
            )
        else:
            yield passed(
                f"{vm.name} version {vm.version} is supported on {context.destination.name}",
                subject,
                evidence=evidence,
            )


@check(
    id="vm.processor-compatibility",
    title="The VM's processor features are available on the destination",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms", "hosts.processor"),
    remediation=Remediation(
        text=(
            "Between different processor models of one vendor, shut the VM down and enable processor "
            "compatibility. Between Intel and AMD, live migration is impossible: shut down and move (or export)."
        ),
        powershell="Set-VMProcessor -VMName 'VM' -CompatibilityForMigrationEnabled $true",
        run_on="the source host, with the VM off",
    ),
    references=(USE_GUIDE, TROUBLESHOOT_GUIDE),
)
def processor_compatibility(context: Context) -> Iterator[Finding]:
    """A running VM keeps the processor features it booted with. The destination must offer
    all of them: across vendors never, across models of one vendor only when processor
    compatibility mode limited the VM to a common feature set ("The hardware on the
    destination computer is not compatible", "processor-specific features not supported").
    Where `check` could carry the VM's compatibility information from the source to the
    destination, Hyper-V's own verdict (CheckSystemCompatibilityInfo) decides: 0 accepts,
    32784 rejects, any other answer is no verdict. Without a verdict, different models of one
    vendor are a warning (unconfirmed), never a failure: model names do not say which
    features differ."""
    source_cpu = context.required("source").processor
    dest_cpu = context.required("destination").processor
    verdicts = {v.vm.casefold(): v for v in context.destination.compatibility or []}
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        verdict = verdicts.get(vm.name.casefold())
        evidence = {
            "source_processor": f"{source_cpu.manufacturer} {source_cpu.name}",
            "destination_processor": f"{dest_cpu.manufacturer} {dest_cpu.name}",
            "compatibility_for_migration": vm.processor.compatibility_for_migration,
            "hyperv_verdict": verdict.model_dump() if verdict else None,
        }
        enable_compatibility = Remediation(
            text=f"Shut {vm.name} down, enable processor compatibility, start it again.",
            powershell=(
                f"Stop-VM -Name {ps_literal(vm.name)}; "
                f"Set-VMProcessor -VMName {ps_literal(vm.name)} -CompatibilityForMigrationEnabled $true; "
                f"Start-VM -Name {ps_literal(vm.name)}"
            ),
            run_on=context.source.name,
        )
        if source_cpu.manufacturer != dest_cpu.manufacturer:
            yield failed(
                f"{vm.name}: source CPU is {source_cpu.manufacturer}, destination is {dest_cpu.manufacturer}; "
                "live migration between vendors is not possible",
                subject,
                fix=Remediation(
                    text="Shut the VM down and move it offline (Move-VM of a stopped VM, or export and import).",
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
                    fix=enable_compatibility,
                    evidence=evidence,
                )
        elif source_cpu.name == dest_cpu.name or vm.processor.compatibility_for_migration:
            mode = "same processor model" if source_cpu.name == dest_cpu.name else "compatibility mode on"
            yield passed(f"{vm.name}: {mode}", subject, evidence=evidence)
        else:
            # Different model names of one vendor can share every feature the VM uses: only
            # Hyper-V's own comparison can tell, so without it this is unconfirmed, not a failure.
            yield warned(
                f"{vm.name}: processors differ ({source_cpu.name} → {dest_cpu.name}), processor "
                f"compatibility is off, and Hyper-V's own verdict is missing ({_no_verdict_reason(context, vm, verdict)}): "
                "cannot confirm the destination offers every processor feature the VM uses",
                subject,
                fix=enable_compatibility,
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
        powershell="New-VMSwitch -Name 'SwitchName' -NetAdapterName 'NIC' -AllowManagementOS $false",
        run_on="the destination host",
    ),
    references=(TROUBLESHOOT_GUIDE,),
)
def switches_on_destination(context: Context) -> Iterator[Finding]:
    """Hyper-V reconnects each network adapter to the switch *of the same name* on the
    destination; if there is none the move fails (event 21125/21502, Compare-VM 33012 "Could
    not find Ethernet switch")."""
    names = {s.name for s in context.required("destination").switches}
    for vm in _present_vms(context):
        used = sorted({a.switch_name for a in vm.network_adapters if a.switch_name})
        missing = [s for s in used if s not in names]
        subject = vm_subject(vm.name)
        if missing:
            yield failed(
                f"{vm.name} uses switch(es) {', '.join(repr(s) for s in missing)} not present on {context.destination.name} (it has: {', '.join(sorted(names)) or 'none'})",
                subject,
                fix=Remediation(
                    text=f"Create the switch(es) on {context.destination.name} with the same names.",
                    powershell="; ".join(
                        f"New-VMSwitch -Name {ps_literal(s)} -NetAdapterName 'NIC' -AllowManagementOS $false"
                        for s in missing
                    ),
                    run_on=context.destination.name,
                ),
                evidence={"missing": missing, "destination_switches": sorted(names)},
            )
        else:
            yield passed(f"{vm.name}: switches {', '.join(used) or '(none)'} exist on the destination", subject)


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
)
def destination_memory(context: Context) -> Iterator[Finding]:
    """The destination must create a partition holding all the VM's current memory before the
    switch-over; short of it the move fails ("Insufficient system resources" 0x800705AA,
    "could not initialize memory" 0x8007000E). Several VMs moving together add up."""
    available = context.required("destination").memory.available_bytes
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
    references=(USE_GUIDE,),
)
def destination_storage(context: Context) -> Iterator[Finding]:
    """A move with storage copies every virtual disk to the destination while the VM runs. If
    the target volume fills up, the move fails after copying for a long time; a default path
    on a volume that does not exist fails at once."""
    if not context.include_storage:
        raise NotApplicable("the move keeps the VM's storage where it is (no --include-storage)")
    storage = context.required("destination").storage
    path = storage.default_vhd_path or storage.default_vm_path
    volume = next((v for v in storage.volumes if path and path.casefold().startswith(v.root.casefold())), None)
    total = 0
    for vm in _present_vms(context):
        disks = [d for d in vm.hard_drives if d.kind == "vhd"]
        size = sum((d.size_bytes or 0) + (d.parents_size_bytes or 0) for d in disks)
        total += size
        subject = vm_subject(vm.name)
        evidence = {"destination_path": path, "needed_bytes": size, "free_bytes": volume.free_bytes if volume else None}
        unknown = [d.path or "(no path)" for d in disks if d.size_bytes is None]
        if volume is not None and unknown:
            # A size that could not be read is not zero: a pass here would be a guess.
            error = context.source.error_for(f"vms.{vm.name}.hard_drives")
            yield warned(
                f"{vm.name}: the size of {', '.join(unknown)} could not be read"
                + (f" ({error.message})" if error else "")
                + f"; cannot tell whether it fits on {volume.root} ({volume.free_bytes / GIB:.0f} GiB free)",
                subject,
                evidence=evidence,
            )
        elif volume is None:
            yield failed(
                f"{context.destination.name}'s default storage path {path or '(none)'} is on no local volume",
                subject,
                evidence=evidence,
            )
        elif total > volume.free_bytes:
            yield failed(
                f"{vm.name} needs {size / GIB:.0f} GiB on {volume.root} of {context.destination.name}, which has "
                f"{volume.free_bytes / GIB:.0f} GiB free (selected VMs together: {total / GIB:.0f} GiB)",
                subject,
                evidence=evidence,
            )
        else:
            yield passed(
                f"{vm.name}: {size / GIB:.0f} GiB fits on {volume.root} ({volume.free_bytes / GIB:.0f} GiB free)",
                subject,
                evidence=evidence,
            )


def _is_shared(path: str) -> bool:
    return path.startswith("\\\\")


@check(
    id="vm.storage-reachable",
    title="The VM's files and media are reachable from the destination",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms",),
    remediation=Remediation(
        text="Move the storage with the VM (-IncludeStorage), or keep the VM on an SMB share both hosts reach; "
        "eject ISO files attached from local paths.",
        powershell="Move-VM -Name 'VM' -DestinationHost 'HV02' -IncludeStorage -DestinationStoragePath 'D:\\VMs\\VM'",
        run_on="the source host",
    ),
    references=(USE_GUIDE, TROUBLESHOOT_GUIDE),
)
def storage_reachable(context: Context) -> Iterator[Finding]:
    """A move without storage hands the destination the VM's file paths: they must be on
    storage it can open (an SMB share). Local files need a move *with* storage. An ISO
    attached from a local path fails on the destination with 0xC03A0014."""
    for vm in _present_vms(context):
        subject = vm_subject(vm.name)
        local_files = [vm.path, *(d.path for d in vm.hard_drives if d.kind == "vhd" and d.path)]
        local_files = [p for p in local_files if not _is_shared(p)]
        local_media = [d.path for d in vm.dvd_drives if d.path and not _is_shared(d.path)]
        problems: list[str] = []
        if local_media:
            problems.append(f"ISO attached from a local path: {', '.join(local_media)}")
        if local_files and not context.include_storage:
            problems.append(f"files on local storage ({local_files[0]}); the move needs -IncludeStorage")
        evidence = {"vm_path": vm.path, "local_files": local_files, "local_media": local_media}
        if problems:
            commands = (
                [f"Get-VMDvdDrive -VMName {ps_literal(vm.name)} | Set-VMDvdDrive -Path $null"] if local_media else []
            )
            yield failed(
                f"{vm.name}: " + "; ".join(problems),
                subject,
                fix=Remediation(
                    text="Eject local media, and move with storage or place the VM on shared storage.",
                    powershell="; ".join(commands) or None,
                    run_on=context.source.name,
                ),
                evidence=evidence,
            )
        else:
            where = "moves with the VM (-IncludeStorage)" if local_files else "is on shared storage"
            yield passed(f"{vm.name}: storage {where}", subject, evidence=evidence)


@check(
    id="vm.host-bound-devices",
    title="No devices that tie the VM to its host",
    category=Category.VM,
    severity=Severity.HIGH,
    needs=("source.vms",),
    remediation=Remediation(
        text="Remove pass-through disks and assigned (DDA) devices before the move; for a vTPM, make sure the "
        "destination can unlock the key protector (same guardian or HGS).",
        powershell="Get-VMAssignableDevice -VMName 'VM'; Get-VMHardDiskDrive -VMName 'VM' | Where-Object DiskNumber",
        run_on="the source host",
    ),
    references=(USE_GUIDE,),
)
def host_bound_devices(context: Context) -> Iterator[Finding]:
    """Pass-through disks and devices assigned with Discrete Device Assignment belong to the
    physical host; a VM using them cannot live-migrate. A vTPM's key protector must be
    openable on the destination, or the VM will not start there."""
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
        elif vm.tpm_enabled:
            yield warned(
                f"{vm.name} has a virtual TPM: the destination must trust the source's guardian to start it",
                subject,
                evidence={"tpm_enabled": True},
            )
        else:
            yield passed(f"{vm.name} uses no host-bound devices", subject)
