"""The lab's directory: its index answers every search exactly as a walk of the tree does,
its answers are the bytes ldaptor writes for them, and its DCs refuse writes."""

from __future__ import annotations

from typing import Any

import pytest
from ldaptor import ldapfilter
from ldaptor.entryhelpers import SearchByTreeWalkingMixin
from ldaptor.protocols import pureber, pureldap
from ldaptor.protocols.ldap.ldapserver import LDAPServerConnectionLostException

from lmpreflight.lab.environment import Lab
from lmpreflight.lab.ldap_index import (
    SEARCH_DONE,
    ReadOnlyIndexedServer,
    encoded_entry,
    encoded_result_entry,
    encoded_values,
)
from lmpreflight.lab.ldap_server import DomainDirectory, build_tree, root_dse
from lmpreflight.lab.scenario import load_scenario

SUBTREE, ONE_LEVEL, BASE = (
    pureldap.LDAP_SCOPE_wholeSubtree,
    pureldap.LDAP_SCOPE_singleLevel,
    pureldap.LDAP_SCOPE_baseObject,
)
MIGRATION = "Microsoft Virtual System Migration Service"
FILTERS = [
    # What the collector asks, as it asks it and in other cases (AD matches these case-insensitively).
    "(&(objectClass=computer)(sAMAccountName=HV003$))",
    "(&(objectclass=COMPUTER)(samaccountname=hv003$))",
    "(&(objectClass=computer)(sAMAccountName=HV01$))",
    f"(servicePrincipalName={MIGRATION}/HV003)",
    f"(SERVICEPRINCIPALNAME={MIGRATION.upper()}/hv003.corp.example)",
    f"(servicePrincipalName={MIGRATION}/hv02.child2.corp.example)",
    f"(servicePrincipalName={MIGRATION}/hv02.corp.example)",
    "(objectClass=trustedDomain)",
    "(&(objectClass=user)(sAMAccountName=hvadmin))",
    "(&(objectClass=user)(sAMAccountName=HVADMIN))",
    # Narrowed by one part, the rest still tested on each candidate.
    "(&(objectClass=computer)(!(userAccountControl=4096)))",
    "(&(sAMAccountName=HV0*)(objectClass=computer))",
    "(|(sAMAccountName=HV001$)(sAMAccountName=hv002$)(cn=System))",
    "(msDS-AllowedToDelegateTo=cifs/HV004)",
    # The collector's batched searches, matched from the index alone.
    "(&(objectClass=computer)(|(sAMAccountName=HV001$)(sAMAccountName=hv003$)(sAMAccountName=NOBODY$)))",
    f"(|(servicePrincipalName={MIGRATION}/HV001)(servicePrincipalName={MIGRATION.lower()}/hv002.corp.example)"
    "(servicePrincipalName=HOST/nowhere))",
    "(|(&(objectClass=computer)(cn=HV002))(cn=System)(&(objectClass=user)(objectClass=trustedDomain)))",
    "(sAMAccountName=nobody)",
    "(noSuchAttribute=x)",
    # Not narrowed: walked as before.
    "(objectClass=*)",
    "(sAMAccountName=HV0*)",
    "(|(sAMAccountName=HV001$)(objectClass=*))",
    "(!(objectClass=computer))",
    "(userAccountControl>=4096)",
]


def _as_received(text: str) -> Any:
    """The filter as the DC reads it off the wire (its values as bytes)."""
    context = pureldap.LDAPBERDecoderContext(fallback=pureber.BERDecoderContext())
    decoded, _ = pureber.berDecodeObject(
        pureldap.LDAPBERDecoderContext_Filter(fallback=context, inherit=context), ldapfilter.parseFilter(text).toWire()
    )
    return decoded


def _directories(scenario_name: str, tmp_path: Any = None) -> list[DomainDirectory]:
    if tmp_path is not None:
        path = tmp_path / "estate.yaml"
        path.write_text("extends: fleet\nname: estate\ngenerate: {hosts: 30, vms_per_host: 1}\n", encoding="utf-8")
        scenario_name = str(path)
    lab = Lab(load_scenario(scenario_name))
    domains = lab.scenario.domains
    roots = [name for name, domain in domains.items() if (domain.forest or name) == name]
    return [lab.directory(name) for name in domains] + [lab.global_catalog(root) for root in roots]


def _walk(base: Any, search: Any, scope: int) -> list[str]:
    """What ldaptor's own tree walk answers."""
    found: list[str] = []
    SearchByTreeWalkingMixin.search(
        base, filterObject=search, scope=scope, callback=lambda e: found.append(e.dn.getText())
    )
    return found


def _indexed(base: Any, search: Any, scope: int) -> list[str]:
    found: list[str] = []
    base.search(filterObject=search, scope=scope, callback=lambda e: found.append(e.dn.getText()))
    return found


def _bases(root: Any) -> list[Any]:
    """Every entry with children, and one without."""
    walked: list[Any] = []
    root.subtree(callback=walked.append)
    parents = [entry for entry in walked if entry.children().result]
    return [*parents, next(entry for entry in walked if not entry.children().result)]


@pytest.mark.parametrize("scenario", ["fleet", "spn-duplicate-in-another-domain", "untrusted-domains"])
def test_an_indexed_search_answers_exactly_what_the_walk_does(scenario: str, tmp_path: Any) -> None:
    directories = _directories(scenario, tmp_path if scenario == "fleet" else None)
    compared = 0
    for directory in directories:
        root = build_tree(directory)
        for base in _bases(root):
            for text in FILTERS:
                search = _as_received(text)
                for scope in (SUBTREE, ONE_LEVEL, BASE):
                    assert _indexed(base, search, scope) == _walk(base, search, scope), (directory.dns_name, text)
                    compared += 1
    assert compared >= len(FILTERS) * 3 * 4


def test_the_index_narrows_the_collectors_searches_to_their_answers(tmp_path: Any) -> None:
    directory = _directories("fleet", tmp_path)[0]
    root = build_tree(directory)
    index = root.index
    account = _as_received("(&(objectClass=computer)(sAMAccountName=hv007$))")
    spn = _as_received(f"(servicePrincipalName={MIGRATION}/HV007.corp.example)")
    for search in (account, spn):
        candidates, exact = index.narrowed(search)
        assert candidates is not None and len(candidates) == 1 and exact == {id(candidates[0])}
        assert _indexed(root, search, SUBTREE) == ["CN=HV007,OU=Hyper-V,DC=corp,DC=example"]
    assert index.narrowed(_as_received("(objectClass=*)")) == (None, None)
    batched = _as_received("(&(objectClass=computer)(|(sAMAccountName=hv007$)(sAMAccountName=HV009$)))")
    walked = _walk(root, batched, SUBTREE)
    assert len(walked) == 2 and _indexed(root, batched, SUBTREE) == walked
    candidates, exact = index.narrowed(batched)
    assert exact == {id(entry) for entry in candidates or []}
    for partly_indexed in ("(&(objectClass=computer)(!(cn=HV007)))", "(|(cn=HV007)(cn=HV0*))"):
        assert index.narrowed(_as_received(partly_indexed))[1] is None
    assert index.narrowed(ldapfilter.parseFilter("(sAMAccountName=hv007$)")) == (None, None)  # text, not bytes
    # A binary assertion (not UTF-8) is left to the walk, which decides how it fails.
    binary = pureldap.LDAPFilter_equalityMatch(
        attributeDesc=pureldap.LDAPAttributeDescription(b"objectSid"),
        assertionValue=pureldap.LDAPAssertionValue(b"\x01\x05\xff\xfe"),
    )
    assert index.narrowed(binary) == (None, None)


def test_the_lab_dc_refuses_writes() -> None:
    from ldap3 import MODIFY_REPLACE, Connection, Server

    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        port = lab.endpoints.ldap["corp.example"]
        connection = Connection(Server("127.0.0.1", port=port), user="CORP\\hvadmin", password=scenario.client.password)
        assert connection.bind()
        dn = "CN=HV01,OU=Hyper-V,DC=corp,DC=example"
        assert not connection.modify(dn, {"msDS-AllowedToDelegateTo": [(MODIFY_REPLACE, ["cifs/evil"])]})
        assert connection.result["description"] == "insufficientAccessRights"
        assert not connection.add("CN=EVIL,OU=Hyper-V,DC=corp,DC=example", "computer", {"sAMAccountName": "EVIL$"})
        assert not connection.delete(dn)
        assert not connection.modify_dn(dn, "CN=HV99")
        assert connection.search(
            "DC=corp,DC=example", "(sAMAccountName=HV01$)", attributes=["msDS-AllowedToDelegateTo"]
        )
        assert "cifs/evil" not in connection.entries[0]["msDS-AllowedToDelegateTo"].values
        assert not connection.search("DC=corp,DC=example", "(sAMAccountName=EVIL$)")
        connection.unbind()


COLLECTOR_ATTRIBUTES = [
    b"distinguishedName",
    b"sAMAccountName",
    b"dNSHostName",
    b"servicePrincipalName",
    b"msDS-AllowedToDelegateTo",
    b"msDS-AllowedToActOnBehalfOfOtherIdentity",
    b"objectSid",
    b"userAccountControl",
]
"""What the collector asks of a computer account (its values partly binary)."""


def test_a_result_entry_is_encoded_as_ldaptor_encodes_it(tmp_path: Any) -> None:
    root = build_tree(_directories("fleet", tmp_path)[0])
    walked: list[Any] = []
    root.subtree(callback=walked.append)
    for entry in walked:
        for requested in (
            [],
            [b"*"],
            [b"sAMAccountName", b"noSuchAttribute", b"SERVICEPRINCIPALNAME"],
            COLLECTOR_ATTRIBUTES,
            [name.upper() for name in COLLECTOR_ATTRIBUTES] + [b"samaccountname"],
        ):
            if requested and b"*" not in requested:
                attributes = [(name, entry.get(name)) for name in requested if name in entry]
            else:
                attributes = entry.items()
            expected = pureldap.LDAPSearchResultEntry(objectName=entry.dn.getText(), attributes=attributes).toWire()
            assert encoded_result_entry(entry, requested).toWire() == expected


def test_an_entry_holding_a_value_twice_in_different_cases_is_found_once() -> None:
    from lmpreflight.lab.ldap_server import DirectoryEntry

    spns: list[str | bytes] = ["HOST/hv01.corp.example", "host/HV01.CORP.EXAMPLE", "WSMAN/hv01"]
    entry = DirectoryEntry("CN=HV01,OU=Hyper-V,DC=corp,DC=example", {"servicePrincipalName": spns})
    root = build_tree(DomainDirectory("corp.example", "CORP", "dc01.corp.example", 0.0, {}, [entry]))
    search = _as_received("(servicePrincipalName=host/hv01.corp.example)")
    assert _indexed(root, search, SUBTREE) == _walk(root, search, SUBTREE) == [entry.dn]


def test_the_root_dse_is_encoded_as_ldaptor_encodes_it() -> None:
    directory = _directories("spn-duplicate-in-another-domain")[0]
    listed = root_dse(directory)
    ours = encoded_entry("", [(name, encoded_values(values)) for name, values in listed]).toWire()
    assert ours == pureldap.LDAPSearchResultEntry(objectName="", attributes=listed).toWire()
    assert SEARCH_DONE.toWire() == pureldap.LDAPSearchResultDone(resultCode=0).toWire()


class _Written:
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)


MESSAGE_IDS = [1, 2, 127, 128, 255, 256, 32767, 32768, 65535, 65536, 2**31 - 1]


def test_a_message_is_wrapped_as_ldaptor_wraps_it(tmp_path: Any) -> None:
    """Every kind of answer the lab's DC sends, at message IDs on each side of a length change."""
    root = build_tree(_directories("fleet", tmp_path)[0])
    walked: list[Any] = []
    root.subtree(callback=walked.append)
    account = next(entry for entry in walked if b"msDS-AllowedToDelegateTo" in entry)
    answers = [
        encoded_result_entry(account, COLLECTOR_ATTRIBUTES),
        SEARCH_DONE,
        pureldap.LDAPSearchResultDone(resultCode=32, errorMessage="0000208D: NameErr: DSID-03100288"),
        pureldap.LDAPBindResponse(resultCode=14, serverSaslCreds=b"\x01" * 300),
        pureldap.LDAPBindResponse(resultCode=49, errorMessage="8009030C: LdapErr: DSID-0C090569, data 52e"),
        pureldap.LDAPStartTLSResponse(resultCode=0),
        pureldap.LDAPModifyResponse(resultCode=50, errorMessage="00002098: SecErr: DSID-03150F94"),
    ]
    server = ReadOnlyIndexedServer()
    server.connected, server.transport = 1, _Written()
    for message_id in MESSAGE_IDS:
        for answer in answers:
            server.queue(message_id, answer)
            assert server.transport.data.pop() == pureldap.LDAPMessage(answer, id=message_id).toWire()
    server.connected = 0
    with pytest.raises(LDAPServerConnectionLostException):
        server.queue(1, SEARCH_DONE)
