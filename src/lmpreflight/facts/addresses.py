"""Addresses and subnets read from host facts: where a host accepts incoming live migrations.

Collection (which addresses to test TCP 6600 on), the checks and the report's path picture all
ask the same questions, so the answers live here, with the facts, and not in any one of them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from lmpreflight.facts.model import HostFacts, MigrationSettings, NetAdapter

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_address(text: str) -> bool:
    """Whether a name as typed (an IPv6 one possibly in brackets) is an IP address, not a name."""
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def host_networks(adapters: list[NetAdapter]) -> list[Interface]:
    """Every address of the adapters, with its prefix."""
    interfaces: list[Interface] = []
    for adapter in adapters:
        for addr in adapter.addresses:
            interfaces.append(_interface(addr.address, addr.prefix_length))
    return interfaces


@lru_cache(maxsize=65536)
def _interface(address: str, prefix_length: int) -> Interface:
    """Parsed once per address: a fleet asks about every host's addresses once per pair (the
    objects are immutable, so sharing them is safe)."""
    return ipaddress.ip_interface(f"{address}/{prefix_length}")


@lru_cache(maxsize=65536)
def parse_subnet(subnet: str) -> Network:
    """Migration networks are entered as CIDR or as a bare address (a /32 or /128)."""
    return ipaddress.ip_network(subnet, strict=False)


def addresses_in(adapters: list[NetAdapter], network: Network) -> list[str]:
    """The adapters' addresses inside ``network``."""
    return [str(i.ip) for i in host_networks(adapters) if i.ip.version == network.version and i.ip in network]


def incoming_addresses(host: HostFacts) -> list[str] | None:
    """The addresses on which ``host`` accepts incoming live migrations; ``None`` when the
    migration settings or the network were not collected."""
    if host.migration is None or host.network is None:
        return None
    return accepting_addresses(host.migration, host.network.adapters)


def accepting_addresses(migration: MigrationSettings, adapters: list[NetAdapter]) -> list[str]:
    """The adapters' addresses on which these migration settings accept incoming live migrations.

    With UseAnyNetworkForMigration every address qualifies; otherwise only those inside a
    configured migration network (the setting governs incoming traffic).
    """
    if migration.use_any_network:
        return [str(i.ip) for i in host_networks(adapters)]
    found: list[str] = []
    for network in migration.networks:
        for address in addresses_in(adapters, parse_subnet(network.subnet)):
            if address not in found:
                found.append(address)
    return found


def on_a_subnet_of(host: HostFacts, address: str) -> bool:
    """Whether ``address`` lies on a subnet one of ``host``'s adapters sits on."""
    if host.network is None:
        return False
    target = ipaddress.ip_address(address)
    return any(i.version == target.version and target in i.network for i in host_networks(host.network.adapters))


def shared_migration_addresses(source: HostFacts, destination: HostFacts) -> list[str] | None:
    """The destination's incoming migration addresses on a subnet the source also sits on:
    where the source's connection goes. ``None`` when the destination's facts are missing."""
    incoming = incoming_addresses(destination)
    if incoming is None:
        return None
    return [a for a in incoming if on_a_subnet_of(source, a)]
