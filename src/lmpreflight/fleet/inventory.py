"""Inventories as admins already keep them: Ansible inventories, plain lists, CSV exports.

Ansible inventories (INI, YAML, a folder, with group_vars and host_vars) are read by
ansible-core's own inventory library (``InventoryManager`` + ``DataLoader`` + the
``VariableManager`` that applies group_vars/host_vars and renders templates), so every
inventory Ansible accepts means here what it means to Ansible. ansible-core is the optional
extra ``lmpreflight[ansible]``, imported only when an Ansible inventory is read.

Secrets are never read from an inventory: the password comes from ``--password-env`` or
the prompt, as for every other command.
"""

from __future__ import annotations

import contextlib
import csv
import io
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from lmpreflight.errors import UserError

ANSIBLE_EXTRA = "pip install 'lmpreflight[ansible]'"
TRANSPORTS = ("ntlm", "kerberos", "credssp", "basic", "certificate")
PSRP_AUTH = {
    "ntlm": "ntlm",
    "kerberos": "kerberos",
    "credssp": "credssp",
    "basic": "basic",
    "certificate": "certificate",
}
"""Ansible's ``ansible_psrp_auth`` values lmpreflight can use as they are ('negotiate' picks
Kerberos or NTLM at run time, so it leaves the choice to ``--transport``)."""
WINDOWS_CONNECTIONS = (None, "winrm", "psrp")
CSV_NAME_COLUMNS = ("name", "host", "hostname", "computername", "computer", "fqdn", "dnshostname", "server")
CSV_COLUMNS = {
    "address": ("address", "ansible_host", "ip", "ipaddress"),
    "user": ("user", "ansible_user", "username"),
    "endpoint": ("endpoint", "url", "winrm_url"),
    "transport": ("transport", "ansible_winrm_transport"),
    "groups": ("groups", "group", "site", "cluster"),
}


@dataclass(frozen=True, slots=True)
class InventoryHost:
    """One host of an inventory and how to reach it over WinRM."""

    name: str
    address: str
    """What to connect to: ``ansible_host``, an address column, or the name itself."""
    user: str | None = None
    endpoint: str | None = None
    """The WinRM URL when the inventory says more than the address (port, scheme, path)."""
    transport: str | None = None
    verify: bool | None = None
    ca_cert: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """The name the host is collected under: its address unless that is an IP literal
        (a name says the host's domain, which the directory and DNS reads start from)."""
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            return self.address
        return self.name


def load_inventory(path: Path, limit: str | None = None) -> list[InventoryHost]:
    """The hosts of an inventory file (or Ansible inventory folder), in file order.

    ``limit`` is an Ansible host pattern (``hyperv``, ``site_a:&hyperv``, ``hv0*``); plain
    lists and CSV files accept a group name or a host name there.
    """
    if not path.exists():
        raise UserError(f"--inventory {path}: no such file or folder")
    if path.is_dir() or path.suffix.lower() in (".yml", ".yaml", ".ini"):
        hosts = _ansible_hosts(path, limit)
    elif path.suffix.lower() == ".csv":
        hosts = _limited(_csv_hosts(path, _read_text(path)), limit)
    else:
        text = _read_text(path)
        plain = _plain_names(text)
        hosts = _limited(plain, limit) if plain is not None else _ansible_hosts(path, limit)
    if not hosts:
        what = f" match --limit {limit}" if limit else " are listed"
        raise UserError(f"--inventory {path}: no hosts{what}")
    _refuse_duplicates(path, hosts)
    return hosts


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"--inventory {path}: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"--inventory {path}: {exc.strerror}") from None


def _plain_names(text: str) -> list[InventoryHost] | None:
    """A plain list: one host name per line, ``#`` comments. ``None`` when the text has
    anything an Ansible INI inventory would give meaning to (groups, variables)."""
    hosts = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if len(line.split()) != 1 or any(mark in line for mark in "[]=:"):
            return None
        hosts.append(InventoryHost(name=line, address=line))
    return hosts


def _csv_hosts(path: Path, text: str) -> list[InventoryHost]:
    """A CSV export with a header row: a name column (name, host, hostname, ComputerName,
    FQDN, DNSHostName or server) and optional address, user, endpoint, transport, groups."""
    reader = csv.DictReader(io.StringIO(text))
    header = {(column or "").strip().casefold(): column for column in reader.fieldnames or []}
    name_column = next((header[c] for c in CSV_NAME_COLUMNS if c in header), None)
    if name_column is None:
        found = ", ".join(c for c in reader.fieldnames or [] if c) or "none"
        raise UserError(
            f"--inventory {path}: no host name column (expected one of {', '.join(CSV_NAME_COLUMNS)}; found {found})"
        )
    columns = {key: next((header[c] for c in names if c in header), None) for key, names in CSV_COLUMNS.items()}
    hosts = []
    for line, row in enumerate(reader, start=2):
        name = (row.get(name_column) or "").strip()
        if not name:
            continue

        def cell(key: str, row: Mapping[str, str | None] = row) -> str | None:
            column = columns[key]
            value = (row.get(column) or "").strip() if column else ""
            return value or None

        transport = cell("transport")
        if transport is not None and transport.casefold() not in TRANSPORTS:
            raise UserError(
                f"--inventory {path}: line {line}: transport {transport!r} is not one of {', '.join(TRANSPORTS)}"
            )
        groups = tuple(g.strip() for g in (cell("groups") or "").replace(";", ",").split(",") if g.strip())
        hosts.append(
            InventoryHost(
                name=name,
                address=cell("address") or name,
                user=cell("user"),
                endpoint=cell("endpoint"),
                transport=transport.casefold() if transport else None,
                groups=groups,
            )
        )
    return hosts


def _limited(hosts: list[InventoryHost], limit: str | None) -> list[InventoryHost]:
    if limit is None:
        return hosts
    wanted = limit.casefold()
    return [h for h in hosts if h.name.casefold() == wanted or wanted in (g.casefold() for g in h.groups)]


def _refuse_duplicates(path: Path, hosts: Iterable[InventoryHost]) -> None:
    seen: set[str] = set()
    for host in hosts:
        key = host.name.casefold()
        if key in seen:
            raise UserError(f"--inventory {path}: host {host.name} is listed twice")
        seen.add(key)


def _import_ansible() -> Any:
    try:
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.template import Templar
        from ansible.vars.manager import VariableManager
    except ImportError:
        raise UserError(f"reading Ansible inventories needs ansible-core: {ANSIBLE_EXTRA}") from None
    return AnsibleError, InventoryManager, DataLoader, Templar, VariableManager


_ANSIBLE_WARNING = re.compile(r"^\[WARNING\]:\s*", re.MULTILINE)


def _ansible_hosts(path: Path, limit: str | None) -> list[InventoryHost]:
    """The hosts Ansible itself sees in this inventory, with the variables it would use.
    Ansible prints its warnings on stderr in blocks of lines; they are caught, so that an
    inventory without hosts ends in one line that gives Ansible's first reason, and a good one
    shows each warning as one lmpreflight warning line."""
    ansible = _import_ansible()  # outside the capture: Ansible sets up its display on import
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        hosts = _ansible_hosts_said(ansible, path, limit)
    warnings = [" ".join(w.split()) for w in _ANSIBLE_WARNING.split(said.getvalue()) if w.strip()]
    if not hosts and warnings:
        what = f" match --limit {limit}" if limit else " are listed"
        raise UserError(f"--inventory {path}: no hosts{what} (Ansible: {warnings[0]})")
    for warning in warnings:
        click.echo(f"lmpreflight: warning: --inventory {path}: Ansible: {warning}", err=True)
    return hosts


def _ansible_hosts_said(ansible: Any, path: Path, limit: str | None) -> list[InventoryHost]:
    ansible_error, inventory_manager, data_loader, templar_class, variable_manager = ansible
    try:
        loader = data_loader()
        inventory = inventory_manager(loader=loader, sources=[str(path)])
        variables = variable_manager(loader=loader, inventory=inventory)
        pattern = limit or "all"
        hosts = []
        for host in inventory.get_hosts(pattern):
            values = variables.get_vars(host=host, include_hostvars=False)
            templar = templar_class(loader=loader, variables=values)
            hosts.append(_from_ansible(host.name, [g.name for g in host.get_groups()], values, templar.template))
        return hosts
    except ansible_error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--inventory {path}: {message}") from None


def _from_ansible(name: str, groups: list[str], values: Mapping[str, Any], render: Any) -> InventoryHost:
    """Ansible's connection variables for a Windows host, as WinRM settings.

    The defaults are Ansible's own: WinRM on 5986 over HTTPS unless the port is 5985
    (ansible.builtin winrm connection plugin, ``ansible_winrm_scheme``), PSRP the same
    (``ansible_psrp_protocol``), path ``/wsman``.
    """

    def get(key: str) -> Any:
        value = values.get(key)
        return None if value is None else render(value)

    connection = get("ansible_connection")
    if connection not in WINDOWS_CONNECTIONS:
        raise UserError(
            f"inventory host {name} uses ansible_connection={connection}; lmpreflight reaches hosts over WinRM "
            "(choose the Hyper-V hosts with --limit)"
        )
    address = str(get("ansible_host") or name)
    prefix = "ansible_psrp_" if connection == "psrp" else "ansible_winrm_"
    port_value = get("ansible_psrp_port") if connection == "psrp" else None
    port_value = port_value if port_value is not None else get("ansible_port")
    endpoint = None
    transport = None
    verify = None
    if connection is not None:
        port = int(port_value) if port_value is not None else 5986
        scheme_key = "ansible_psrp_protocol" if connection == "psrp" else "ansible_winrm_scheme"
        scheme = str(get(scheme_key) or ("http" if port == 5985 else "https"))
        path = str(get(f"{prefix}path") or "/wsman")
        endpoint = f"{scheme}://{address}:{port}{path}"
        if connection == "psrp":
            transport = PSRP_AUTH.get(str(get("ansible_psrp_auth") or "").casefold())
        else:
            transport = _winrm_transport(get("ansible_winrm_transport"))
        validation = (
            get(f"{prefix}server_cert_validation") if connection == "winrm" else get("ansible_psrp_cert_validation")
        )
        if validation is not None:
            verify = str(validation).casefold() != "ignore"
    ca_cert = get(f"{prefix}ca_trust_path")
    user = get("ansible_user") or get(f"{prefix}user")
    return InventoryHost(
        name=name,
        address=address,
        user=str(user) if user else None,
        endpoint=endpoint,
        transport=transport,
        verify=verify,
        ca_cert=str(ca_cert) if ca_cert else None,
        groups=tuple(g for g in groups if g not in ("all", "ungrouped")),
    )


def _winrm_transport(value: Any) -> str | None:
    """``ansible_winrm_transport`` is a name or a list (Ansible tries them in order): the first we support."""
    names = value if isinstance(value, list) else str(value or "").split(",")
    for item in names:
        item = str(item).strip().casefold()
        if item in TRANSPORTS:
            return item
    return None
