"""Generated fleets in the lab: N hosts from one template, served cheaply, collected for real."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from lmpreflight.collect import parallel
from lmpreflight.collect.directory import CONNECTIONS_PER_SERVER, DirectoryError
from lmpreflight.collect.parallel import collect_hosts
from lmpreflight.errors import UserError
from lmpreflight.fleet.collect import collect_inventory
from lmpreflight.fleet.inventory import InventoryHost
from lmpreflight.lab.environment import Lab, LabTuning
from lmpreflight.lab.scenario import Scenario, load_scenario
from tests.lab_helpers import comparable


def generated(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "estate.yaml"
    path.write_text(f"extends: fleet\nname: estate\n{body}", encoding="utf-8")
    return path


def test_fleet_scenario_hosts_and_their_problems() -> None:
    scenario = load_scenario("fleet")
    assert list(scenario.hosts) == [f"HV{n:03d}" for n in range(1, 13)]
    facts = {name: scenario.host_facts(name) for name in scenario.hosts}
    assert [vm["name"] for vm in facts["HV003"]["vms"]] == ["HV003-VM01", "HV003-VM02", "HV003-VM03"]
    assert facts["HV005"]["network"]["migration_firewall_rule"]["enabled"] is False
    assert facts["HV011"]["migration"]["enabled"] is False
    assert facts["HV004"]["processor"]["manufacturer"] == "AuthenticAMD"
    assert facts["HV007"]["os"]["build"] == 17763
    assert {vm["version"] for vm in facts["HV007"]["vms"]} == {"9.0"}
    assert scenario.hosts["HV012"].fault == "unreachable"
    # Each host may delegate to every other one, by short name and FQDN, for migration and SMB.
    account = scenario.hosts["HV003"].account
    assert account is not None
    assert len(account.allowed_to_delegate_to) == 11 * 4
    assert "Microsoft Virtual System Migration Service/hv009.corp.example" in account.allowed_to_delegate_to
    addresses = {tuple(f["identity"]["addresses"]) for f in facts.values()}
    assert len(addresses) == 12


def test_generate_is_validated(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"scenario .*estate.yaml: generate.hosts: .*greater than or equal to 2"):
        load_scenario(str(generated(tmp_path, "generate: {hosts: 1}\n")))
    with pytest.raises(UserError, match=r"generate.colour: unknown field"):
        load_scenario(str(generated(tmp_path, "generate: {hosts: 3, colour: red}\n")))


def test_a_large_lab_serves_every_host_from_one_listener(tmp_path: Path) -> None:
    scenario = load_scenario(str(generated(tmp_path, "generate: {hosts: 40, vms_per_host: 1}\n")))
    with Lab(scenario) as lab:
        assert lab.shared_listener is not None
        ports = {url.split("/")[2] for name, url in lab.endpoints.winrm.items() if name != "HV040"}
        assert len(ports) == 1
        names = ["HV001", "HV017", "HV040"]
        first, second, unreachable = collect_hosts([lab.fqdn(n) for n in names], lab.collect_options(False, ()))
    assert (first.name, second.name) == ("HV001", "HV017")  # each path reaches its own host
    assert first.errors == [] and second.errors == []
    assert [vm.name for vm in second.vms or []] == ["HV017-VM01"]
    assert unreachable.whole_host_error is not None
    assert lab.wsman["HV017"].stats.shells_created == 1
    assert lab.wsman["HV002"].stats.shells_created == 0


def test_a_rejected_password_costs_one_failed_logon_in_a_fleet(tmp_path: Path) -> None:
    scenario = load_scenario(str(generated(tmp_path, "generate: {hosts: 8, vms_per_host: 1, problems: false}\n")))
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), password="wrong", concurrency=8)
        facts = collect_inventory(hosts, options)
        winrm_failures = sum(server.stats.failed_logons for server in lab.wsman.values())
        ldap_failures = sum(server.directory.failed_binds for server in lab.ldap.values())
    assert winrm_failures + ldap_failures == 1, "only the first logon tries the rejected password"
    assert all(f.whole_host_error is not None for f in facts.values())
    held_back = [
        f.whole_host_error.message
        for f in facts.values()
        if f.whole_host_error and "not tried" in f.whole_host_error.message
    ]
    assert len(held_back) >= len(facts) - 1  # at most one host heard the password (the DC may have been first)


def test_a_slow_first_logon_lets_one_more_host_try_the_password_not_every_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logon with no outcome after FIRST_LOGON_WAIT is joined by one waiting host; the rest
    wait on for a verdict. Each exchange takes a second here, so a rejected NTLM logon (three
    exchanges) takes three seconds, three waits."""
    monkeypatch.setattr(parallel, "FIRST_LOGON_WAIT", 1.0)
    scenario = load_scenario(str(generated(tmp_path, "generate: {hosts: 6, vms_per_host: 1, problems: false}\n")))
    with Lab(scenario, LabTuning(http_latency=1.0)) as lab:
        base = lab.collect_options(False, ())
        # Short names and a NetBIOS user name: no domain to read, so only WinRM hears the password.
        short = {name.lower(): url for name, url in lab.endpoints.winrm.items() if name != "HV006"}
        options = dataclasses.replace(
            base, password="wrong", concurrency=5, endpoints={**base.endpoints, **short}, domain=None
        )
        facts = collect_inventory([InventoryHost(name.upper(), name) for name in short], options)
        winrm_failures = sum(server.stats.failed_logons for server in lab.wsman.values())
    assert winrm_failures == 2, "the first host and one more after the wait, however long the logon"
    held_back = [f for f in facts.values() if f.whole_host_error and "not tried" in f.whole_host_error.message]
    assert len(held_back) == len(facts) - 2


def test_a_fleet_collected_in_parallel_equals_each_host_collected_alone(tmp_path: Path) -> None:
    """Hosts collected together share the domain's LDAP connections and what is the same for
    all of them; each host's facts are still exactly what a collection of it alone finds."""
    scenario = load_scenario(str(generated(tmp_path, "generate: {hosts: 10, vms_per_host: 2}\n")))
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario) as lab:
        options = lab.collect_options(False, ())
        alone = {host.name: collect_hosts([host.target], options)[0] for host in hosts}
        binds_alone = len(lab.ldap["corp.example"].directory.bind_attempts)
        together = collect_inventory(hosts, dataclasses.replace(options, concurrency=8))
        binds_together = len(lab.ldap["corp.example"].directory.bind_attempts) - binds_alone
    assert {n: comparable(f) for n, f in together.items()} == {n: comparable(f) for n, f in alone.items()}
    assert together["HV003"].directory is not None and together["HV003"].directory.computer is not None
    assert together["HV010"].whole_host_error is not None  # the unreachable one stays so
    assert binds_alone == len(hosts), "alone, each host binds to the DC once"
    assert binds_together <= CONNECTIONS_PER_SERVER, "together, a few connections serve every host"


def test_a_hosts_facts_are_copied_once_and_a_run_naming_a_vm_leaves_them_unchanged() -> None:
    from lmpreflight.lab.hosts import LabHost, LabWorld

    scenario = load_scenario("fleet")
    world = LabWorld(scenario, scenario.client.user)
    host = LabHost(world, "HV001")
    named = host.collector_document("$LmpVmNames = @('hv001-vm02')\n")["sections"]["vms"]
    assert [("compatibility_info" in vm) for vm in named] == [False, True, False]
    again = host.collector_document("")["sections"]["vms"]
    assert not any("compatibility_info" in vm for vm in again)
    assert world.facts("HV001") is world.facts("HV001")
    assert world.facts("HV001") == scenario.host_facts("HV001")


def test_the_dc_locator_records_are_asked_once_a_run_and_answered_alike(tmp_path: Path) -> None:
    """Every host of a domain asks DNS the same SRV question: within the answer's TTL a run
    asks it once for the facts (and once to open its LDAP connection), as a caching resolver
    would, and every host's facts carry the same answer."""
    scenario = load_scenario(str(generated(tmp_path, "generate: {hosts: 6, vms_per_host: 1}\n")))
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    locator = ("_ldap._tcp.dc._msdcs.corp.example", "SRV")
    with Lab(scenario) as lab:
        assert lab.dns is not None
        questions = lab.dns.resolver.questions
        collect_hosts([hosts[0].target], lab.collect_options(False, ()))
        alone = questions[locator]
        facts = collect_inventory(hosts, dataclasses.replace(lab.collect_options(False, ()), concurrency=1))
        in_fleet = questions[locator] - alone
        own_names = questions[(hosts[1].target, "A")]
    assert alone == 2 and in_fleet == alone, "six hosts one after another ask what one host asks"
    assert own_names >= 1, "each host's own names are still asked"
    answers = {tuple(f.dns.dc_srv) for f in facts.values() if f.dns is not None}
    assert len(answers) == 1 and answers != {()}


def refusing_one_host(tmp_path: Path, hosts: int) -> tuple[Scenario, str]:
    """A fleet reached with Basic over HTTPS where the second host does not let the account
    in (HTTP 401 although the DC accepts the password): say, not in its Administrators group."""
    scenario = load_scenario(
        str(generated(tmp_path, f"generate: {{hosts: {hosts}, vms_per_host: 1, problems: false}}\n"))
    )
    client = scenario.client.model_copy(update={"transport": "basic"})
    return scenario.model_copy(update={"client": client}), list(scenario.hosts)[1]


def test_a_host_refusing_the_account_holds_back_no_other_host_once_the_dc_accepted(tmp_path: Path) -> None:
    scenario, refusing = refusing_one_host(tmp_path, 6)
    hosts = [InventoryHost(name, name.lower() + ".corp.example") for name in scenario.hosts]
    with Lab(scenario, LabTuning(https=True)) as lab:
        lab.wsman[refusing].options.basic_users = {}
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=1, transport="basic")
        facts = collect_inventory(hosts, options)
    refused = facts[refusing].whole_host_error
    assert refused is not None and refused.message.startswith(f"{refusing.lower()}.corp.example rejected the")
    assert refused.hint is not None and "the domain accepted this password" in refused.hint
    assert "allows Basic authentication" in refused.hint
    reachable = [name for name in scenario.hosts if name not in (refusing, "HV006")]
    assert all(facts[name].whole_host_error is None and facts[name].vms for name in reachable)


def test_slow_directory_binds_with_a_wrong_password_are_at_most_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each host's directory read tries the password at the DC under its own name at the gate:
    a DC slow to reject a wrong one lets one more read in after FIRST_LOGON_WAIT, not one more
    per wait (a name shared by every host's read counted all of them as one tester)."""
    binds: list[str] = []

    def slow_rejection(dns: object, domain: str, computer: str, *args: object) -> None:
        binds.append(computer)
        time.sleep(0.6)
        raise DirectoryError("the DC rejected the password", credentials_rejected=True)

    monkeypatch.setattr(parallel, "FIRST_LOGON_WAIT", 0.1)
    monkeypatch.setattr(parallel, "read_directory", slow_rejection)
    monkeypatch.setattr(parallel, "dns_facts", lambda *args: None)
    gate = parallel.CredentialGate()
    options = parallel.CollectOptions(username="admin@corp.example", password="wrong")
    jobs = [
        parallel._HostJob(
            f"hv{n}.corp.example",
            None,
            "source",
            options,
            parallel.Rendezvous([]),
            threading.Event(),
            lambda h, s: None,
            gate,
        )
        for n in range(1, 5)
    ]
    threads = [threading.Thread(target=job._read_tool_facts, args=(job._identity(None),)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(binds) <= parallel.MOST_TESTERS, binds


def test_a_second_account_with_a_wrong_password_costs_it_one_try_not_one_per_host(tmp_path: Path) -> None:
    """An inventory naming two accounts with one password, right for the lab's account and
    wrong for the other: the DC accepting the first says nothing of the second, so the
    second's hosts wait for its own verdict and its rejection holds the rest back."""
    scenario = load_scenario(str(generated(tmp_path, "generate: {hosts: 6, vms_per_host: 1, problems: false}\n")))
    names = list(scenario.hosts)
    with Lab(scenario) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=6)
        hosts = [
            InventoryHost(name, name.lower() + ".corp.example", user=None if n < 3 else "nobody@corp.example")
            for n, name in enumerate(names)
        ]
        facts = collect_inventory(hosts, options)
        winrm_failures = sum(server.stats.failed_logons for server in lab.wsman.values())
        ldap_failures = sum(server.directory.failed_binds for server in lab.ldap.values())
    assert all(facts[name].whole_host_error is None for name in names[:3]), "the right account's hosts"
    assert all(facts[name].whole_host_error is not None for name in names[3:])
    assert winrm_failures + ldap_failures <= parallel.MOST_TESTERS, (winrm_failures, ldap_failures)


@pytest.mark.parametrize("dc_accepts", [True, False])
def test_a_host_refusing_before_the_dcs_verdict_holds_the_others_until_it(
    dc_accepts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host's HTTP 401 while a DC is still judging the password: the waiting hosts wait for
    the DC. Accepted, the host refused the account and the others go on; rejected, the
    password is wrong and none tries it."""
    monkeypatch.setattr(parallel, "FIRST_LOGON_WAIT", 0.0)
    gate = parallel.CredentialGate()
    assert gate.admit(f"{parallel.DIRECTORY_TESTER}corp.example:hv1") is None  # the DC's bind under way
    assert gate.admit("hv1") is None
    gate.rejected("hv1 answered HTTP 401", None)
    answers: list[str | None] = []
    waiting = threading.Thread(target=lambda: answers.append(gate.admit("hv2", threading.Event())))
    waiting.start()
    time.sleep(0.3)
    assert waiting.is_alive() and answers == [], "hv2 waits for the DC, neither refused nor let in"
    if dc_accepts:
        gate.accepted(by_domain=True)
    else:
        gate.rejected("the DC rejected the password", None, by_domain=True)
    waiting.join(5)
    assert answers == ([None] if dc_accepts else ["hv1 answered HTTP 401"])


SHAPES = [
    "fleet",
    "healthy",
    "hyperv-role-missing",
    "source-hosts-file-stale",
    "dc-in-another-site",
    "switch-missing-on-destination",
    "credssp-remote-start",
    "noisy-host",
]


def test_the_collectors_line_is_what_json_writes_for_it(tmp_path: Path) -> None:
    """The collector's line, written from each facts section's JSON made once with the facts,
    is ``json.dumps`` of the same document byte for byte: every host of scenarios with
    section errors, stale hosts files, other sites, missing roles and fleets, runs naming VMs,
    peers and events or none, and text beyond ASCII."""
    import json

    from lmpreflight.lab.hosts import LabHost, LabWorld

    odd = tmp_path / "odd.yaml"
    odd.write_text(
        'extends: healthy\nname: odd\nhosts: {HV02: {collapse_single_arrays: true, facts: {os: {caption: "Größe ☃ \\"q\\" \\\\"}}}}\n',
        encoding="utf-8",
    )
    runs = ["", "$LmpVmNames = @('HV001-VM02', 'Web01')\r\n$LmpPeerNames = @('hv02', 'HV01.corp.example')\r\n"]
    runs.append(runs[1] + "Invoke-LmpSection 'events'\r\n")
    taken = 0
    for reference in [*SHAPES, str(odd)]:
        scenario = load_scenario(reference)
        world = LabWorld(scenario, scenario.client.user)
        for name in scenario.hosts:
            for script in runs:
                document = LabHost(world, name).collector_document(script)
                assert world.collector_json(document) == json.dumps(document, ensure_ascii=False), (reference, name)
                taken += sum(value is world.facts(name).get(key) for key, value in document["sections"].items())
    assert taken > 100, "the sections' JSON made with the facts is what was written"
    assert "Größe ☃" in world.collector_json(LabHost(world, "HV02").collector_document(""))
