"""A fleet's collection split across forked processes, over the real transport against the lab:
the same facts as one process, progress per host in the parent, one failed logon for a wrong
password, and Ctrl-C leaving no worker and no open shell behind."""

from __future__ import annotations

import dataclasses
import gc
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import pytest

from lmpreflight import pipeline
from lmpreflight.collect import parallel
from lmpreflight.collect.directory import CONNECTIONS_PER_SERVER, DirectorySessions
from lmpreflight.collect.parallel import CollectOptions, typed_names
from lmpreflight.facts.model import HostFacts
from lmpreflight.fleet import collect as fleet_collect
from lmpreflight.fleet.collect import collect_inventory, processes_for
from lmpreflight.fleet.inventory import InventoryHost
from lmpreflight.lab.environment import Lab, LabTuning
from lmpreflight.lab.scenario import Scenario, load_scenario
from tests.lab_helpers import comparable
from tests.test_lab_fleet import refusing_one_host

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="the split needs fork")


def estate(tmp_path: Path, hosts: int, problems: bool = True) -> Scenario:
    path = tmp_path / "estate.yaml"
    body = f"generate: {{hosts: {hosts}, vms_per_host: 2, problems: {str(problems).lower()}}}\n"
    path.write_text(f"extends: fleet\nname: estate\n{body}", encoding="utf-8")
    return load_scenario(str(path))


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Split a lab-sized fleet across two processes, as a 200-host one is split on one core:
    two hosts a process suffice."""
    monkeypatch.setattr(fleet_collect, "HOSTS_PER_PROCESS", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    yield


def test_processes_for_a_fleet_are_two_a_core_within_the_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert processes_for(10, 32) == 1, "a few hosts stay in one process"
    assert processes_for(200, 32) == 4, "two a core"
    assert processes_for(40, 32) == 2, "at least HOSTS_PER_PROCESS hosts a process"
    assert processes_for(200, 3) == 3, "never more processes than hosts at once"
    assert processes_for(200, 1) == 1, "never more processes than hosts at once"


def test_a_fleet_split_across_processes_finds_what_one_process_finds(tmp_path: Path, split: None) -> None:
    scenario = estate(tmp_path, 10)
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=4)
        assert processes_for(len(hosts), options.concurrency) == 2
        binds_before = len(lab.ldap["corp.example"].directory.bind_attempts)
        progress: list[tuple[str, int, str]] = []
        collecting_garbage: set[bool] = set()

        def done(host: InventoryHost, facts: HostFacts) -> None:
            workers = len(multiprocessing.active_children())
            progress.append((host.name, workers, threading.current_thread().name))
            collecting_garbage.add(gc.isenabled())

        thresholds = gc.get_threshold()
        split_facts = collect_inventory(hosts, options, done)
        assert collecting_garbage == {False}, "no cyclic collections walk the facts the parent receives"
        assert gc.isenabled() and gc.get_threshold() == thresholds, "the parent's garbage collection is as it was"
        young = {id(thing) for generation in (0, 1) for thing in gc.get_objects(generation)}
        assert not young & {id(facts) for facts in split_facts.values()}, "the facts are not walked again"
        binds = len(lab.ldap["corp.example"].directory.bind_attempts) - binds_before
        with pytest.MonkeyPatch.context() as one_process:
            one_process.setattr(fleet_collect, "HOSTS_PER_PROCESS", 1000)
            single = collect_inventory(hosts, options)
    assert {n: comparable(f) for n, f in split_facts.items()} == {n: comparable(f) for n, f in single.items()}
    assert split_facts["HV003"].directory is not None and split_facts["HV003"].directory.computer is not None
    assert split_facts["HV010"].whole_host_error is not None  # the unreachable one stays so
    assert sorted(name for name, _, _ in progress) == sorted(scenario.hosts), "progress for every host, once"
    assert {thread for _, _, thread in progress} == {"MainThread"}, "reported in the parent"
    assert max(workers for _, workers, _ in progress) == 2, "the hosts after the first came from two workers"
    # The first host opens one connection here; each worker keeps half the bound.
    assert binds <= 1 + CONNECTIONS_PER_SERVER
    assert multiprocessing.active_children() == []


def test_a_rejected_password_stops_before_any_worker_starts(tmp_path: Path, split: None) -> None:
    scenario = estate(tmp_path, 8, problems=False)
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), password="wrong", concurrency=8)
        workers: list[int] = []
        facts = collect_inventory(
            hosts, options, lambda host, f: workers.append(len(multiprocessing.active_children()))
        )
        winrm_failures = sum(server.stats.failed_logons for server in lab.wsman.values())
        ldap_failures = sum(server.directory.failed_binds for server in lab.ldap.values())
    assert winrm_failures + ldap_failures == 1, "only the first logon tries the rejected password"
    assert workers == [0] * len(hosts), "no worker was forked to try it again"
    assert all(f.whole_host_error is not None for f in facts.values())
    held_back = sum("not tried" in (f.whole_host_error.message if f.whole_host_error else "") for f in facts.values())
    assert held_back >= len(hosts) - 1  # at most one host heard the password (the DC may have been first)


def test_ctrl_c_stops_the_workers_and_leaves_no_shell_open(
    tmp_path: Path, split: None, interactive_ctrl_c: None
) -> None:
    scenario = estate(tmp_path, 40)
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        for server in lab.wsman.values():
            # Windows takes a while to start a shell: Ctrl-C likely lands while a Create is in
            # flight, whose shell the host makes all the same.
            server.options.create_latency = 0.3
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=2)
        collected: list[str] = []

        def done(host: InventoryHost, facts: HostFacts) -> None:
            collected.append(host.name)
            if len(collected) == 3:  # the workers are running: interrupt the parent
                os.kill(os.getpid(), signal.SIGINT)

        with pytest.raises(KeyboardInterrupt):
            collect_inventory(hosts, options, done)
        assert multiprocessing.active_children() == [], "no worker outlives the run"
        time.sleep(0.5)  # a Create in flight at Ctrl-C has made its shell by now
        assert all(server.shells == {} for server in lab.wsman.values()), "running hosts closed their shells"
        started = sum(server.stats.shells_created for server in lab.wsman.values())
    assert started < len(hosts) - 1, "hosts not started yet were not started at all"


def test_a_terminals_ctrl_c_starts_no_logon_after_it(
    tmp_path: Path, split: None, interactive_ctrl_c: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A terminal's Ctrl-C reaches every process of the group at once, the parent's stop
    follows: the workers start no host's logon after it, however the signals fall. Each
    logon's start is noted where the worker makes it (CLOCK_MONOTONIC is the machine's, so
    the forked workers' times compare with this process's), not when the lab hears it, which
    a loaded machine delays."""
    started_at = tmp_path / "logons"
    run_collector = parallel.run_collector

    def noting_the_start(*args: Any, **kwargs: Any) -> Any:
        with started_at.open("a") as noted:
            noted.write(f"{time.monotonic()}\n")
        return run_collector(*args, **kwargs)

    monkeypatch.setattr(parallel, "run_collector", noting_the_start)
    scenario = estate(tmp_path, 40)
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario, LabTuning(http_latency=0.02)) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=4)
        interrupted: list[float] = []
        collected: list[str] = []

        def done(host: InventoryHost, facts: HostFacts) -> None:
            collected.append(host.name)
            if len(collected) == 3:  # the workers are running
                interrupted.append(time.monotonic())
                for worker in multiprocessing.active_children():
                    os.kill(worker.pid or 0, signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)

        with pytest.raises(KeyboardInterrupt):
            collect_inventory(hosts, options, done)
        assert all(server.shells == {} for server in lab.wsman.values())
    # A worker takes the signal a moment after it is sent; no logon starts later on.
    starts = [float(line) for line in started_at.read_text().split()]
    late = sorted(round(at - interrupted[0], 2) for at in starts if at - interrupted[0] > 0.5)
    assert late == [], f"logons started this many seconds after Ctrl-C: {late}"
    assert len(starts) < len(hosts) - 1, "hosts not started yet were not started at all"
    assert multiprocessing.active_children() == []


def test_the_fleet_starts_once_the_password_is_accepted_not_when_the_first_host_ends(
    tmp_path: Path, split: None
) -> None:
    scenario = estate(tmp_path, 6, problems=False)
    first = next(iter(scenario.hosts))
    # The first host accepts the logon, then answers its first four Receives busy: with the
    # tool's back-off (0.25, 0.5, 1 and 2 s) it ends seconds after the others could.
    busy = scenario.hosts[first].model_copy(update={"winrm_faults": {"busy_receive": 4}})
    scenario.hosts[first] = busy
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=4)
        order: list[str] = []
        facts = collect_inventory(hosts, options, lambda host, f: order.append(host.name))
        failed_logons = sum(server.stats.failed_logons for server in lab.wsman.values())
    assert order[-1] == first, "every other host was collected while the first one was still running"
    assert sorted(order) == sorted(scenario.hosts)
    assert all(f.whole_host_error is None and f.vms for f in facts.values()), "the busy host too, in the end"
    assert failed_logons == 0


def test_ctrl_c_while_the_workers_wait_for_the_password_leaves_none_behind(
    tmp_path: Path, split: None, interactive_ctrl_c: None
) -> None:
    scenario = estate(tmp_path, 6, problems=False)
    first = next(iter(scenario.hosts))
    busy = scenario.hosts[first].model_copy(update={"winrm_faults": {"busy_receive": 3}})
    scenario.hosts[first] = busy
    with Lab(scenario) as lab:
        # In a domain without a DC, no DC gives a verdict on the password: the workers wait
        # for the first host, which takes seconds.
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=4, domain="no-dc.example")
        hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
        first_server = lab.wsman[first]

        def interrupt_once_the_first_host_has_its_shell() -> None:
            # While the first host's Receives are answered busy, the workers still wait; a
            # fixed timer fired before that host's logon on a loaded machine.
            while not first_server.stats.shells_created:
                if over.wait(0.01):
                    return  # the run ended without that shell: pytest.raises says so
            os.kill(os.getpid(), signal.SIGINT)

        over = threading.Event()
        interrupter = threading.Thread(target=interrupt_once_the_first_host_has_its_shell, daemon=True)
        interrupter.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                collect_inventory(hosts, options)
        finally:
            over.set()
            interrupter.join()
        assert multiprocessing.active_children() == [], "the waiting workers ended"
        assert all(server.shells == {} for server in lab.wsman.values())
        started = {name for name, server in lab.wsman.items() if server.stats.shells_created}
    assert started == {first}, "no worker started a host"


def test_ctrl_c_stops_a_first_host_that_hangs_within_a_second_or_two(
    tmp_path: Path, split: None, interactive_ctrl_c: None
) -> None:
    """The first host is collected in a thread of the parent, which Ctrl-C does not reach:
    it must not hold the run until its deadline."""
    scenario = estate(tmp_path, 6, problems=False)
    first = next(iter(scenario.hosts))
    scenario.hosts[first] = scenario.hosts[first].model_copy(update={"fault": "hang"})
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=4, timeout=60)
        hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
        signalled: list[float] = []

        def interrupt() -> None:
            signalled.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Timer(1.5, interrupt)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            collect_inventory(hosts, options)
        took = time.monotonic() - signalled[0]
        timer.join()
        assert multiprocessing.active_children() == []
        assert all(server.shells == {} for server in lab.wsman.values()), "the hanging host's shell was closed too"
    # About a second; the margin is for a loaded machine (before, the run waited for the deadline).
    assert took < 5, f"Ctrl-C took {took:.1f} s to act"


def _has_hv003(share: Any) -> bool:
    return any(share.hosts[index].name == "HV003" for index in share.own)


def _killed_after_the_verdict(share: Any, sender: Connection, tasks: Connection, parents: list[Connection]) -> None:
    """A worker the system kills (the OOM killer) once told to start, before it sends anything."""
    if _has_hv003(share):
        tasks.recv_bytes()
        os.kill(os.getpid(), signal.SIGKILL)
    real_worker(share, sender, tasks, parents)


real_worker = fleet_collect._worker


class _KilledAtTheSecondHost:
    """A worker's pipe to the parent: its first host's facts go up, the system kills the
    worker (the OOM killer) as it sends its second."""

    def __init__(self, sender: Connection) -> None:
        self.sender, self.sent = sender, 0

    def send(self, message: object) -> None:
        self.sent += 1
        if self.sent == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        self.sender.send(message)

    def close(self) -> None:
        self.sender.close()


def _killed_mid_run(share: Any, sender: Connection, tasks: Connection, parents: list[Connection]) -> None:
    if _has_hv003(share):
        sender = cast(Connection, _KilledAtTheSecondHost(sender))
    real_worker(share, sender, tasks, parents)


@pytest.mark.parametrize(
    ("dying", "concurrency", "lost_hosts"),
    [
        # Two hosts at once a worker: it had been handed HV003 and HV005 and sent neither.
        (_killed_after_the_verdict, 4, ["HV003", "HV005"]),
        # One at once: it sent HV003, was handed HV005 in return and died sending it.
        (_killed_mid_run, 2, ["HV005"]),
    ],
)
def test_a_worker_killed_by_the_system_costs_only_the_hosts_it_had_taken_and_not_sent(
    tmp_path: Path, split: None, monkeypatch: pytest.MonkeyPatch, dying: Any, concurrency: int, lost_hosts: list[str]
) -> None:
    """HV007, of the dying worker's share but not handed to it yet, is collected by the other
    worker, as are all the others: every host has facts or the reason it has none."""
    monkeypatch.setattr(fleet_collect, "_worker", dying)
    scenario = estate(tmp_path, 8, problems=False)
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=concurrency)
        reported: list[str] = []
        facts = collect_inventory(hosts, options, lambda host, f: reported.append(host.name))
    lost = {name: f.whole_host_error for name, f in facts.items() if f.whole_host_error is not None}
    assert sorted(lost) == lost_hosts, "the hosts the dead worker had taken and not sent, and only those"
    assert {e.message for e in lost.values()} == {"its collection process ended unexpectedly (killed by SIGKILL)"}
    assert all(f.vms for name, f in facts.items() if name not in lost), "every other host's facts are kept"
    assert sorted(reported) == sorted(scenario.hosts), "progress for every host, the lost ones too"
    assert multiprocessing.active_children() == []


def test_hosts_go_to_the_worker_that_is_free(tmp_path: Path, split: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker's first host is slow (answers busy for seconds): the other worker, once its
    own hosts are done, takes those the busy one had not started instead of idling."""
    collected_by = tmp_path / "collected-by"
    real_collect_host = pipeline.collect_host

    def noting_the_process(target: str, options: CollectOptions, **shared: Any) -> HostFacts:
        facts = real_collect_host(target, options, **shared)
        with collected_by.open("a") as noted:
            noted.write(f"{target.split('.')[0].upper()} {os.getpid()}\n")
        return facts

    monkeypatch.setattr(fleet_collect, "collect_host", noting_the_process)
    scenario = estate(tmp_path, 8, problems=False)
    # HV003, the busy worker's first host, answers its first six Receives busy: with the
    # tool's back-off (0.25, 0.5, 1, then 2 s each) it ends about 8 s after it started, when
    # the other worker has long collected its own four hosts and could take two more.
    scenario.hosts["HV003"] = scenario.hosts["HV003"].model_copy(update={"winrm_faults": {"busy_receive": 6}})
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=2)
        facts = collect_inventory(hosts, options)
    by = dict(line.split() for line in collected_by.read_text().splitlines())
    assert sorted(by) == sorted(scenario.hosts), "every host collected once"
    assert all(f.whole_host_error is None and f.vms for f in facts.values())
    busy, free = by["HV003"], by["HV002"]
    assert busy != free and by["HV001"] not in (busy, free), "the first host in the parent, then two workers"
    assert [name for name, pid in by.items() if pid == busy] == ["HV003"], "the busy worker took no other host"
    assert by["HV005"] == by["HV007"] == free, "its share's other hosts went to the free worker"


def test_a_bug_in_a_worker_becomes_an_error_of_its_unsent_hosts(
    tmp_path: Path, split: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_collect_host = pipeline.collect_host

    def failing(target: str, options: CollectOptions, **shared: Any) -> HostFacts:
        if target.startswith("hv004"):
            raise ValueError(f"a bug quoting {options.password}")
        return real_collect_host(target, options, **shared)

    monkeypatch.setattr(fleet_collect, "collect_host", failing)
    scenario = estate(tmp_path, 8, problems=False)
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=2)
        facts = collect_inventory(hosts, options)
    assert facts["HV004"].whole_host_error is not None
    message = facts["HV004"].whole_host_error.message
    assert message == "its collection process failed: ValueError: a bug quoting [redacted]", "never the password"
    assert all(facts[name].vms for name in ["HV001", "HV003", "HV005", "HV007"]), "the other worker's hosts"
    assert multiprocessing.active_children() == []


def test_a_host_refusing_the_account_holds_back_none_of_its_workers_hosts(tmp_path: Path, split: None) -> None:
    """The workers start on the DC's acceptance: a host's 401 after it refuses the account,
    not the password, and the worker's later hosts are still collected."""
    scenario, refusing = refusing_one_host(tmp_path, 8)
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario, LabTuning(https=True)) as lab:
        lab.wsman[refusing].options.basic_users = {}
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=2, transport="basic")
        assert processes_for(len(hosts), options.concurrency) == 2
        facts = collect_inventory(hosts, options)
    refused = facts[refusing].whole_host_error
    assert refused is not None and refused.hint is not None and "the domain accepted this password" in refused.hint
    others = [name for name in scenario.hosts if name != refusing]
    assert all(facts[name].whole_host_error is None and facts[name].vms for name in others)


def _deaf_worker() -> None:
    """A worker as the fleet's are, taking SIGTERM only to cancel, stuck where it cannot notice."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    time.sleep(60)


def test_a_worker_that_does_not_end_is_killed_not_waited_for_for_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker blocked where it cannot see its cancel (a pipe the parent stopped reading after
    a second Ctrl-C) ignores SIGTERM: the parent kills it after the wait instead of hanging."""
    monkeypatch.setattr(fleet_collect, "WORKER_END_WAIT", 0.3)
    worker = multiprocessing.get_context("fork").Process(target=_deaf_worker)
    worker.start()
    started = time.monotonic()
    fleet_collect._ended(worker)
    assert not worker.is_alive() and worker.exitcode == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_a_workers_groups_let_go_of_its_hosts_the_other_worker_took() -> None:
    """A worker's share is read by the directory in groups; the hosts of its share the other
    worker took never end here, so the group is let go once the parent hands this worker
    another share's host, or nothing more (it does either only once this share is handed out)."""
    options = CollectOptions(username="admin@corp.example", password=None)
    hosts = [InventoryHost(f"HV{n:03d}", f"hv{n:03d}.corp.example") for n in range(1, 9)]
    settings = dict.fromkeys(hosts, options)
    own, other = hosts[:4], hosts[4:]

    def group_held(directory: DirectorySessions) -> bool:
        return directory.group("corp.example", "HV001", "hv001.corp.example") is not None

    for handed, ended_by in (([own[0], own[1], other[0]], "another share's host"), ([own[0], own[1]], "no more")):
        with DirectorySessions() as directory:
            directory.expect(typed_names(host.target, options) for host in own)
            dealt = fleet_collect._letting_go(iter(handed), own, settings, directory)
            for host in itertools.islice(dealt, 2):
                directory.finished("corp.example", host.name, host.target)  # its read is over
            assert group_held(directory), "HV003 and HV004 may still come"
            assert list(dealt) == handed[2:]
            assert not group_held(directory), f"let go on {ended_by}"


def test_a_worker_hands_its_hosts_through_the_letting_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's hosts come to it through ``_letting_go``: when the parent hands it another
    share's host, its own hosts still unread there are let go before that host starts."""
    options = CollectOptions(username="admin@corp.example", password=None, concurrency=1)
    hosts = [InventoryHost(f"HV{n:03d}", f"hv{n:03d}.corp.example") for n in range(1, 9)]
    settings = dict.fromkeys(hosts, options)
    own, other = hosts[:4], hosts[4:]
    group_held_at: dict[str, bool] = {}

    def collect(target: str, settings: CollectOptions, **shared: Any) -> HostFacts:
        directory: DirectorySessions = shared["directory"]
        group_held_at[target] = directory.group("corp.example", "HV001", "hv001.corp.example") is not None
        directory.finished("corp.example", target.split(".")[0].upper(), target)  # its read is over
        return parallel.failed_host(target, settings, "not collected in this test", None)

    monkeypatch.setattr(fleet_collect, "collect_host", collect)
    handed = [own[0], own[1], other[0]]
    gate = parallel.CredentialGate(enabled=False)
    fleet_collect._collect_here(own, settings, options, lambda host, facts: None, gate, handed=iter(handed))
    assert group_held_at == {
        "hv001.corp.example": True,
        "hv002.corp.example": True,
        "hv005.corp.example": False,
    }, "HV003 and HV004 went to the other worker: their group is let go before HV005 starts"
