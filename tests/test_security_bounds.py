"""Bounded in time whatever the network does: silent DCs, a silent host, and Ctrl-C."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lmpreflight.collect.parallel import collect_hosts
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import DnsChange, load_scenario
from tests.lab_helpers import cli_connection_args, options_for


@dataclass
class Blackhole:
    port: int
    accepted: list[socket.socket]


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    """A loopback port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield Blackhole(int(listener.getsockname()[1]), accepted)
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_twelve_silent_dcs_stay_within_the_timeout(blackhole: Blackhole) -> None:
    base = load_scenario("healthy")
    names = [f"dc{i:02d}.corp.example" for i in range(12)]
    changes = [
        DnsChange(
            name="_ldap._tcp.dc._msdcs.corp.example", type="SRV", values=[f"0 100 {blackhole.port} {n}" for n in names]
        ),
        *(DnsChange(name=n, type="A", values=["127.0.0.1"]) for n in names),
    ]
    scenario = base.model_copy(update={"dns_changes": [*base.dns_changes, *changes]})
    with Lab(scenario) as lab:
        started = time.monotonic()
        options = dataclasses.replace(options_for(lab, scenario), timeout=6)
        source, _ = collect_hosts(["hv01.corp.example", "hv02.corp.example"], options, pair=True)
        elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.1f} s with --timeout 6"
    assert source.directory is None
    assert any(e.section == "directory" for e in source.errors)


def signal_state(pid: int) -> str:
    """How the run and this test process stood towards SIGINT when it was sent: a run that
    ignores Ctrl-C has most likely inherited an ignored or blocked SIGINT."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    run = " ".join(line.replace("\t", "") for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt")))
    here = (
        f"handler {signal.getsignal(signal.SIGINT)!r}, blocked {sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))}"
    )
    return f"run: {run}; test process: {here}"


@pytest.mark.parametrize(
    "command",
    [["check", "hv01.corp.example", "hv02.corp.example"], ["plan", "hv01.corp.example", "--to", "hv02.corp.example"]],
    ids=["check", "plan"],
)
def test_ctrl_c_ends_a_run_within_a_second_or_two(
    command: list[str], blackhole: Blackhole, interactive_ctrl_c: None
) -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        args = cli_connection_args(lab, scenario, "LAB_PW")
        args = [a.replace(lab.endpoints.winrm["HV02"], f"http://127.0.0.1:{blackhole.port}/wsman") for a in args]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lmpreflight",
                *command,
                *args,
                "--timeout",
                "60",
            ],
            env={**os.environ, "LAB_PW": scenario.client.password},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        waited = time.monotonic()
        while not blackhole.accepted and time.monotonic() - waited < 60:  # the run reached the silent host
            time.sleep(0.1)
        time.sleep(0.5)
        assert process.poll() is None, process.communicate()
        dispositions = signal_state(process.pid)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = process.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    assert process.returncode == 130, (round(elapsed, 2), round(sent - waited, 2), dispositions, out, err)
    assert "interrupted" in err
    # About a second; the margin is for a loaded CI machine (joining the stuck worker took
    # as long as its HTTP read timeout, 30 s and more).
    assert elapsed < 5, f"Ctrl-C took {elapsed:.1f} s to act"


def test_ctrl_c_while_the_command_is_still_loading_ends_in_one_line() -> None:
    """Ctrl-C in the first second, while the modules load, is simulated where it lands: a
    KeyboardInterrupt raised by the import of a command's module."""
    interrupt_the_import = (
        "import runpy, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'lmpreflight.commands.plan':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "runpy.run_module('lmpreflight', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", interrupt_the_import, "--version"], capture_output=True, text=True)
    assert (done.returncode, done.stderr, done.stdout) == (130, "lmpreflight: interrupted\n", "")


def test_the_labs_credential_file_is_removed_when_the_lab_stops() -> None:
    from lmpreflight.lab.wsman import NtlmUsers

    scenario = load_scenario("healthy")
    with Lab(scenario):
        name = NtlmUsers.path()
        assert name is not None
        path = Path(name)
        assert path.exists()
        with Lab(scenario):
            pass
        assert path.exists(), "a lab still running keeps the file"
    assert not path.exists() and NtlmUsers.path() is None
    assert "NTLM_USER_FILE" not in os.environ
