"""Simulated Windows hosts: what runs when a command reaches a lab host's shell.

A host answers what powershell.exe would: the lmpreflight collector (behind its stdin
bootstrap) with the scenario's facts in the collector's JSON, quirks included; single
fact queries (the naive one-command-per-fact pattern the benchmark compares against);
anything else with the error Windows prints. Faults come from the scenario: a host that
hangs, prints garbage, or drops the connection mid-collection. A host with ``replay:``
answers the collector with a recording made on a real host by ``--record``.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lmpreflight._version import __version__
from lmpreflight.collect.recording import Recording, read_recording
from lmpreflight.collect.script import BOOTSTRAP, END_OF_SCRIPT, LANGUAGE_MODE_MARKER
from lmpreflight.collect.winrm import STAGE_ONE_MARKER
from lmpreflight.facts.model import CATEGORY_PROFILE, FIREWALL_PROFILES, HOST_SECTIONS, FirewallRule
from lmpreflight.facts.windows import MIGRATION_PORT
from lmpreflight.lab.scenario import DnsChange, HostSpec, Scenario
from lmpreflight.lab.wsman import ConnectionDropped

FACT_QUERY = re.compile(r"^# lmpreflight-fact: (\w+)", re.M)
ENCODED = re.compile(r"powershell(?:\.exe)?\s+(?:-\w+(?:\s+(?!-)\S+)?\s+)*?-(?:encodedcommand|enc|e)\s+(\S+)", re.I)


def _unrolled(value: Any) -> Any:
    """``value`` with every one-item array, at any depth, unrolled into its item, as a
    pipeline's single result comes out of PowerShell (PowerShell/PowerShell#5579)."""
    if isinstance(value, list):
        items = [_unrolled(item) for item in value]
        return items[0] if len(items) == 1 else items
    if isinstance(value, dict):
        return {key: _unrolled(item) for key, item in value.items()}
    return value


def decode_script(command_line: str) -> str | None:
    match = ENCODED.search(command_line)
    if not match:
        return None
    try:
        return base64.b64decode(match.group(1)).decode("utf-16-le")
    except ValueError:
        return None


def _clixml_error(message: str) -> bytes:
    text = message.replace("\n", "_x000D__x000A_")
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        f'<S S="Error">{text}_x000D__x000A_</S></Objs>'
    ).encode()


class _Output:
    """Output that becomes visible at a given time, and an exit code."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.pending: list[tuple[float, str, bytes]] = []
        self.exit_at: tuple[float, int] | None = None
        self.dropped = False

    def emit(self, at: float, stream: str, data: bytes) -> None:
        with self.lock:
            self.pending.append((at, stream, data))
            self.lock.notify_all()

    def finish(self, at: float, code: int) -> None:
        with self.lock:
            self.exit_at = (at, code)
            self.lock.notify_all()

    def poll(self, timeout: float) -> tuple[bytes, bytes, int | None]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                now = time.monotonic()
                ready = [p for p in self.pending if p[0] <= now]
                finished = self.exit_at is not None and self.exit_at[0] <= now and len(ready) == len(self.pending)
                if ready or finished:
                    self.pending = [p for p in self.pending if p[0] > now]
                    out = b"".join(d for _, s, d in ready if s == "stdout")
                    err = b"".join(d for _, s, d in ready if s == "stderr")
                    return out, err, self.exit_at[1] if finished and self.exit_at else None
                if self.dropped and not self.pending:
                    raise ConnectionDropped()
                upcoming = [p[0] for p in self.pending] + ([self.exit_at[0]] if self.exit_at else [])
                wake = min([deadline, *upcoming])
                if now >= deadline:
                    return b"", b"", None
                self.lock.wait(max(0.001, wake - now))


class _ScriptProcess:
    """A powershell.exe that has already run its script."""

    def __init__(self, stdout: bytes, stderr: bytes, code: int, startup: float) -> None:
        self.output = _Output()
        at = time.monotonic() + startup
        if stdout:
            self.output.emit(at, "stdout", stdout)
        if stderr:
            self.output.emit(at, "stderr", stderr)
        self.output.finish(at, code)

    def feed_stdin(self, data: bytes, end: bool) -> None:
        return None

    def poll(self, timeout: float) -> tuple[bytes, bytes, int | None]:
        return self.output.poll(timeout)

    def terminate(self) -> None:
        return None


class _CollectorProcess:
    """powershell.exe running the stdin bootstrap: stage one at the end marker, stage two at end of input."""

    def __init__(self, host: LabHost, codepage: int) -> None:
        self.host = host
        self.encoding = "utf-8" if codepage == 65001 else "cp437"
        self.output = _Output()
        self.stdin = b""
        self.started = time.monotonic()
        self.stage_one_done = False
        self.finished = False
        self.hung = False
        """Stage one never returns (``fault: hang``), so the script never reads stage two, even
        when it came in the same Send (a host collected without a peer)."""

    def _at(self) -> float:
        return max(time.monotonic(), self.started + self.host.startup)

    def feed_stdin(self, data: bytes, end: bool) -> None:
        self.stdin += data
        marker = (END_OF_SCRIPT + "\r\n").encode()
        if not self.stage_one_done and marker in self.stdin:
            script, _, rest = self.stdin.partition(marker)
            self.stdin = rest
            self.stage_one_done = True
            self._stage_one(script.decode("utf-8"))
        if end and self.stage_one_done and not self.finished and not self.hung:
            self.finished = True
            self._stage_two(self.stdin.decode("utf-8").strip())

    def _stage_one(self, script: str) -> None:
        fault = self.host.spec.fault
        if "lmpreflight-collector" not in script:
            self.output.emit(self._at(), "stderr", _clixml_error("The script is not the lmpreflight collector."))
            self.output.finish(self._at(), 1)
            self.finished = True
        elif fault == "hang":
            self.hung = True
        elif fault == "garbage":
            self.output.emit(
                self._at(),
                "stdout",
                "Loading personal and system profiles took 812ms.\r\n"
                "Get-VMHost : Hyper-V encountered an error\r\n".encode(self.encoding),
            )
            self.output.finish(self._at(), 1)
            self.finished = True
        elif fault == "drop":
            partial = json.dumps(self.host.collector_document())
            self.output.emit(self._at(), "stdout", partial[: len(partial) // 3].encode(self.encoding))
            self.output.dropped = True
        else:
            if fault == "noisy":
                banner = "WARNING: This computer is managed by Contoso IT. Unauthorized use is prohibited.\r\n"
                self.output.emit(self._at(), "stdout", banner.encode(self.encoding))
            line = self.host.world.collector_json(self.host.collector_document(script)) + "\r\n"
            self.output.emit(self._at(), "stdout", line.encode(self.encoding, "replace"))

    def _stage_two(self, line: str) -> None:
        request = json.loads(line) if line else {}
        tests = []
        for target in request.get("tcp", []):
            address, port = target["address"], int(target["port"])
            outcome, source, detail = self.host.world.tcp_attempt(self.host.name, address, port)
            tests.append(
                {
                    "address": address,
                    "port": port,
                    "succeeded": outcome == "connected",
                    "outcome": outcome,
                    "source_address": source,
                    "detail": detail,
                }
            )
        verdicts = [
            self.host.check_compatibility(item["vm"], item["info"]) for item in request.get("compatibility", [])
        ]
        rehearsal = request.get("rehearsal")
        collapse = self.host.spec.collapse_single_arrays and len(tests) == 1
        answer = {
            "lmpreflight_port_tests": tests[0] if collapse else tests,
            "compatibility": verdicts,
            "rehearsal": self.host.rehearse(rehearsal) if rehearsal else None,
        }
        text = json.dumps(answer) + "\r\n"
        self.output.emit(self._at(), "stdout", text.encode(self.encoding))
        self.output.finish(self._at(), 0)

    def poll(self, timeout: float) -> tuple[bytes, bytes, int | None]:
        return self.output.poll(timeout)

    def terminate(self) -> None:
        with self.output.lock:
            self.finished = True
            self.output.lock.notify_all()


class _ReplayProcess:
    """powershell.exe answering as a recorded host did: the recorded stdout up to and
    including the stage-one line once the script has arrived, the rest of stdout, stderr and
    the exit code once stdin ends (or at once, when the recording has no stage one)."""

    def __init__(self, recording: Recording, startup: float) -> None:
        self.recording = recording
        self.output = _Output()
        self.started = time.monotonic() + startup
        self.stdin = b""
        marker = recording.stdout.find(STAGE_ONE_MARKER)
        end = recording.stdout.find(b"\n", marker) if marker >= 0 else -1
        self.split = end + 1 if end >= 0 else 0
        self.stage_one_sent = False
        self.finished = False
        if self.split == 0:
            self._finish(recording.stdout)

    def _at(self) -> float:
        return max(time.monotonic(), self.started)

    def _finish(self, stdout: bytes) -> None:
        self.finished = True
        if stdout:
            self.output.emit(self._at(), "stdout", stdout)
        if self.recording.stderr:
            self.output.emit(self._at(), "stderr", self.recording.stderr)
        self.output.finish(self._at(), self.recording.exit_code)

    def feed_stdin(self, data: bytes, end: bool) -> None:
        if self.finished:
            return
        self.stdin += data
        if not self.stage_one_sent and (END_OF_SCRIPT + "\r\n").encode() in self.stdin:
            self.stage_one_sent = True
            self.output.emit(self._at(), "stdout", self.recording.stdout[: self.split])
        if end and self.stage_one_sent:
            self._finish(self.recording.stdout[self.split :])

    def poll(self, timeout: float) -> tuple[bytes, bytes, int | None]:
        return self.output.poll(timeout)

    def terminate(self) -> None:
        return None


class LabHost:
    """One simulated Hyper-V host: a :class:`~lmpreflight.lab.wsman.CommandRunner`."""

    def __init__(self, world: LabWorld, name: str, startup: float = 0.0) -> None:
        self.world = world
        self.name = name
        self.spec: HostSpec = world.scenario.hosts[name]
        self.startup = startup

    def start(self, command_line: str, codepage: int) -> Any:
        script = decode_script(command_line)
        if script is None:
            program = command_line.split()[0] if command_line.split() else command_line
            return _ScriptProcess(
                b"",
                f"'{program}' is not recognized as an internal or external command,\r\n"
                "operable program or batch file.\r\n".encode(),
                1,
                0.0,
            )
        if script == BOOTSTRAP and self.spec.fault == "constrained-language":
            # The bootstrap's first statement, under an AppLocker or App Control policy.
            line = LANGUAGE_MODE_MARKER + ':"ConstrainedLanguage"}\r\n'
            return _ScriptProcess(line.encode(), b"", 3, self.startup)
        if script == BOOTSTRAP and self.spec.replay is not None:
            return _ReplayProcess(read_recording(Path(self.spec.replay)), self.startup)
        if script == BOOTSTRAP:
            return _CollectorProcess(self, codepage)
        query = FACT_QUERY.search(script)
        if query and self.spec.fault is None:
            section = query.group(1)
            value = self.collector_document()["sections"].get(section)
            return _ScriptProcess((json.dumps(value) + "\r\n").encode(), b"", 0, self.startup)
        return _ScriptProcess(
            b"", _clixml_error("The term is not recognized as the name of a cmdlet."), 1, self.startup
        )

    def collector_document(self, script: str = "") -> dict[str, Any]:
        """What the real collector would print on this host: the scenario's facts, with
        Hyper-V's compatibility information for the VMs the run names, and the scenario's
        events when the script asks for them."""
        named = named_vms(script)
        facts = self.world.facts(self.name)
        sections: dict[str, Any] = {name: facts.get(name) for name in HOST_SECTIONS if name != "clock"}
        if named and facts.get("vms"):
            sections["vms"] = [self._with_compatibility_info(vm, named) for vm in facts["vms"]]
        now = datetime.now(UTC) + timedelta(seconds=self.spec.clock_offset)
        domain = self.world.scenario.domains[self.spec.domain]
        sections["clock"] = {"host_utc": now.isoformat(), "time_source": domain.dc}
        if "Invoke-LmpSection 'events'" in script:
            sections["events"] = [
                {
                    "time_created": (now - timedelta(minutes=e.minutes_ago)).isoformat(),
                    "id": e.id,
                    "provider": "Microsoft-Windows-Hyper-V-VMMS",
                    "channel": e.channel,
                    "level": e.level,
                    "computer": str(facts.get("identity", {}).get("fqdn", self.name)),
                    "message": e.message,
                }
                for e in self.spec.events
            ]
        if isinstance(sections.get("session"), dict):
            sections["session"] = {**sections["session"], "user": self.world.client_user}
        if isinstance(sections.get("network"), dict):
            sections["network"] = {**network_with_defaults(sections["network"]), "port_tests": []}
        if sections.get("resolver") is None:
            sections["resolver"] = self.resolver_section(rendered_names(script, "LmpPeerNames"))
        errors = []
        for section, message in self.spec.section_errors.items():
            sections[section] = None
            errors.append({"section": section, "message": message, "hint": None})
        if self.spec.collapse_single_arrays:
            sections = {name: _unrolled(value) for name, value in sections.items()}
        return {
            "lmpreflight_collector": 1,
            "mode": "live",
            "tool_version": __version__,
            "computer_name": self.name,
            "user": self.world.client_user,
            "sections": sections,
            "errors": errors,
        }

    def _with_compatibility_info(self, vm: dict[str, Any], named: list[str]) -> dict[str, Any]:
        """The VM with what GetSystemCompatibilityInfo returns for it, when the run names it."""
        if vm["name"].casefold() not in {n.casefold() for n in named}:
            return vm
        processor = self.world.facts(self.name).get("processor") or {}
        info = {
            "host": self.name,
            "manufacturer": processor.get("manufacturer"),
            "model": processor.get("name"),
            "compatibility_mode": vm["processor"]["compatibility_for_migration"],
        }
        return {**vm, "compatibility_info": compatibility_blob(info)}

    def resolver_section(self, peer_names: list[str]) -> dict[str, Any]:
        """The resolver section as the collector prints it here: each peer name through this
        host's resolver (its hosts file, then its DNS view) and nltest's own printed output."""
        lookups = []
        for name in peer_names:
            addresses, error = self.world.resolve_on(self.name, name)
            lookups.append({"name": name, "addresses": addresses, "error": error})
        domain = (self.world.facts(self.name).get("domain") or {}).get("part_of_domain")
        locator = None
        if domain:
            exit_code, output = self.world.dc_locator_output(self.name)
            locator = {"domain": self.spec.domain, "exit_code": exit_code, "output": output}
        return {"peer_names": lookups, "dc_locator": locator}

    def rehearse(self, ask: dict[str, Any]) -> list[dict[str, Any]]:
        """What Compare-VM answers on this host, run in a WinRM session (a network logon, so
        it holds no credentials to hand on): with CredSSP the connection to the destination
        cannot authenticate; with Kerberos it needs this computer's constrained delegation
        with protocol transition to the destination's migration service. Then the report
        lists missing switches (MessageId 33012, the example in Microsoft's Compare-VM page)
        and processor features Hyper-V on the destination rejects. Not modelled: version and
        storage incompatibilities."""
        destination = self.world.host_named(str(ask.get("destination", "")))
        results = []
        for vm_name in ask.get("vms") or []:
            result: dict[str, Any] = {
                "vm": vm_name,
                "destination": ask.get("destination"),
                "include_storage": bool(ask.get("include_storage")),
                "incompatibilities": [],
                "error": None,
            }
            vm = next((v for v in self.world.facts(self.name).get("vms") or [] if v["name"] == vm_name), None)
            if vm is None:
                result["error"] = f'Hyper-V was unable to find a virtual machine with name "{vm_name}".'
            elif destination is None or not self._runs_hyperv(destination) or not self._reaches(destination, ask):
                result["error"] = (
                    f"The Virtual Machine Management Service on host '{ask.get('destination')}' is not available."
                )
            elif not self._finds_dc():
                result["error"] = (
                    f"Virtual machine migration operation for '{vm_name}' failed at migration source '{self.name}'. "
                    f"The Virtual Machine Management Service failed to authenticate the connection for a Virtual "
                    f"Machine migration at the source host: No authority could be contacted for authentication. "
                    f"(0x80090311)."
                )
            elif not self._can_authenticate_to(destination):
                result["error"] = (
                    f"Virtual machine migration operation for '{vm_name}' failed at migration source '{self.name}'. "
                    f"The Virtual Machine Management Service failed to authenticate the connection for a Virtual "
                    f"Machine migration at the source host: No credentials are available in the security package "
                    f"(0x8009030E)."
                )
            else:
                result["incompatibilities"] = self._incompatibilities(vm, destination)
            results.append(result)
        return results

    def _reaches(self, destination: str, ask: dict[str, Any]) -> bool:
        """Whether this host's own resolver leads the destination's name to the destination."""
        addresses, _ = self.world.resolve_on(self.name, str(ask.get("destination", "")))
        return any((found := self.world.owner_of(a)) is not None and found[0] == destination for a in addresses)

    def _finds_dc(self) -> bool:
        code, _ = self.world.dc_locator_output(self.name)
        return code == 0

    def _runs_hyperv(self, host: str) -> bool:
        hyperv = self.world.facts(host).get("hyperv") or {}
        return bool(hyperv.get("role_installed")) and hyperv.get("vmms_status") == "Running"

    def _can_authenticate_to(self, destination: str) -> bool:
        migration = self.world.facts(self.name).get("migration") or {}
        if migration.get("authentication_type") != "Kerberos":
            return False
        target = self.world.scenario.hosts[destination].account
        if target is not None and any(h.casefold() == self.name.casefold() for h in target.allowed_to_act_from):
            return True  # resource-based constrained delegation accepts the source's S4U tickets
        account = self.spec.account
        if account is None or not account.user_account_control & TRUSTED_TO_AUTH_FOR_DELEGATION:
            return False
        wanted = {
            f"microsoft virtual system migration service/{name}".casefold()
            for name in (destination, self.world.fqdn_of(destination))
        }
        return any(spn.casefold() in wanted for spn in account.allowed_to_delegate_to)

    def _incompatibilities(self, vm: dict[str, Any], destination: str) -> list[dict[str, Any]]:
        found = []
        switches = {s["name"] for s in self.world.facts(destination).get("switches") or []}
        for adapter in vm.get("network_adapters") or []:
            switch = adapter.get("switch_name")
            if switch and switch not in switches:
                found.append({"message_id": 33012, "message": f"Could not find Ethernet switch '{switch}'."})
        if vm.get("state") not in RUNNING_STATES:
            return found  # a VM that is off carries no processor state to compare
        peer = LabHost(self.world, destination)
        processor = self.world.facts(self.name).get("processor") or {}
        blob = compatibility_blob(
            {
                "manufacturer": processor.get("manufacturer"),
                "model": processor.get("name"),
                "compatibility_mode": vm["processor"]["compatibility_for_migration"],
            }
        )
        verdict = peer.check_compatibility(vm["name"], blob)
        if verdict["return_value"] == 32784:
            found.extend({"message_id": int(PROCESSOR_MESSAGE_ID), "message": r} for r in verdict["reasons"])
        return found

    def check_compatibility(self, vm: str, info: str) -> dict[str, Any]:
        """What CheckSystemCompatibilityInfo answers here for a VM that ran on another host, as
        documented: 0 compatible, 32784 not compatible with embedded Msvm_Error reasons, 32773
        (invalid parameter) for data it cannot read; without Hyper-V the CIM call itself fails."""
        hyperv = self.world.facts(self.name).get("hyperv") or {}
        if not hyperv.get("role_installed"):
            return _verdict(vm, None, None, error="Invalid namespace")
        blob = read_compatibility_blob(info)
        if blob is None:
            return _verdict(vm, None, 32773, error="CheckSystemCompatibilityInfo returned 32773")
        processor = self.world.facts(self.name).get("processor") or {}
        same_vendor = blob.get("manufacturer") == processor.get("manufacturer")
        if same_vendor and (blob.get("model") == processor.get("name") or blob.get("compatibility_mode")):
            return _verdict(vm, True, 0)
        message = (
            f"The virtual machine '{vm}' is using processor-specific features not supported on physical "
            f"computer '{self.name}'."
        )
        return _verdict(vm, False, 32784, [message], [msvm_error_instance(PROCESSOR_MESSAGE_ID, message)])


def _category(adapter: dict[str, Any]) -> str:
    """The connection profile Windows gives an adapter the scenario says nothing about: a network
    with a gateway (and the domain's DCs) is identified as the domain's; an isolated migration
    network is an unidentified network, which Windows puts in the Public profile."""
    return str(
        adapter.get("network_category") or ("DomainAuthenticated" if adapter.get("default_gateway") else "Public")
    )


def network_with_defaults(network: dict[str, Any]) -> dict[str, Any]:
    """The network section as a host reports it where the scenario is silent: each adapter's
    connection profile, the rule read from the active store (as the collector always does),
    assigned to every profile (its default, Profile Any), and every firewall profile on."""
    adapters = [{**a, "network_category": _category(a)} for a in network.get("adapters", [])]
    rule = network.get("migration_firewall_rule")
    if isinstance(rule, dict):
        rule = dict(rule)
        if rule.get("store") is None:
            rule["store"] = "ActiveStore"
        if rule.get("present") and rule.get("rule_profiles") is None:
            rule["rule_profiles"] = "Any"
        if rule.get("profiles") is None:
            rule["profiles"] = [{"name": name, "enabled": True} for name in FIREWALL_PROFILES]
    return {**network, "adapters": adapters, "migration_firewall_rule": rule}


def _firewall_admits(network: dict[str, Any], adapter: dict[str, Any]) -> bool:
    """Whether Windows Firewall lets TCP 6600 in on ``adapter``: its profile's firewall is off,
    or the built-in rule is enabled and assigned to that profile."""
    rule = network.get("migration_firewall_rule") or {}
    profile = CATEGORY_PROFILE[_category(adapter)]
    states = {str(p["name"]).casefold(): bool(p["enabled"]) for p in rule.get("profiles") or []}
    if not states.get(profile.casefold(), True):
        return True
    if not rule.get("present") or not rule.get("enabled"):
        return False
    covers = FirewallRule.model_validate(rule).applies_to()
    return covers is None or profile in covers


TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
RUNNING_STATES = ("Running", "Paused", "Saved", "RunningCritical", "PausedCritical", "SavedCritical")
PROCESSOR_MESSAGE_ID = "24004"
"""The lab's MessageID for the processor reason (the lab's choice; the tool only carries it)."""
BLOB_MAGIC = b"\x01LMPLAB-HVCI\x00"


def compatibility_blob(content: dict[str, Any]) -> str:
    """An opaque blob as GetSystemCompatibilityInfo returns (base64 of bytes only Hyper-V reads)."""
    return base64.b64encode(BLOB_MAGIC + zlib.compress(json.dumps(content).encode())).decode()


def read_compatibility_blob(info: str) -> dict[str, Any] | None:
    try:
        raw = base64.b64decode(info, validate=True)
        if not raw.startswith(BLOB_MAGIC):
            return None
        content = json.loads(zlib.decompress(raw[len(BLOB_MAGIC) :]))
    except (ValueError, zlib.error):
        return None
    return content if isinstance(content, dict) else None


def msvm_error_instance(message_id: str, message: str) -> str:
    """An embedded Msvm_Error as WMI serialises it: a DMTF CIM-XML (DSP0201) INSTANCE element."""
    instance = ET.Element("INSTANCE", CLASSNAME="Msvm_Error")
    for name, kind, value in (
        ("ErrorType", "uint16", "1"),
        ("MessageID", "string", message_id),
        ("Message", "string", message),
        ("OwningEntity", "string", "Microsoft-Windows-Hyper-V-VMMS"),
        ("PerceivedSeverity", "uint16", "3"),
    ):
        prop = ET.SubElement(instance, "PROPERTY", NAME=name, TYPE=kind)
        ET.SubElement(prop, "VALUE").text = value
    return ET.tostring(instance, encoding="unicode")


def _verdict(
    vm: str,
    compatible: bool | None,
    code: int | None,
    reasons: list[str] | None = None,
    instances: list[str] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "vm": vm,
        "compatible": compatible,
        "return_value": code,
        "reasons": reasons or [],
        "reason_instances": instances or [],
        "error": error,
    }


def named_vms(script: str) -> list[str]:
    """The VM names the collector was rendered with ($LmpVmNames = @('a', 'b''c'))."""
    return rendered_names(script, "LmpVmNames")


def rendered_names(script: str, variable: str) -> list[str]:
    """The names a collector variable was rendered with (``$<variable> = @('a', 'b''c')``)."""
    match = re.search(rf"^\${variable} = @\((.*)\)\r?$", script, re.M)
    if not match:
        return []
    return [value.replace("''", "'") for value in re.findall(r"'((?:[^']|'')*)'", match.group(1))]


NO_SUCH_NAME = "DNS name does not exist"
"""Resolve-DnsName's message for a name its resolver cannot find (DNS_ERROR_RCODE_NAME_ERROR, 9003)."""
NO_SUCH_DOMAIN = "Getting DC name failed: Status = 1355 0x54b ERROR_NO_SUCH_DOMAIN"
"""What nltest /dsgetdc prints when the DC locator finds no DC for the domain."""
DC_FLAGS = "PDC GC DS LDAP KDC TIMESERV GTIMESERV WRITABLE DNS_DC DNS_DOMAIN DNS_FOREST"
LAB_DC_ADDRESS = "127.0.0.1"
"""Every lab DC listens on loopback (its A record in the lab's DNS)."""


JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode
"""``json.dumps(value, ensure_ascii=False)`` without a new encoder made for every call (what
json.dumps does when given options): the collector's line is written from some 30 values."""


def _json_object(members: Iterable[tuple[str, str]]) -> str:
    """A JSON object of members already written as JSON, as ``json.dumps`` joins them."""
    return "{" + ", ".join(f"{JSON_TEXT(key)}: {text}" for key, text in members) + "}"


class LabWorld:
    """The scenario as a small network: who owns which address, and what TCP gets through."""

    def __init__(self, scenario: Scenario, client_user: str) -> None:
        self.scenario = scenario
        self.client_user = client_user
        self._facts: dict[str, dict[str, Any]] = {}
        self._texts: dict[int, tuple[Any, str]] = {}
        """Each facts section's JSON, under the id of the section it was written from."""

    def facts(self, name: str) -> dict[str, Any]:
        """The host's facts in collector form, copied from the scenario once per lab: a host
        answers many requests (and its peers' resolvers and port tests ask about it), and a
        fleet host's VMs make the copy dear. Read-only: callers build new dicts for what they
        change. Each section's JSON is written with the copy (the lab's DNS reads every host's
        facts when it starts), for the collector's output: a fleet host's VMs cost the lab
        more CPU to write as JSON during a collection than anything but its NTLM logon."""
        if name not in self._facts:
            facts = self._facts[name] = self.scenario.host_facts(name)
            self._texts.update((id(value), (value, JSON_TEXT(value))) for value in facts.values())
        return self._facts[name]

    def collector_json(self, document: dict[str, Any]) -> str:
        """``json.dumps(document, ensure_ascii=False)`` of a collector document, each of its
        sections that is a host's facts section itself taken as written with the facts."""
        sections = _json_object((name, self._json(value)) for name, value in document["sections"].items())
        return _json_object(
            (key, sections if key == "sections" else JSON_TEXT(value)) for key, value in document.items()
        )

    def _json(self, value: Any) -> str:
        known = self._texts.get(id(value))
        return known[1] if known is not None and known[0] is value else JSON_TEXT(value)

    def fqdn_of(self, name: str) -> str:
        spec = self.scenario.hosts[name]
        return spec.dns_name or str((self.facts(name).get("identity") or {}).get("fqdn", name))

    def host_named(self, typed: str) -> str | None:
        """The lab host an admin's name for it (short name or FQDN) means."""
        for name in self.scenario.hosts:
            if typed.casefold() in (name.casefold(), self.fqdn_of(name).casefold()):
                return name
        return None

    def host_records(self) -> dict[str, list[str]]:
        """The A records the lab's DNS holds for its hosts (before any scenario change): each
        host's name → the addresses of its management adapters."""
        records: dict[str, list[str]] = {}
        for name in self.scenario.hosts:
            for adapter in self.adapters(name):
                if adapter.get("is_management"):
                    addresses = [str(a["address"]) for a in adapter.get("addresses", [])]
                    records.setdefault(self.fqdn_of(name).lower(), []).extend(addresses)
        return records

    def _changes_seen_by(self, host: str) -> list[DnsChange]:
        return [*self.scenario.dns_changes, *self.scenario.hosts[host].resolver.dns_changes]

    def resolve_on(self, host: str, name: str) -> tuple[list[str], str | None]:
        """What Resolve-DnsName answers on ``host`` for ``name``: a hosts-file entry first, then
        the host's DNS view (the lab's DNS with the host's own differences); a single label is
        asked with the host's primary DNS suffix (its domain). Not modelled: LLMNR and NetBIOS
        fallback for single labels, so a short name DNS lacks fails here."""
        spec = self.scenario.hosts[host]
        typed = name.rstrip(".")
        for entry, addresses in spec.resolver.hosts_file.items():
            if entry.casefold() == typed.casefold():
                return list(addresses), None
        query = (typed if "." in typed else f"{typed}.{spec.domain}").lower()
        records = self.host_records()
        for change in self._changes_seen_by(host):
            if change.type == "A":
                records[change.name.rstrip(".").lower()] = list(change.values)
        found = records.get(query)
        if found:
            return found, None
        return [], f"{query} : {NO_SUCH_NAME}"

    def dc_locator_output(self, host: str) -> tuple[int, list[str]]:
        """What ``nltest /dsgetdc:<domain>`` prints on ``host``, and its exit code: the DC of the
        host's domain with the sites, or ERROR_NO_SUCH_DOMAIN when the host's DNS does not
        publish the domain's DC locator record (the locator asks DNS for it)."""
        spec = self.scenario.hosts[host]
        domain = self.scenario.domains[spec.domain]
        record = f"_ldap._tcp.dc._msdcs.{spec.domain}".lower()
        published = domain.publish_srv
        for change in self._changes_seen_by(host):
            if change.type == "SRV" and change.name.rstrip(".").lower() == record:
                published = bool(change.values)
        if not published:
            return 1, [NO_SUCH_DOMAIN]
        site = spec.resolver.site
        dc_site = spec.resolver.dc_site or site
        flags = DC_FLAGS + (" CLOSE_SITE" if dc_site == site else "") + " FULL_SECRET WS DS_8 DS_9 DS_10"
        fields = (
            ("DC", f"\\\\{domain.dc}"),
            ("Address", f"\\\\{LAB_DC_ADDRESS}"),
            ("Dom Guid", str(uuid.uuid5(uuid.NAMESPACE_DNS, spec.domain))),
            ("Dom Name", spec.domain),
            ("Forest Name", domain.forest or spec.domain),
            ("Dc Site Name", dc_site),
            ("Our Site Name", site),
            ("Flags", flags),
        )
        return 0, [*(f"{label:>13}: {value}" for label, value in fields), "The command completed successfully"]

    def adapters(self, name: str) -> list[dict[str, Any]]:
        network = self.facts(name).get("network") or {}
        return list(network.get("adapters", []))

    def owner_of(self, address: str) -> tuple[str, dict[str, Any]] | None:
        for name in self.scenario.hosts:
            for adapter in self.adapters(name):
                if any(a.get("address") == address for a in adapter.get("addresses", [])):
                    return name, adapter
        return None

    def source_address(self, source: str, address: str) -> str | None:
        """The address ``source`` sends from towards ``address``: one on a shared subnet, else
        one on an adapter with a default gateway (what Find-NetRoute answers); None without a route."""
        target = ipaddress.ip_address(address)
        routed: str | None = None
        for adapter in self.adapters(source):
            for entry in adapter.get("addresses", []):
                if ipaddress.ip_address(entry["address"]).version != target.version:
                    continue
                if target in ipaddress.ip_interface(f"{entry['address']}/{entry['prefix_length']}").network:
                    return str(entry["address"])
                if adapter.get("default_gateway") and routed is None:
                    routed = str(entry["address"])
        return routed

    def tcp_attempt(self, source: str, address: str, port: int) -> tuple[str, str | None, str | None]:
        """How a TCP connection from host ``source`` to ``address``:``port`` ends: the outcome,
        the source address used, and the Winsock message Windows would give."""
        timed_out = f"no answer from {address}:{port} within 3000 ms"
        from_address = self.source_address(source, address)
        if from_address is None:
            return "unreachable", None, "A socket operation was attempted to an unreachable network"
        found = self.owner_of(address)
        if found is None or (not found[1].get("default_gateway") and not self._same_subnet(source, address)):
            return "timed-out", from_address, timed_out
        owner = found[0]
        if any(b.source == source and b.address == address and b.port == port for b in self.scenario.network_blocks):
            return "timed-out", from_address, timed_out
        spec = self.scenario.hosts[owner]
        facts = self.facts(owner)
        if port in spec.blocked_ports:
            return "timed-out", from_address, timed_out
        if port == MIGRATION_PORT:
            network = network_with_defaults(facts.get("network") or {})
            if not _firewall_admits(network, found[1]) and port not in spec.allowed_ports:
                return "timed-out", from_address, timed_out
            migration = facts.get("migration") or {}
            hyperv = facts.get("hyperv") or {}
            if not migration.get("enabled") or hyperv.get("vmms_status") != "Running":
                return (
                    "refused",
                    from_address,
                    (f"No connection could be made because the target machine actively refused it {address}:{port}"),
                )
        return "connected", from_address, None

    def _same_subnet(self, source: str, address: str) -> bool:
        target = ipaddress.ip_address(address)
        return any(
            target in ipaddress.ip_interface(f"{entry['address']}/{entry['prefix_length']}").network
            for adapter in self.adapters(source)
            for entry in adapter.get("addresses", [])
        )
