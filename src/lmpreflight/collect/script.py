"""The collector script and how it reaches a host.

``run_ps`` puts the script on a ``powershell -EncodedCommand`` command line, which cmd.exe
silently rejects past about 3,000 characters. The collector is far longer, so a short
bootstrap goes on the command line instead: it reads the script from stdin up to an end
marker (as UTF-8 bytes, independent of the console code page) and runs it as one script
block. Whatever follows the marker on stdin stays readable by the script: the second
stage, the peer's migration addresses to test TCP against.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from lmpreflight._version import __version__
from lmpreflight.facts.windows import FIREWALL_RULE_NAME
from lmpreflight.resources import template_environment

COLLECTOR_VERSION = 1
END_OF_SCRIPT = "#lmpreflight-end-of-script"
PORT_TIMEOUT_MS = 3000
MAX_EVENTS_PER_CHANNEL = 500

LANGUAGE_MODE_MARKER = '{"lmpreflight_language_mode"'
"""The first line a host prints when PowerShell is not in FullLanguage mode."""

BOOTSTRAP = (
    # Under AppLocker or App Control (WDAC) PowerShell runs in ConstrainedLanguage, where the
    # .NET types below are refused; say so in one line first (about_Language_Modes).
    "if($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage'){"
    "Write-Output ('" + LANGUAGE_MODE_MARKER + ":\"'+$ExecutionContext.SessionState.LanguageMode+'\"}');exit 3};"
    "$ErrorActionPreference='Stop';"
    "try{[Console]::OutputEncoding=New-Object System.Text.UTF8Encoding $false}catch{};"
    "$r=New-Object System.IO.StreamReader([Console]::OpenStandardInput(),(New-Object System.Text.UTF8Encoding $false));"
    "$b=New-Object System.Text.StringBuilder;"
    f"while(($l=$r.ReadLine()) -ne $null -and $l -ne '{END_OF_SCRIPT}'){{[void]$b.AppendLine($l)}};"
    "$global:LmpStdin=$r;"
    "& ([ScriptBlock]::Create($b.ToString()))"
)
"""Runs in Windows PowerShell 5.1 with .NET Framework 4 APIs only. ``$ErrorActionPreference``
'Stop' is deliberate: every failure becomes catchable, and the collector records each one
against its section or object instead of printing it."""


def encode_command(script: str) -> str:
    """The -EncodedCommand form: base64 of UTF-16-LE, as powershell.exe expects."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def bootstrap_arguments() -> list[str]:
    return ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", encode_command(BOOTSTRAP)]


def render_collector(
    vm_names: Sequence[str] = (),
    mode: str = "live",
    events_hours: int | None = None,
    peer_names: Sequence[str] = (),
) -> str:
    """The collector for ``mode`` "live" (over WinRM, behind the bootstrap) or "offline"
    (run on the host by hand; also reads AD and DNS itself); with ``events_hours``, it also
    reads the Hyper-V event logs of that many past hours (for diagnose). ``peer_names`` are
    the other host's names for this host to resolve itself (offline: the default of -Peer)."""
    template = template_environment(autoescape=False).get_template("collector.ps1.j2")
    return template.render(
        vm_names=list(vm_names),
        mode=mode,
        collector_version=COLLECTOR_VERSION,
        tool_version=__version__,
        port_timeout_ms=PORT_TIMEOUT_MS,
        events_hours=int(events_hours) if events_hours else None,
        max_events=MAX_EVENTS_PER_CHANNEL,
        firewall_rule_name=FIREWALL_RULE_NAME,
        peer_names=list(dict.fromkeys(peer_names)),
    )


def stdin_payload(script: str) -> bytes:
    """Stage one on stdin: the script and the end marker, UTF-8 without a BOM, CRLF lines."""
    lines = script.splitlines()
    return ("\r\n".join([*lines, END_OF_SCRIPT]) + "\r\n").encode("utf-8")


@dataclass(frozen=True)
class RehearsalRequest:
    """Compare-VM on the source for these VMs against the destination (as the move would go)."""

    destination: str
    vms: tuple[str, ...]
    include_storage: bool = False
    storage_path: str | None = None

    def document(self) -> dict[str, object]:
        return {
            "destination": self.destination,
            "vms": list(self.vms),
            "include_storage": self.include_storage,
            "storage_path": self.storage_path,
        }


@dataclass(frozen=True)
class StageTwoRequest:
    """What the tool asks a host after seeing its peer: TCP connections to try, and the
    peer's VMs' compatibility information for Hyper-V on this host to judge."""

    tcp: list[tuple[str, int]] = field(default_factory=list)
    compatibility: list[tuple[str, str]] = field(default_factory=list)
    rehearsal: RehearsalRequest | None = None

    def line(self) -> bytes:
        """One JSON object on one line (an object, never a bare array: PowerShell 5.1's
        ConvertFrom-Json does not enumerate a top-level array)."""
        document = {
            "tcp": [{"address": address, "port": port} for address, port in self.tcp],
            "compatibility": [{"vm": vm, "info": info} for vm, info in self.compatibility],
            "rehearsal": self.rehearsal.document() if self.rehearsal else None,
        }
        return (json.dumps(document) + "\r\n").encode("utf-8")
