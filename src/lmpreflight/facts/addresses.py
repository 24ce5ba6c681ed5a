"""Addresses and subnets read from host facts: where a host accepts incoming live migrations.

Collection (which addresses to test TCP 6600 on), the checks and the report's path picture all
ask the same questions, so the answers live here, with the facts, and not in any one of them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from lmpreflight.facts.model import HostFacts, MigrationSettings, NetworkFacts

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=65536)
def _interface(address: str, prefix_length: int) -> Interface:
    """Parsed once per address: a fleet asks about every host's addresses once per pair (the
    objects are immutable, so sharing them is safe)."""
    return ipaddress.ip_interface(f"{address}/{prefix_length}")


@lru_cache(maxsize=65536)
def parse_subnet(subnet: str) -> Network:
    """Migration networks are entered as CIDR or as a bare address (a /32 or /128)."""
    return ipaddress.ip_network(subnet, strict=False)


def addresses_in(network_facts: NetworkFacts, network: Network) -> list[str]:
    """The host's addresses inside ``network``."""
    return list(_addresses_in(network_facts.interfaces, network))


@lru_cache(maxsize=4096)
def _addresses_in(interfaces: tuple[tuple[str, int], ...], network: Network) -> tuple[str, ...]:
    """Worked out once per host's addresses and network: a fleet asks it for every pair."""
    parsed = (_interface(address, prefix_length) for address, prefix_length in interfaces)
    return tuple(str(i.ip) for i in parsed if i.ip.version == network.version and i.ip in network)


def incoming_addresses(host: HostFacts) -> list[str] | None:
    """The addresses on which ``host`` accepts incoming live migrations; ``None`` when the
    migration settings or the network were not collected."""
    if host.migration is None or host.network is None:
        return None
    return accepting_addresses(host.migration, host.network)


def accepting_addresses(migration: MigrationSettings, network: NetworkFacts) -> list[str]:
    """The host's addresses on which these migration settings accept incoming live migrations.

    With UseAnyNetworkForMigration every address qualifies; otherwise only those inside a
    configured migration network (the setting governs incoming traffic). Worked out once per
    host's settings and addresses: a fleet's checks ask it several times for every pair.
    """
    subnets = None if migration.use_any_network else tuple(entry.subnet for entry in migration.networks)
    return list(_accepting(subnets, network.interfaces))


@lru_cache(maxsize=4096)
def _accepting(subnets: tuple[str, ...] | None, interfaces: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    if subnets is None:
        return tuple(str(_interface(address, prefix_length).ip) for address, prefix_length in interfaces)
    found: list[str] = []
    for subnet in subnets:
        for address in _addresses_in(interfaces, parse_subnet(subnet)):
            if address not in found:
                found.append(address)
    return tuple(found)


def on_a_subnet_of(host: HostFacts, address: str) -> bool:
    """Whether ``address`` lies on a subnet one of ``host``'s adapters sits on."""
    if host.network is None:
        return False
    version, bits = _ip(address)
    return any(v == version and bits & netmask == network for v, network, netmask in host.network.subnets)


@lru_cache(maxsize=65536)
def _ip(address: str) -> tuple[int, int]:
    """The address's IP version and bits, parsed once per address: a fleet asks about every
    host's addresses for every pair."""
    parsed = ipaddress.ip_address(address)
    return parsed.version, int(parsed)


def shared_migration_addresses(source: HostFacts, destination: HostFacts) -> list[str] | None:
    """The destination's incoming migration addresses on a subnet the source also sits on:
    where the source's connection goes. ``None`` when the destination's facts are missing."""
    incoming = incoming_addresses(destination)
    if incoming is None:
        return None
    return [a for a in incoming if on_a_subnet_of(source, a)]
