"""Collecting an inventory: every host once, in parallel with a bound.

Each host is collected alone (no peer): in a fleet every host is the peer of every other,
so the pair-only tests of ``check`` — TCP 6600 from the source to the destination's
migration addresses and Hyper-V's verdict on the source VMs' compatibility data — are not
made, and the checks say so (a warning, never a pass). The pair checks then judge every
(source, destination) pair from these facts without a second collection.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import gc
import itertools
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from lmpreflight.collect.directory import CONNECTIONS_PER_SERVER, DirectorySessions, HostNames
from lmpreflight.collect.parallel import CANCEL_GRACE, CollectOptions, CredentialGate, failed_host, typed_names
from lmpreflight.collect.recording import redact
from lmpreflight.collect.winrm import Cancelled
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

PROCESSES_PER_CORE = 2
"""Collection processes a core. A process runs Python on one core at a time (its GIL), and its
hosts spend most of their time waiting for their hosts' answers: when every host of a process
waits at once, its core idles, unless another process has a host ready to run on it. Two
processes a core keep the cores busier: a 200-host fleet at concurrency 32 on two cores, one
then two a core alternated on the idle machine, 9.9-10.7x one host against 9.1-10.4x, at the
same CPU a host (docs/performance.md). A worker peaks at 85-95 MB resident while it runs,
20-55 MB of it its own (the rest shared with the parent)."""


def processes_for(hosts: int, concurrency: int) -> int:
    """Processes worth collecting this many hosts in. A host costs the tool tens of
    milliseconds of CPU (TLS, NTLM, parsing) under one GIL, so a fleet in one process is
    bound by one core whatever the concurrency. ``PROCESSES_PER_CORE`` for a fleet, one for a
    few hosts, never more than the concurrency (each process runs at least one host at a
    time), and only where fork exists: forked workers inherit the password in memory, never
    through argv, the environment or a pipe."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = os.cpu_count() or 1
    return max(1, min(cores * PROCESSES_PER_CORE, concurrency, hosts // HOSTS_PER_PROCESS))


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

    A fleet is split across processes (``processes_for``), which start their hosts once the
    password is known to be good: see ``_collect_in_processes``.
    """
    results: dict[str, HostFacts] = {}

    def keep(host: InventoryHost, facts: HostFacts) -> None:
        results[host.name] = facts
        done(host, facts)

    settings = {host: host_options(host, options) for host in hosts}
    # The workers start on the first host's verdict on its account's password; an inventory
    # naming other accounts is collected in this process, each account behind its own gate.
    processes = (
        processes_for(len(hosts), options.concurrency) if len({_account(own) for own in settings.values()}) == 1 else 1
    )
    if processes > 1:
        _collect_in_processes(hosts, settings, options, keep, processes)
    else:
        _collect_here(hosts, settings, options, keep, CredentialGate(enabled=options.password is not None))
    return {host.name: results[host.name] for host in hosts}


Settings = dict[InventoryHost, CollectOptions]
"""Each host's settings (``host_options``), worked out once a host for the whole run: its
gate, its directory group and its collection all read them (forked workers inherit them)."""


def _account(settings: CollectOptions) -> str:
    """The account a host's logons use (Windows compares account names without regard to case)."""
    return (settings.username or "").casefold()


def _collect_here(
    hosts: list[InventoryHost],
    settings: Settings,
    options: CollectOptions,
    done: HostDone,
    gate: CredentialGate,
    per_server: int = CONNECTIONS_PER_SERVER,
    cancel: threading.Event | None = None,
    handed: Iterator[InventoryHost] | None = None,
) -> None:
    """The hosts in threads of this process, sharing the LDAP connections (their computer
    accounts and SPN holders read a group of hosts at a time: ``DirectorySessions.expect``) and,
    per account, a gate: ``gate`` for the first host's account, a gate of its own for each other
    account the inventory names. One password shared by several accounts may be right for one
    and wrong for another, and a DC's acceptance of one account's says nothing of the next:
    with one gate, every host of the wrong account would have tried it (one failed logon each).

    A host starts as another ends, at most ``options.concurrency`` at once: the next of
    ``hosts``, or with ``handed`` (a worker's: the hosts the parent hands it, one per host
    ended, ``hosts`` being those it expects) the next it hands, which may be one of another
    worker's hosts (a host not expected reads the directory alone).

    Ctrl-C reaches only the thread that runs this, not the hosts' threads: it sets ``cancel``,
    which stops every running host within a fraction of a second (its shell closed), as in
    ``check``; hosts not started yet are not started at all. A caller running this in a
    thread of its own passes ``cancel`` and sets it on Ctrl-C."""
    cancel = cancel or threading.Event()
    with DirectorySessions(per_server) as directory:
        directory.expect(_names(host, settings) for host in hosts)

        gates = {_account(settings[hosts[0]]): gate} if hosts else {}
        for own in settings.values():
            gates.setdefault(_account(own), CredentialGate(enabled=options.password is not None))

        def one(host: InventoryHost) -> HostFacts:
            own = settings[host]
            return collect_host(host.target, own, gate=gates[_account(own)], directory=directory, cancel=cancel)

        source = iter(hosts) if handed is None else _letting_go(handed, hosts, settings, directory)
        slots = max(1, min(options.concurrency, len(hosts))) if handed is None else options.concurrency
        pool = ThreadPoolExecutor(max_workers=slots)
        running = {pool.submit(one, host): host for host in itertools.islice(source, slots)}
        try:
            while running:
                ended, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in ended:
                    # Let go of each host's facts once handed on: a worker that kept every
                    # finished host's (a thousand containers each) would walk them all again in
                    # each garbage collection, and in a fleet worker they are already sent.
                    done(running.pop(future), future.result())
                    if (host := next(source, None)) is not None:
                        running[pool.submit(one, host)] = host
        except BaseException:
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()


def _names(host: InventoryHost, settings: Settings) -> HostNames:
    """The names a host's directory entries are read by, as its collection reads them."""
    return typed_names(host.target.rstrip("."), settings[host])


def _letting_go(
    handed: Iterator[InventoryHost], expected: list[InventoryHost], settings: Settings, directory: DirectorySessions
) -> Iterator[InventoryHost]:
    """The hosts handed to a worker, letting go of the directory entries read for those of
    its own share (``expected``) that another worker took. The parent hands a worker another
    share's host, or nothing more, only once every host of its own share is handed out
    (``_Dealer``): its own hosts not handed to it by then never end here, and the batched
    entries of their groups (read for up to 50 hosts at once, each with its hundreds of
    delegation SPNs) would otherwise be held until the run ends."""
    waiting = set(expected)
    for host in handed:
        if host not in waiting:
            _taken_elsewhere(waiting, settings, directory)
        waiting.discard(host)
        yield host
    _taken_elsewhere(waiting, settings, directory)


def _taken_elsewhere(hosts: set[InventoryHost], settings: Settings, directory: DirectorySessions) -> None:
    """``hosts`` are read by another worker: this one's groups wait for them no longer."""
    for host in hosts:
        names = _names(host, settings)
        if names.domain is not None:
            directory.finished(names.domain, names.computer, names.fqdn)
    hosts.clear()


GO, DOMAIN_GO, STAY = b"go", b"go:domain", b"stay"
"""What a held worker is told first: start taking hosts (``DOMAIN_GO``: a DC accepted the
password, so a host refusing it refuses the account, and holds back no other host), or end
without starting any."""


class _Dealer:
    """The hosts handed out to the workers one at a time, as each ends one, so that no worker
    idles while another still has hosts waiting (dealt out in fixed halves, one worker ended up
    to a second after the other on a loaded machine). Each worker is handed its own share first
    (the hosts whose directory entries it reads in groups), then what is left of the fullest
    other share, from its end. The hosts follow the verdict up the same pipe, as indexes into
    the hosts the workers were forked with.

    Also the one verdict on the held workers, whoever reaches it first: the first host's logon
    being accepted (from its thread) or that host ending without it (from the parent)."""

    def __init__(self, shares: list[list[int]], slots: list[int], controls: list[Connection]) -> None:
        self._left = [deque(share) for share in shares]
        self._slots = slots
        self._controls = controls
        self._lock = threading.Lock()
        self._handed: list[list[int]] = [[] for _ in shares]
        self.verdict: bytes | None = None

    def release(self, verdict: bytes) -> bytes:
        """Tell every worker ``verdict`` unless they were told already, and hand each as many
        hosts as it runs at once; the verdict they got."""
        with self._lock:
            if self.verdict is None:
                self.verdict = verdict
                for control in self._controls:
                    with contextlib.suppress(OSError):  # a worker already gone (interrupted) hears nothing
                        control.send_bytes(verdict)
                if verdict != STAY:
                    for worker, slots in enumerate(self._slots):
                        for _ in range(slots):
                            self._hand(worker)
            return self.verdict

    def freed(self, worker: int) -> None:
        """``worker`` sent a host's facts: hand it the next host."""
        with self._lock:
            self._hand(worker)

    def stop(self) -> None:
        """Hand out nothing more (Ctrl-C): every worker's pipe is closed, so one waiting for a
        host goes on to end, and a logon accepted from now on starts nothing."""
        with self._lock:
            self.verdict = self.verdict or STAY
            for control in self._controls:
                control.close()

    def owed(self, worker: int, hosts: list[InventoryHost]) -> list[InventoryHost]:
        """The hosts ``worker`` should have sent: those handed to it, and those of its share
        handed to nobody (every worker ended first)."""
        with self._lock:
            return [hosts[index] for index in [*self._handed[worker], *self._left[worker]]]

    def _hand(self, worker: int) -> None:
        control = self._controls[worker]
        if control.closed:
            return
        own = self._left[worker]
        share = own or max(self._left, key=len)
        if not share:  # nothing left for anyone: each worker ends once its running hosts have
            for every in self._controls:
                every.close()
            return
        index = share.popleft() if share is own else share.pop()
        try:
            control.send_bytes(b"%d" % index)
        except OSError:  # the worker is gone: the host waits for another
            if share is own:
                share.appendleft(index)
            else:
                share.append(index)
            control.close()
            return
        self._handed[worker].append(index)


def _collect_in_processes(
    hosts: list[InventoryHost], settings: Settings, options: CollectOptions, done: HostDone, processes: int
) -> None:
    """The hosts handed out to forked workers (``_Dealer``), each with its share of the
    concurrency and of the LDAP connections per DC, so the run keeps the user's --concurrency
    in all and at most ``max(CONNECTIONS_PER_SERVER, processes)`` connections open per DC (one
    more while the first host finishes). Each worker sends every host's facts up a pipe as it
    finishes, and is handed its next host in return: progress stays per host, and the parent
    holds no more than it keeps anyway.

    With a password, the first host is collected here, alone, while the workers wait for the
    password's verdict: they start their hosts the moment the domain accepts it (the first
    host's directory read, once its DC and any Global Catalog it asks have bound), not when
    that host's collection ends. A host's own acceptance is not enough, since a host also
    accepts a local account of the same name whose password the domain rejects: without a
    DC's verdict the workers start when the first host ends accepted and not rejected, and
    otherwise (a rejection, or no answer) end without starting any host; the rest are then
    collected here behind the same gate, as a few hosts are. So a mistyped password costs one failed logon,
    and a right one holds the fleet for a logon, not for one host's collection. The workers
    are forked before the first host starts, while this process runs no thread that could
    hold a lock the children would inherit held.

    A worker that dies (the system's OOM killer, a bug) costs the hosts it was handed and had
    not sent; the hosts it was not handed yet go to the other workers.

    On Ctrl-C (or any failure) the parent stops the workers (``_interrupt``) and, like the
    threads of one process, they start no further host and stop the running ones within a
    fraction of a second (shells closed), the first host's too; the parent waits for them, so
    none outlives the run (daemonic: a second Ctrl-C leaves none behind either)."""
    context = multiprocessing.get_context("fork")
    by_name = {host.name: host for host in hosts}
    first = hosts[:1] if options.password is not None else []
    rest = hosts[len(first) :]
    shares = [list(range(index, len(rest), processes)) for index in range(processes)]
    slots = [options.concurrency // processes + (index < options.concurrency % processes) for index in range(processes)]
    workers: list[tuple[BaseProcess, Connection]] = []
    controls: list[Connection] = []
    receivers: list[Connection] = []
    dealer = _Dealer(shares, slots, controls)
    first_cancel = threading.Event()

    def start_workers() -> None:
        dealer.release(DOMAIN_GO)

    gate = CredentialGate(enabled=bool(first), on_domain_accepted=start_workers)
    try:
        for index in range(processes):
            receiver, sender = context.Pipe(duplex=False)
            tasks, control = context.Pipe(duplex=False)
            controls.append(control)
            worker = context.Process(
                target=_worker,
                args=(
                    _Share(
                        rest,
                        shares[index],
                        settings,
                        dataclasses.replace(options, concurrency=slots[index]),
                        max(1, CONNECTIONS_PER_SERVER // processes),
                    ),
                    sender,
                    tasks,
                    list(controls),
                ),
                name=f"collect-{index}",
                daemon=True,
            )
            worker.start()
            sender.close()
            tasks.close()
            workers.append((worker, receiver))
            receivers.append(receiver)
        if first:
            receiver, sender = context.Pipe(duplex=False)
            receivers.append(receiver)
            threading.Thread(
                target=_collect_and_send,
                args=(first, settings, options, sender, CONNECTIONS_PER_SERVER, gate, first_cancel),
                name=f"collect-{first[0].name}",
                daemon=True,
            ).start()
        else:
            dealer.release(GO)
        worker_of = {receiver: index for index, (_, receiver) in enumerate(workers)}
        sent: set[str] = set()
        failures: dict[Connection, str] = {}
        with _no_cyclic_collections():
            for receiver, message in _messages(receivers):
                # The first host's thread sends one message: its facts, or its bug in one line.
                if first and receiver is receivers[-1] and dealer.release(_verdict(gate)) == STAY:
                    _dismiss(workers)  # none started a host: none hears the password
                if isinstance(message, str):  # a bug, in one line
                    failures[receiver] = f"its collection process failed: {message}"
                    continue
                assert isinstance(message, tuple)
                if receiver in worker_of:
                    dealer.freed(worker_of[receiver])
                name, facts = message
                sent.add(name)
                done(by_name[name], facts)
        senders: list[_Sender] = [(receivers[-1], first, None)] if first else []
        if dealer.verdict != STAY:
            senders += [(r, dealer.owed(index, rest), w) for index, (w, r) in enumerate(workers)]
        _report_unsent(senders, sent, failures, settings, done)
        if dealer.verdict == STAY:
            _collect_here(rest, settings, options, done, gate)
    except BaseException:
        dealer.stop()
        first_cancel.set()
        _interrupt(workers, receivers)
        raise
    finally:
        for started, pipe in workers:
            _ended(started)
            pipe.close()
        for control in controls:
            control.close()


def _verdict(gate: CredentialGate) -> bytes:
    """What the held workers are told once the first host has ended."""
    if not gate.is_accepted:
        return STAY
    return DOMAIN_GO if gate.is_domain_accepted else GO


def _interrupt(workers: list[tuple[BaseProcess, Connection]], receivers: list[Connection]) -> None:
    """Stop the workers' hosts (SIGTERM, which sets their ``cancel``), and read what the
    running ones still send until every worker has ended: a worker blocked on a full pipe
    would never end."""
    for started, _ in workers:
        if started.pid is not None and started.is_alive():
            os.kill(started.pid, signal.SIGTERM)
    for _ in _messages(receivers):
        pass


LOST_HINT = (
    "collect this host again; if the system ended the process (out of memory), lower --concurrency or "
    "split the inventory"
)


_Sender = tuple[Connection, list[InventoryHost], BaseProcess | None]
"""A pipe, the hosts whose facts should come up it, and the worker sending them (``None``: the
first host's thread)."""


def _report_unsent(
    senders: list[_Sender],
    sent: set[str],
    failures: dict[Connection, str],
    settings: Settings,
    done: HostDone,
) -> None:
    """Every host a worker (or the first host's thread) never sent facts for gets facts saying
    why, so the run says INCOMPLETE for it and keeps every other host's facts: a worker the
    system killed (out of memory) or that hit a bug must not cost the whole fleet."""
    for receiver, dealt, process in senders:
        unsent = [host for host in dealt if host.name not in sent]
        if unsent:
            reason = failures.get(receiver) or _how_it_ended(process)
            for host in unsent:
                done(host, failed_host(host.target, settings[host], reason, LOST_HINT))


def _how_it_ended(process: BaseProcess | None) -> str:
    """Why a worker's hosts have no facts although it ran: it ended before sending them."""
    if process is None:
        return "its collection ended unexpectedly"
    _ended(process)
    code = process.exitcode
    if code is not None and code < 0:
        return f"its collection process ended unexpectedly (killed by {signal.Signals(-code).name})"
    return f"its collection process ended unexpectedly (exit code {code})"


def _dismiss(workers: list[tuple[BaseProcess, Connection]]) -> None:
    """Wait for workers told to stay to end."""
    for started, _ in workers:
        _ended(started)


WORKER_END_WAIT = CANCEL_GRACE + 1.0
"""Seconds a worker has to end once nothing more is read from it: enough to close its hosts'
shells after Ctrl-C (``CANCEL_GRACE``) and exit."""


def _ended(process: BaseProcess) -> None:
    """Wait for a worker to end, and kill it past ``WORKER_END_WAIT``. A worker takes SIGTERM
    only to cancel its hosts, so terminating it does nothing; one blocked on a pipe the parent
    stopped reading (a second Ctrl-C) would otherwise keep the parent, and its exit, waiting
    for ever."""
    process.join(WORKER_END_WAIT)
    if process.is_alive():
        process.kill()
        process.join()


def _messages(receivers: list[Connection]) -> Iterator[tuple[Connection, object]]:
    """What the workers send, with the pipe it came up, as it arrives, until every worker has
    closed its pipe."""
    waiting = list(receivers)
    while waiting:
        for ready in wait(waiting):
            assert isinstance(ready, Connection)
            try:
                yield ready, ready.recv()
            except EOFError:
                waiting.remove(ready)


@dataclasses.dataclass(frozen=True)
class _Share:
    """What a forked worker is given (inherited, not sent): the hosts the parent hands out, by
    index, its own among them (``own``: handed to it first), every host's settings, its share
    of the concurrency (``options``) and of the LDAP connections per DC."""

    hosts: list[InventoryHost]
    own: list[int]
    settings: Settings
    options: CollectOptions
    per_server: int


def _worker(share: _Share, sender: Connection, tasks: Connection, parents: list[Connection]) -> None:
    """In a forked worker: the hosts the parent hands it up ``tasks``, each sent up as
    ``(name, facts)``, once the parent says the password is good; nothing when it says stay.
    The password was accepted before any host starts here, so the worker's gate starts open.
    A host that rejects it stops the worker's other hosts from trying it, unless a DC accepted
    it: then that host refuses only the account (as in one process).

    The parent's SIGTERM, and a terminal's Ctrl-C (SIGINT to the whole process group), only
    set ``cancel`` (``_cancel_on_signals``), which stops every running host within a fraction
    of a second (shells closed) and starts no other; the parent closes ``tasks`` too, so a
    worker waiting for its next host goes on to end. The parent reports the interruption once.

    ``parents``: the parent's ends of the workers' ``tasks`` pipes forked so far, this one's
    too, closed at once: a pipe ends only once every copy of its sending end is closed."""
    for end in parents:
        end.close()
    cancel = _cancel_on_signals()
    _tune_garbage_collection()
    try:
        verdict = tasks.recv_bytes()
    except EOFError:  # the parent is gone before the verdict
        verdict = STAY
    if verdict == STAY:
        sender.close()
        return
    gate = CredentialGate(False)
    if verdict == DOMAIN_GO:
        gate.accepted(by_domain=True)
    own = [share.hosts[index] for index in share.own]
    handed = _handed(share.hosts, tasks)
    _collect_and_send(own, share.settings, share.options, sender, share.per_server, gate, cancel, handed)


def _handed(hosts: list[InventoryHost], tasks: Connection) -> Iterator[InventoryHost]:
    """The hosts the parent hands a worker, as it hands them, until it closes the pipe (no
    host left, or Ctrl-C)."""
    while True:
        try:
            index = int(tasks.recv_bytes())
        except EOFError:
            return
        yield hosts[index]


def _cancel_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, at once, from a thread that waits for nothing else.

    Python runs signal handlers in the main thread only, when it next runs: a signal the
    kernel hands to another thread leaves a main thread blocked on its hosts' futures
    unaware, and a host could start a logon after Ctrl-C. Raising is no better: the terminal's
    SIGINT and the parent's SIGTERM arrive one after the other, and the second, raised while
    the first is handled, would leave hosts starting or shells open. So both are blocked in
    every thread (a thread inherits the mask of the one that starts it: call this before any
    other starts) and one thread takes them with sigwait."""
    cancel = threading.Event()
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)

    def watch() -> None:
        while True:
            signal.sigwait(stops)
            cancel.set()

    threading.Thread(target=watch, name="stop-on-signals", daemon=True).start()
    return cancel


YOUNG_COLLECTION = 10_000
"""Container allocations between two collections of the youngest generation in a collection
worker (Python's default is 700)."""


def _tune_garbage_collection() -> None:
    """Make a worker's garbage collection cheap. It inherits the parent's objects (modules,
    the command's state) and never frees them: frozen, they are no longer walked by every
    older-generation collection, and their pages stay shared with the parent instead of
    being copied as the collector touches them. A host's collection allocates tens of
    thousands of short-lived containers (SOAP envelopes, JSON, pydantic models), almost all
    freed by reference counting; collecting the youngest generation less often finds the
    rest all the same, for about a third of the time (150-185 against 51-63 ms a worker for
    100 hosts)."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, middle, oldest)


@contextlib.contextmanager
def _no_cyclic_collections() -> Iterator[None]:
    """While the parent receives the fleet's facts, no cyclic garbage collection: what it
    allocates then is almost all kept (every host's facts, unpickled, which hold no reference
    cycles), so each collection walked it again and found next to nothing (about 300 cyclic
    objects, from the first host's own collection, in 80 hosts): 300 ms for 200 hosts at
    Python's usual thresholds, 84 ms with the youngest generation collected every 10,000
    allocations. Afterwards what was allocated meanwhile joins the oldest generation without
    being walked (frozen, then unfrozen: Python puts unfrozen objects there), as if it had
    survived the collections it skipped; the first host's cycles are found by the next full
    collection. Objects frozen by someone else before are left as they are."""
    enabled, untouched = gc.isenabled(), gc.get_freeze_count() == 0
    gc.disable()
    try:
        yield
    finally:
        if untouched:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


def _collect_and_send(
    hosts: list[InventoryHost],
    settings: Settings,
    options: CollectOptions,
    sender: Connection,
    per_server: int,
    gate: CredentialGate,
    cancel: threading.Event | None = None,
    handed: Iterator[InventoryHost] | None = None,
) -> None:
    """The hosts collected behind ``gate`` (``_collect_here``), each sent up ``sender`` as
    ``(name, facts)`` as it finishes; a bug is sent as one line, not a worker's traceback."""

    def send(host: InventoryHost, facts: HostFacts) -> None:
        sender.send((host.name, facts))

    try:
        _collect_here(hosts, settings, options, send, gate, per_server, cancel, handed)
    except (KeyboardInterrupt, Cancelled):  # the parent reports the interruption
        pass
    except Exception as exc:  # a bug: told to the parent in one line, not as a worker's traceback
        # The line goes into every unsent host's facts and the reports: never the password,
        # whatever the exception quoted.
        line = redact(f"{type(exc).__name__}: {exc}".encode(), [options.password or ""])
        sender.send(line.decode(errors="replace"))
    finally:
        sender.close()
