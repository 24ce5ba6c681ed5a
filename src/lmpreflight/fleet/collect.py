"""Collecting an inventory: every host once, in parallel with a bound.

Each host is collected alone (no peer): in a fleet every host is the peer of every other,
so the pair-only tests of ``check`` — TCP 6600 from the source to the destination's
migration addresses and Hyper-V's verdict on the source VMs' compatibility data — are not
made, and the checks say so (a warning, never a pass). The pair checks then judge every
(source, destination) pair from these facts without a second collection.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from lmpreflight.collect.directory import CONNECTIONS_PER_SERVER, DirectorySessions
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


HOSTS_PER_PROCESS = 16
"""Below this many hosts a process, forking costs more than the CPU it spreads."""


def processes_for(hosts: int, concurrency: int) -> int:
    """Processes worth collecting this many hosts in. A host costs the tool tens of
    milliseconds of CPU (TLS, NTLM, parsing) under one GIL, so a fleet in one process is
    bound by one core whatever the concurrency. Every core for a fleet, one for a few hosts,
    never more than the concurrency (each process runs at least one host at a time), and
    only where fork exists: forked workers inherit the password in memory, never through
    argv, the environment or a pipe."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(os.cpu_count() or 1, concurrency, hosts // HOSTS_PER_PROCESS))


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

    A fleet is split across processes (``processes_for``) only once the password is
    settled: the first host is collected here alone, and only if it accepted the password
    are the rest forked out; otherwise they stay here behind the same gate, as a few hosts do.
    """
    gate = CredentialGate(enabled=options.password is not None)
    results: dict[str, HostFacts] = {}

    def keep(host: InventoryHost, facts: HostFacts) -> None:
        results[host.name] = facts
        done(host, facts)

    rest = hosts
    processes = processes_for(len(hosts), options.concurrency)
    if processes > 1 and options.password is not None:
        _collect_here(hosts[:1], options, keep, gate)
        rest = hosts[1:]
    if processes > 1 and gate.is_accepted:
        _collect_in_processes(rest, options, keep, processes)
    else:
        _collect_here(rest, options, keep, gate)
    return {host.name: results[host.name] for host in hosts}


def _collect_here(
    hosts: list[InventoryHost],
    options: CollectOptions,
    done: HostDone,
    gate: CredentialGate,
    per_server: int = CONNECTIONS_PER_SERVER,
) -> None:
    """The hosts in threads of this process, sharing one gate and the LDAP connections."""
    with DirectorySessions(per_server) as directory:

        def one(host: InventoryHost) -> HostFacts:
            return collect_host(host.target, host_options(host, options), gate=gate, directory=directory)

        pool = ThreadPoolExecutor(max_workers=max(1, min(options.concurrency, len(hosts))))
        try:
            futures = {pool.submit(one, host): host for host in hosts}
            for future in as_completed(futures):
                done(futures[future], future.result())
        except BaseException:
            # Interrupted: hosts not started yet are not started at all.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()


def _collect_in_processes(hosts: list[InventoryHost], options: CollectOptions, done: HostDone, processes: int) -> None:
    """The hosts dealt out to forked workers, each with its share of the concurrency and of
    the LDAP connections per DC, so the run keeps the user's --concurrency in all and at most
    ``max(CONNECTIONS_PER_SERVER, processes)`` connections open per DC. Each worker sends every
    host's facts up a pipe as it finishes: progress stays per host, and the parent holds no
    more than it keeps anyway. On Ctrl-C (or any failure) the workers are interrupted too and,
    like the threads of one process, start no further host and let the running ones end
    within their deadline (shells closed, recordings whole); the parent waits for them, so
    none outlives the run (daemonic: a second Ctrl-C leaves none behind either)."""
    context = multiprocessing.get_context("fork")
    by_name = {host.name: host for host in hosts}
    workers: list[tuple[BaseProcess, Connection]] = []
    try:
        for index in range(processes):
            share = dataclasses.replace(
                options, concurrency=options.concurrency // processes + (index < options.concurrency % processes)
            )
            receiver, sender = context.Pipe(duplex=False)
            worker = context.Process(
                target=_worker,
                args=(hosts[index::processes], share, sender, max(1, CONNECTIONS_PER_SERVER // processes)),
                name=f"collect-{index}",
                daemon=True,
            )
            worker.start()
            sender.close()
            workers.append((worker, receiver))
        _receive([receiver for _, receiver in workers], lambda name, facts: done(by_name[name], facts))
    except BaseException:
        for started, _ in workers:
            if started.pid is not None and started.is_alive():
                os.kill(started.pid, signal.SIGINT)
        # Keep reading what the running hosts still send: a worker blocked on a full pipe would never end.
        for _ in _messages([pipe for _, pipe in workers]):
            pass
        raise
    finally:
        for started, pipe in workers:
            started.join()
            pipe.close()


def _messages(receivers: list[Connection]) -> Iterator[object]:
    """What the workers send, as it arrives, until every worker has closed its pipe."""
    waiting = list(receivers)
    while waiting:
        for ready in wait(waiting):
            assert isinstance(ready, Connection)
            try:
                yield ready.recv()
            except EOFError:
                waiting.remove(ready)


def _receive(receivers: list[Connection], done: Callable[[str, HostFacts], None]) -> None:
    """Hand each host's facts on as a worker sends them."""
    for message in _messages(receivers):
        if isinstance(message, str):
            raise RuntimeError(f"a collection worker failed: {message}")
        assert isinstance(message, tuple)
        done(*message)


def _worker(hosts: list[InventoryHost], options: CollectOptions, sender: Connection, per_server: int) -> None:
    """In a forked worker: its hosts, each sent up as ``(name, facts)``. The password was
    accepted before the fork, so the worker's gate starts open; a host that rejects it
    still stops the worker's other hosts from trying it. Ctrl-C ends the worker quietly
    (the parent reports the interruption once)."""
    try:
        _collect_here(
            hosts, options, lambda host, facts: sender.send((host.name, facts)), CredentialGate(False), per_server
        )
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # a bug: told to the parent in one line, not as a worker's traceback
        sender.send(f"{type(exc).__name__}: {exc}")
    finally:
        sender.close()
