"""Collecting an inventory: every host once, in parallel with a bound.

Each host is collected alone (no peer): in a fleet every host is the peer of every other,
so the pair-only tests of ``check`` — TCP 6600 from the source to the destination's
migration addresses and Hyper-V's verdict on the source VMs' compatibility data — are not
made, and the checks say so (a warning, never a pass). The pair checks then judge every
(source, destination) pair from these facts without a second collection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from lmpreflight.collect.directory import DirectorySessions
from lmpreflight.collect.parallel import CollectOptions, CredentialGate
from lmpreflight.facts.model import HostFacts
from lmpreflight.fleet.inventory import InventoryHost
from lmpreflight.pipeline import collect_host

HostDone = Callable[[InventoryHost, HostFacts], None]
"""Called as each host finishes (from a worker thread), for progress."""


def host_options(host: InventoryHost, base: CollectOptions) -> CollectOptions:
    """The shared settings with what the inventory says about this host."""
    endpoints = {**base.endpoints, host.target: host.endpoint} if host.endpoint is not None else base.endpoints
    return dataclasses.replace(
        base,
        username=host.user if host.user is not None else base.username,
        transport=host.transport or base.transport,
        verify=host.verify if host.verify is not None else base.verify,
        ca_cert=host.ca_cert or base.ca_cert,
        endpoints=endpoints,
    )


def collect_inventory(
    hosts: list[InventoryHost],
    options: CollectOptions,
    done: HostDone = lambda host, facts: None,
) -> dict[str, HostFacts]:
    """Facts for every host, keyed by inventory name, at most ``options.concurrency`` at once.

    A host that cannot be reached yields facts carrying that collection error, as in
    ``check``; the others are collected regardless. One password is tried on one host at a
    time until a host accepts it, and not at all once one rejects it: a mistyped password
    costs one failed logon, not one per host (each counts towards the domain's lockout).
    The hosts share their LDAP connections: one domain is bound a few times, not per host.
    """
    gate = CredentialGate(enabled=options.password is not None)
    results: dict[str, HostFacts] = {}
    with DirectorySessions() as directory:

        def one(host: InventoryHost) -> HostFacts:
            return collect_host(host.target, host_options(host, options), gate=gate, directory=directory)

        pool = ThreadPoolExecutor(max_workers=max(1, min(options.concurrency, len(hosts))))
        try:
            futures = {pool.submit(one, host): host for host in hosts}
            for future in as_completed(futures):
                host = futures[future]
                results[host.name] = future.result()
                done(host, results[host.name])
        except BaseException:
            # Interrupted: hosts not started yet are not started at all.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
    return {host.name: results[host.name] for host in hosts}
