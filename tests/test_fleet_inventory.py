"""Inventories: Ansible's (through ansible-core), plain lists, CSV exports."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import pytest

from lmpreflight.errors import UserError
from lmpreflight.fleet.inventory import InventoryHost, load_inventory

ANSIBLE_INI = """\
[hyperv]
hv01 ansible_host=hv01.corp.example
hv02 ansible_host="{{ inventory_hostname }}.corp.example" ansible_port=5985
hv03.corp.example ansible_connection=psrp ansible_psrp_auth=kerberos ansible_psrp_protocol=http ansible_port=8080

[hyperv:vars]
ansible_connection=winrm
ansible_user=CORP\\hvadmin
ansible_winrm_transport=ntlm,kerberos

[branch]
hv09 ansible_host=10.1.2.9 ansible_winrm_transport=basic

[branch:vars]
ansible_connection=winrm

[linux]
web1 ansible_connection=ssh
"""

ANSIBLE_YAML = """\
all:
  children:
    site_a:
      hosts:
        hv01.corp.example:
        hv02.corp.example:
          ansible_user: CORP\\other
      vars:
        ansible_connection: winrm
        ansible_port: 5985
    site_b:
      hosts:
        hv11.corp.example:
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_list_with_comments(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.txt", "# drain targets\nhv01.corp.example\n\n  hv02.corp.example  # new\n")
    assert load_inventory(path) == [
        InventoryHost("hv01.corp.example", "hv01.corp.example"),
        InventoryHost("hv02.corp.example", "hv02.corp.example"),
    ]


def test_csv_export_with_its_own_column_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "export.csv",
        "ComputerName,IPAddress,Site,Transport\r\nHV01.corp.example,10.0.10.11,Paris,NTLM\r\nHV02,,Lyon;DR,\r\n,,,\r\n",
    )
    first, second = load_inventory(path)
    assert first == InventoryHost("HV01.corp.example", "10.0.10.11", transport="ntlm", groups=("Paris",))
    assert first.target == "HV01.corp.example"  # an IP address says nothing of the domain
    assert second == InventoryHost("HV02", "HV02", groups=("Lyon", "DR"))
    assert [h.name for h in load_inventory(path, limit="dr")] == ["HV02"]


def test_csv_without_a_name_column_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", "Owner,Rack\nbob,12\n")
    with pytest.raises(UserError, match=r"no host name column .*found Owner, Rack"):
        load_inventory(path)


def test_csv_bad_transport(tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", "name,transport\nhv01,negotiate\n")
    with pytest.raises(UserError, match="line 2: transport 'negotiate'"):
        load_inventory(path)


def test_duplicates_and_empty(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="HV01 is listed twice"):
        load_inventory(write(tmp_path, "a.txt", "hv01\nHV01\n"))
    with pytest.raises(UserError, match="no hosts are listed"):
        load_inventory(write(tmp_path, "b.txt", "# nothing yet\n"))
    with pytest.raises(UserError, match="no such file"):
        load_inventory(tmp_path / "missing.ini")


def test_ansible_ini_groups_templates_and_connection_variables(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", ANSIBLE_INI)
    group_vars = tmp_path / "group_vars"
    group_vars.mkdir()
    write(group_vars, "hyperv.yml", "ansible_winrm_server_cert_validation: ignore\n")
    hosts = {h.name: h for h in load_inventory(path, limit="hyperv")}
    assert hosts["hv01"] == InventoryHost(
        "hv01",
        "hv01.corp.example",
        user="CORP\\hvadmin",
        endpoint="https://hv01.corp.example:5986/wsman",  # Ansible's default: HTTPS on 5986
        transport="ntlm",
        verify=False,  # from group_vars/, which Ansible applies too
        groups=("hyperv",),
    )
    assert hosts["hv02"].address == "hv02.corp.example"  # the template rendered by Ansible
    assert hosts["hv02"].endpoint == "http://hv02.corp.example:5985/wsman"  # 5985 means HTTP
    assert hosts["hv03.corp.example"].endpoint == "http://hv03.corp.example:8080/wsman"
    assert hosts["hv03.corp.example"].transport == "kerberos"
    branch = load_inventory(path, limit="branch")
    assert branch == [
        InventoryHost("hv09", "10.1.2.9", endpoint="https://10.1.2.9:5986/wsman", transport="basic", groups=("branch",))
    ]
    assert branch[0].target == "hv09"


def test_ansible_host_patterns(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.yml", ANSIBLE_YAML)
    assert [h.name for h in load_inventory(path)] == ["hv01.corp.example", "hv02.corp.example", "hv11.corp.example"]
    site_a = load_inventory(path, limit="site_a:!hv01*")
    assert [(h.name, h.user, h.endpoint) for h in site_a] == [
        ("hv02.corp.example", "CORP\\other", "http://hv02.corp.example:5985/wsman")
    ]
    with pytest.raises(UserError, match="no hosts match --limit nowhere"):
        load_inventory(path, limit="nowhere")


def test_non_windows_connection_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", ANSIBLE_INI)
    with pytest.raises(UserError, match=r"web1 uses ansible_connection=ssh; .* --limit"):
        load_inventory(path)


def test_unparsable_ansible_inventory(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.yml", "all: [unclosed\n")
    with pytest.raises(UserError, match=r"--inventory .*hosts.yml"):
        load_inventory(path)


def test_missing_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_ansible(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ansible" or name.startswith("ansible."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ansible)
    for module in [m for m in sys.modules if m == "ansible" or m.startswith("ansible.")]:
        monkeypatch.delitem(sys.modules, module)
    with pytest.raises(UserError, match=r"needs ansible-core: pip install 'lmpreflight\[ansible\]'"):
        load_inventory(write(tmp_path, "hosts.ini", ANSIBLE_INI))
    # A plain list needs no Ansible at all.
    assert [h.name for h in load_inventory(write(tmp_path, "hosts.txt", "hv01\n"))] == ["hv01"]
