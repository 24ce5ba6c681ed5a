"""The real names behind a generic fix: the VM, hosts and switch an error text or the hosts'
facts name, filled into the knowledge base's placeholders (SOURCE, DESTINATION, VM, 'SWITCH', …).

A host the text names by its short name is the facts' host of that name, whose full DNS name
the facts know: a fix that needs the FQDN (a delegation entry, a WinRM session) gets it. A name
nobody stated stays a placeholder, written ``<SourceHost>``: pasted outside quotes, PowerShell
refuses it ("The '<' operator is reserved"), so a fix never acts on a host that is really called
SOURCE; ``unfilled`` lists what each remaining one stands for, so the fix can say so. Every
filled-in name passes through ``escape.ps_literal``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lmpreflight.escape import ps_literal
from lmpreflight.facts.model import is_address

_QUOTES = "\"'\u201c\u201d"
_NAME = r"([A-Za-z0-9][A-Za-z0-9.-]{0,62}?)\.?"
_SOURCE = re.compile(rf"migration source [{_QUOTES}]{_NAME}[{_QUOTES}]", re.IGNORECASE)
_DESTINATION = re.compile(
    rf"(?:migration destination [{_QUOTES}]{_NAME}[{_QUOTES}]|-DestinationHost [{_QUOTES}]?{_NAME}(?:[{_QUOTES}\s]|$))",
    re.IGNORECASE,
)
_WITH_HOST = re.compile(rf"with host [{_QUOTES}]{_NAME}[{_QUOTES}]", re.IGNORECASE)
_VM_NAME = re.compile(
    r"""(?:operation for|live migration of|virtual machine)\s{1,5}["'“](?:virtual machine\s{1,5})?([^"'”\r\n]{1,100}?)["'”]""",
    re.IGNORECASE,
)
_SWITCH = re.compile(r"switch [\"'“]([^\"'”\r\n]{1,100}?)[\"'”]", re.IGNORECASE)
_SAN = re.compile(r"virtual (?:fibre channel )?SAN [\"'“]([^\"'”\r\n]{1,100}?)[\"'”]", re.IGNORECASE)
# The share of a UNC path (\\FS01\VMS\SQL01\disk.vhdx): where a VM's files are on SMB.
_SHARE = re.compile(r"\\\\[A-Za-z0-9.-]{1,255}\\([^\\\s'\"”]{1,80})")
# "(Virtual machine ID 0D9E…)" in Hyper-V's migration messages, "(VMID …)" in its event templates.
_VM_ID = re.compile(r"(?:virtual machine ID|VMID)\s{1,5}([0-9A-F]{8}-(?:[0-9A-F]{4}-){3}[0-9A-F]{12})", re.IGNORECASE)

MARKERS = {
    "SOURCE": "<SourceHost>",
    "DESTINATION": "<DestinationHost>",
    "VM": "<VMName>",
    "SWITCH": "<SwitchName>",
    "SAN": "<SanName>",
    "NIC": "<NetAdapterName>",
    "HOST": "<HostName>",
    "USER": "<UserName>",
    "VMID": "<VMId>",
    "DOMAIN": "<DomainNetBIOSName>",
    "DNSDOMAIN": "<DomainDNSName>",
    "SHARE": "<ShareName>",
    "PATH": "<DestinationStoragePath>",
    "FOLDER": "<VMFolder>",
}
"""The knowledge base's placeholders and how an unknown one is shown."""
_FQDN_MARKERS = {"SOURCE": "<SourceFQDN>", "DESTINATION": "<DestinationFQDN>"}
MEANINGS = {
    "<SourceHost>": "the source host's name",
    "<DestinationHost>": "the destination host's name",
    "<SourceFQDN>": "the source host's full DNS name",
    "<DestinationFQDN>": "the destination host's full DNS name",
    "<VMName>": "the VM's name",
    "<SwitchName>": "the virtual switch's name",
    "<SanName>": "the virtual SAN's name",
    "<NetAdapterName>": "the physical adapter the switch uses",
    "<HostName>": "the host's name",
    "<UserName>": "the account that started the move",
    "<VMId>": "the VM's ID",
    "<DomainNetBIOSName>": "the NetBIOS name of the host's domain, as (Get-ADDomain).NetBIOSName shows it",
    "<DomainDNSName>": "the hosts' DNS domain name",
    "<ShareName>": "the SMB share that holds the VM's files",
    "<DestinationStoragePath>": "the destination folder for the VM's files",
    "<VMFolder>": "the folder that holds the VM's files",
}
"""What each marker stands for, for the sentence that asks the admin to fill it in."""
_SEGMENTS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"")
_BARE = re.compile(r"(?<![\w\\/.$-])(SOURCE|DESTINATION|VM|HOST|USER|VMID|DNSDOMAIN)(?![\w.$-])")
_QUOTED = re.compile(r"(?<![\w-])(SOURCE|DESTINATION|USER)(\.domain)?(?![\w-])")
_WHOLE_QUOTED = ("SWITCH", "SAN", "NIC", "SHARE", "PATH", "FOLDER")
# An account written 'DOMAIN\NAME$': the NetBIOS domain name, which no fact holds.
_DOMAIN = re.compile(r"(?<![\w-])DOMAIN(?=\\)")


def vm_names_in(text: str) -> list[str]:
    """The VM names a migration message quotes ("operation for 'SQL01'", "Live migration of 'Virtual Machine X'")."""
    return [m.group(1).strip() for m in _VM_NAME.finditer(text)]


@dataclass(frozen=True, slots=True)
class KnownNames:
    """The names a fix may use; None where neither the text nor the facts say."""

    source: str | None = None
    destination: str | None = None
    vm: str | None = None
    switch: str | None = None
    san: str | None = None
    vm_id: str | None = None
    share: str | None = None

    @property
    def dns_domain(self) -> str | None:
        """The DNS domain the known hosts' full names share (none when they differ or are short)."""
        domains = {name.split(".", 1)[1].casefold() for name in (self.source, self.destination) if name and "." in name}
        return domains.pop() if len(domains) == 1 else None

    def get(self, token: str) -> str | None:
        return {
            "SOURCE": self.source,
            "DESTINATION": self.destination,
            "VM": self.vm,
            "SWITCH": self.switch,
            "SAN": self.san,
            "VMID": self.vm_id,
            "DNSDOMAIN": self.dns_domain,
            "SHARE": self.share,
        }.get(token)


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    for match in pattern.finditer(text):
        found = next((group for group in match.groups() if group), None)
        if found:
            return found
    return None


def names_in(
    text: str, hosts: tuple[str, ...] = (), vm: str | None = None, logged_on: tuple[str, ...] = ()
) -> KnownNames:
    """The names ``text`` states (the failed move's own), else the facts' ``hosts`` (source,
    destination, each by :attr:`HostFacts.full_name`). "With host 'X'" is the peer
    the source could not reach: the destination. An incident adds its ``vm`` and the hosts whose
    logs hold its events (``logged_on``): the one of them that is not the destination is the
    source. A host the text names by its short name that is one of the facts' hosts gets the
    full name the facts hold for it."""
    source = _first(_SOURCE, text)
    destination = _first(_DESTINATION, text)
    peer = _first(_WITH_HOST, text)
    if destination is None and peer is not None and (source is None or peer.casefold() != source.casefold()):
        destination = peer
    if source is None and destination is not None:
        others = {h for h in logged_on if _short(h) != _short(destination)}
        source = others.pop() if len(others) == 1 else None
    if len(hosts) == 2:
        source = source or _a_name(hosts[0])
        destination = destination or _a_name(hosts[1])
    vms = vm_names_in(text)
    vm = vm or (vms[0] if vms else None)
    return KnownNames(
        _in_full(source, hosts),
        _in_full(destination, hosts),
        vm,
        _first(_SWITCH, text),
        _first(_SAN, text),
        _first(_VM_ID, text),
        _first(_SHARE, text),
    )


def _a_name(host: str) -> str | None:
    """A host of the facts as a fix may name it: not by an address (a host the facts know only
    by its address), which a 'DESTINATION$' account or a Kerberos SPN cannot be built from, so
    its placeholder stays for the admin to fill in."""
    return None if is_address(host) else host


def _short(host: str) -> str:
    return host.split(".")[0].casefold()


def _in_full(name: str | None, hosts: tuple[str, ...]) -> str | None:
    """``name`` as the facts' full DNS name of the same host, when it is a short name of one."""
    if name is None or "." in name:
        return name
    return next((host for host in hosts if _a_name(host) and "." in host and _short(host) == name.casefold()), name)


def unfilled(powershell: str) -> list[str]:
    """Each marker left in a filled-in command with what it stands for, in order of appearance."""
    found = sorted((powershell.find(marker), marker) for marker in MEANINGS if marker in powershell)
    return [f"{marker} ({MEANINGS[marker]})" for _, marker in found]


def filled(powershell: str, names: KnownNames) -> str:
    """``powershell`` with each placeholder replaced by its known name, else by its marker."""
    parts: list[str] = []
    last = 0
    for segment in _SEGMENTS.finditer(powershell):
        parts.append(_BARE.sub(lambda m: _bare_in(m, names), powershell[last : segment.start()]))
        parts.append(_quoted(segment.group(0), names))
        last = segment.end()
    parts.append(_BARE.sub(lambda m: _bare_in(m, names), powershell[last:]))
    return "".join(parts)


def _bare_in(match: re.Match[str], names: KnownNames) -> str:
    """A bare placeholder; an AD -Identity takes the computer's short name, not its DNS name."""
    token = match.group(1)
    name = names.get(token)
    if name and token in ("SOURCE", "DESTINATION") and match.string[: match.start()].endswith("-Identity "):
        return ps_literal(name.split(".")[0])
    return _bare(token, names)


def _bare(token: str, names: KnownNames) -> str:
    name = names.get(token)
    return ps_literal(name) if name else MARKERS[token]


def _quoted(segment: str, names: KnownNames) -> str:
    """A quoted literal: 'SWITCH', 'SAN', 'NIC', 'SHARE', 'PATH' and 'FOLDER' whole, or SOURCE,
    DESTINATION and USER inside a single-quoted one ('…Service/DESTINATION', 'DOMAIN\\DESTINATION$');
    double-quoted text is left alone."""
    if segment.startswith('"'):
        return segment  # a store or path name ("Shielded VM Local Certificates"), never a placeholder
    inner = segment[1:-1]
    if inner in _WHOLE_QUOTED:
        return _bare(inner, names)

    def inside(match: re.Match[str]) -> str:
        token, fqdn = match.group(1), match.group(2)
        name = names.get(token)
        if fqdn:
            known = _inside_quotes(name) if name and "." in name else None
            return known or _FQDN_MARKERS[token]
        return (_inside_quotes(name.split(".")[0]) if name else None) or MARKERS[token]

    return "'" + _DOMAIN.sub(MARKERS["DOMAIN"], _QUOTED.sub(inside, inner)) + "'"


def _inside_quotes(name: str) -> str | None:
    """``name`` as it reads inside a single-quoted literal, or None when it needs more than one."""
    literal = ps_literal(name)
    return literal[1:-1] if literal.startswith("'") else None
